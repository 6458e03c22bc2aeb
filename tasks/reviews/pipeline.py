"""The review-request pipeline's entry points: an event, a preview, the business defaults.

- `plan_from_event`: a Jobber webhook's topic + itemId -> fetch, match the trigger, map, plan (one row).
- `preview`: render what a job's request would say, without recording or sending anything.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine

from tasks.jobber.client import JobberClient
from tasks.reviews.jobber import business_timezone, fetch_job, resolve_event
from tasks.reviews.planning import Decision, plan_request
from tasks.reviews.rules.channels import choose_channels
from tasks.reviews.rules.mapping import context_from_job
from tasks.reviews.rules.rendering import PREVIEW_TOKEN, Branding, RenderedMessages, render_messages
from tasks.reviews.rules.timing import resolve_zone, send_time
from tasks.reviews.rules.triggers import ItemFetch
from tasks.reviews.settings import ReviewSettings
from tasks.settings import Settings

_zones: dict[int, str | None] = {}
_zones_lock = threading.Lock()


def branding_for(settings: ReviewSettings, app: Settings) -> Branding:
    """The business as messages name it: the flow's parameters first, then the environment's settings."""
    return Branding(
        public_url=app.public_url,
        business_name=settings.business_name or app.business_name,
        business_postal_address=settings.business_postal_address or app.business_postal_address,
    )


def sender_defaults(app: Settings) -> dict[str, str | None]:
    return {
        "sms_sender": app.twilio_messaging_service_sid or app.twilio_from_number,
        "email_from": app.smtp_from,
    }


def account_key_of(client: JobberClient) -> str:
    """The account a client works for (JOBBER_ACCOUNT_ID, else "default"): the dedupe key's first half."""
    return str(getattr(client.tokens, "account_key", None) or "default")


def business_zone_of(client: JobberClient) -> str | None:
    """The connected user's zone, asked once per client object."""
    with _zones_lock:
        if id(client) in _zones:
            return _zones[id(client)]
    zone = business_timezone(client)
    with _zones_lock:
        _zones[id(client)] = zone
    return zone


def plan_from_event(
    client: JobberClient,
    engine: Engine,
    *,
    topic: str,
    item_id: str,
    settings: ReviewSettings,
    branding: Branding,
    occurred_at: str | None = None,
    source: str = "webhook",
    now: datetime | None = None,
    fetch: ItemFetch | None = None,
) -> Decision:
    """One Jobber event -> a recorded decision (planned, skipped with a reason, duplicate, or ignored).
    `fetch` answers items another part of the same unit of work already fetched (tasks/events/)."""
    match = resolve_event(
        client, trigger=settings.trigger, topic=topic, item_id=item_id, occurred_at=occurred_at, fetch=fetch
    )
    if not match.matched or match.context is None:
        return Decision(f"{topic} {item_id}", "", "ignored", reason=match.reason, source=source)
    return plan_request(
        engine,
        context=match.context,
        settings=settings,
        branding=branding,
        account_key=account_key_of(client),
        trigger_item_id=match.trigger_item_id,
        trigger_at=match.trigger_at,
        source=source,
        now=now,
        business_zone=lambda: business_zone_of(client),
    )


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
    from datetime import UTC

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


def decision_rows(decisions: list[Decision]) -> list[dict[str, Any]]:
    return [d.row() for d in decisions]
