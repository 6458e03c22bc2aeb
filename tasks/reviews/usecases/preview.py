"""Preview: render what a job's review request would say, without recording or sending anything
(`jobberflow reviews preview`): the same channel choice, send time and rendering as planning."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from tasks.jobber.client import JobberClient
from tasks.reviews.jobber import business_zone_of, fetch_job
from tasks.reviews.rules.channels import choose_channels
from tasks.reviews.rules.mapping import context_from_job
from tasks.reviews.rules.rendering import PREVIEW_TOKEN, Branding, RenderedMessages, branding_for, render_messages
from tasks.reviews.rules.timing import resolve_zone, send_time
from tasks.reviews.settings import ReviewSettings


@dataclass(frozen=True)
class Preview:
    """What a job's review request would be: recipient, channels, time, and the rendered messages."""

    job: str
    client: str
    channels: tuple[str, ...]
    problems: tuple[str, ...]
    timezone: str
    send_at_if_closed_now: datetime
    messages: RenderedMessages

    def as_text(self) -> str:
        lines = [
            f"{self.job} -> {self.client}",
            f"channels: {', '.join(self.channels) or 'none'}"
            + (f" ({'; '.join(self.problems)})" if self.problems else ""),
            f"would send at: {self.send_at_if_closed_now.astimezone(resolve_zone(self.timezone)):%Y-%m-%d %H:%M} "
            f"{self.timezone} (if triggered now)",
        ]
        if self.messages.sms:
            sms = self.messages.sms
            lines += ["", f"SMS ({sms.segments} segment(s), {sms.encoding}):", sms.body]
        if self.messages.email:
            lines += ["", f"Email subject: {self.messages.email.subject}", "", self.messages.email.text]
        return "\n".join(lines)


def preview(
    job_id: str,
    settings: ReviewSettings,
    *,
    client: JobberClient | None = None,
    branding: Branding | None = None,
    now: datetime | None = None,
) -> Preview:
    """Render the request a job would get, without recording or sending anything (`jobberflow reviews preview`).

    Raises ReviewTemplateError (or TemplateRefused) when a template is broken, unsafe, or renders an SMS over
    3 segments; JobberNotFound when the job does not exist.
    """

    from tasks.errors import JobberNotFound

    if client is None:
        from tasks.jobber.factory import get_jobber_client

        client = get_jobber_client()
    if branding is None:
        from tasks.settings import get_settings

        branding = branding_for(settings, get_settings())
    job = fetch_job(client, job_id)
    if job is None:
        raise JobberNotFound(f"Jobber has no job {job_id!r} (or it belongs to another account)")
    context = context_from_job(job)
    choice = choose_channels(context, settings)
    # Render every channel the settings use, so a broken template shows even when this client lacks it.
    shown: tuple[str, ...] = tuple(c for c in ("sms", "email") if (c == "sms" and settings.sends_sms) or
                                   (c == "email" and settings.sends_email))  # fmt: skip
    messages = render_messages(context, settings, branding, token=PREVIEW_TOKEN, channels=shown)
    zone = resolve_zone(context.timezone, settings.timezone, business_zone_of(client))
    now = now or datetime.now(UTC)
    send_at = send_time(settings, choice.channels, trigger_at=now, now=now, zone=zone)
    return Preview(
        context.label(), context.short_client_name, choice.channels, choice.problems, zone.key, send_at, messages
    )
