"""Review-request messages from Jinja templates, rendered in a sandbox. Pure: no I/O but reading templates.

- Templates come from `templates/reviews/` (the defaults) with a contractor's `templates_dir` in front, so
  a file of the same name there overrides the default.
- The environment is Jinja's `SandboxedEnvironment` with `StrictUndefined`, and every template is checked
  before use: any attribute or key that starts with an underscore (`''.__class__.__mro__`, `x['__globals__']`)
  is refused with `TemplateRefused`, and so is whatever the sandbox itself blocks. The variables are plain
  strings, numbers and lists, so a template has nothing of Python's to reach for.
- HTML email is autoescaped (a client named `<script>` is shown, not run); SMS and plain text are not.
- SMS are measured in segments (GSM-7 or UCS-2); more than `MAX_SMS_SEGMENTS` is refused.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jinja2 import FileSystemLoader, StrictUndefined, TemplateNotFound, TemplateSyntaxError, UndefinedError, nodes
from jinja2.exceptions import SecurityError
from jinja2.sandbox import SandboxedEnvironment

from tasks.errors import ReviewTemplateError, TemplateRefused
from tasks.phone import sms_segments
from tasks.reviews.rules.mapping import ReviewContext
from tasks.reviews.settings import ReviewSettings

if TYPE_CHECKING:
    from tasks.settings import Settings

DEFAULT_TEMPLATES_DIR = Path(__file__).resolve().parents[3] / "templates" / "reviews"
MAX_SMS_SEGMENTS = 3
MAX_RENDERED_CHARS = 20_000
PREVIEW_TOKEN = "preview-0000000000000000"  # noqa: S105 - not a secret; as long as a real click token, so segment counts are honest


@dataclass(frozen=True)
class Branding:
    """What the messages say about the business, resolved from ReviewSettings and the app settings."""

    public_url: str
    business_name: str
    business_postal_address: str | None = None


@dataclass(frozen=True)
class RenderedSms:
    body: str
    segments: int
    encoding: str


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    text: str
    html: str


@dataclass(frozen=True)
class RenderedMessages:
    """What one step (the first message or a follow-up) would send, per channel."""

    sms: RenderedSms | None
    email: RenderedEmail | None


def _autoescape(name: str | None) -> bool:
    return bool(name) and ".htm" in str(name).lower()


class _Environment(SandboxedEnvironment):
    """The sandbox, plus a refusal of every underscore attribute even where Jinja would allow it."""

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        if attr.startswith("_"):
            return False
        return bool(super().is_safe_attribute(obj, attr, value))


_lock = threading.Lock()


@lru_cache(maxsize=32)
def _environment(templates_dir: str | None) -> _Environment:
    search = [str(Path(templates_dir).expanduser())] if templates_dir else []
    search.append(str(DEFAULT_TEMPLATES_DIR))
    return _Environment(
        loader=FileSystemLoader(search),
        undefined=StrictUndefined,
        autoescape=_autoescape,
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=True,
    )


def _check_source(env: _Environment, name: str) -> None:
    """Refuse a template that names private attributes or keys, before it ever runs."""
    assert env.loader is not None
    try:
        source, _, _ = env.loader.get_source(env, name)
    except TemplateNotFound:
        raise ReviewTemplateError(f"template {name!r} was not found", template=name) from None
    _check_text(env, name, source)


@lru_cache(maxsize=256)
def _check_text(env: _Environment, name: str, source: str) -> None:
    """The check proper, once per distinct template text (a refusal raises, so it is never cached)."""
    try:
        tree = env.parse(source, name=name)
    except TemplateSyntaxError as exc:
        raise ReviewTemplateError(f"template {name!r} line {exc.lineno}: {exc.message}", template=name) from None
    for node in tree.find_all((nodes.Getattr, nodes.Getitem, nodes.Name)):
        names: list[str] = []
        if isinstance(node, nodes.Getattr):
            names.append(node.attr)
        elif isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const) and isinstance(node.arg.value, str):
            names.append(node.arg.value)
        elif isinstance(node, nodes.Name):
            names.append(node.name)
        for item in names:
            if item.startswith("_"):
                raise TemplateRefused(
                    f"template {name!r} uses {item!r}: names starting with '_' are not allowed in templates",
                    template=name,
                )


def render_template(name: str, variables: Mapping[str, Any], *, templates_dir: str | None = None) -> str:
    """Render one template with `variables`; every problem is a ReviewTemplateError naming the template."""
    with _lock:
        env = _environment(templates_dir)
    _check_source(env, name)
    try:
        text = env.get_template(name).render(dict(variables))
    except SecurityError as exc:
        raise TemplateRefused(f"template {name!r} was refused by the sandbox: {exc}", template=name) from None
    except UndefinedError as exc:
        raise ReviewTemplateError(f"template {name!r}: {exc.message}", template=name) from None
    except TemplateSyntaxError as exc:
        raise ReviewTemplateError(f"template {name!r} line {exc.lineno}: {exc.message}", template=name) from None
    except (TypeError, ValueError, ArithmeticError, OverflowError) as exc:
        raise ReviewTemplateError(f"template {name!r} failed: {exc}", template=name) from None
    if len(text) > MAX_RENDERED_CHARS:
        raise ReviewTemplateError(f"template {name!r} rendered {len(text)} characters (limit {MAX_RENDERED_CHARS})")
    return text


def template_variables(
    context: ReviewContext,
    branding: Branding,
    *,
    review_url: str,
    unsubscribe_url: str | None = None,
    follow_up: int = 0,
) -> dict[str, Any]:
    """The variables every template sees (names follow the Make.com guide's mapping)."""
    technicians = list(context.technicians)
    return {
        "first_name": context.client_first_name,
        "customer_name": context.client_name,
        "last_name": context.client_last_name,
        "job_title": context.job_title,
        "job_number": context.job_number,
        "job_total": context.job_total,
        "technician": technicians[0] if technicians else None,
        "technicians": technicians,
        "property_address": context.property_address,
        "invoice_number": context.invoice_number,
        "invoice_total": context.invoice_total,
        "review_url": review_url,
        "unsubscribe_url": unsubscribe_url,
        "business_name": branding.business_name,
        "business_postal_address": branding.business_postal_address,
        "follow_up": follow_up,
    }


def render_sms(variables: Mapping[str, Any], settings: ReviewSettings) -> RenderedSms:
    name = settings.follow_up_sms_template if variables.get("follow_up") else settings.sms_template
    body = render_template(name, variables, templates_dir=settings.templates_dir).strip()
    if not body:
        raise ReviewTemplateError(f"template {name!r} rendered an empty SMS", template=name)
    segments, encoding = sms_segments(body)
    if segments > MAX_SMS_SEGMENTS:
        raise ReviewTemplateError(
            f"template {name!r} renders an SMS of {segments} segments ({encoding}, {len(body)} characters); "
            f"the limit is {MAX_SMS_SEGMENTS}. Shorten it"
            + (" or avoid characters outside GSM-7 (emoji, curly quotes)" if encoding == "UCS-2" else ""),
            template=name,
        )
    return RenderedSms(body=body, segments=segments, encoding=encoding)


def render_email(variables: Mapping[str, Any], settings: ReviewSettings) -> RenderedEmail:
    subject = " ".join(
        render_template(settings.email_subject_template, variables, templates_dir=settings.templates_dir).split()
    )
    text = render_template(settings.email_text_template, variables, templates_dir=settings.templates_dir).strip()
    html = render_template(settings.email_html_template, variables, templates_dir=settings.templates_dir).strip()
    if not subject:
        raise ReviewTemplateError("the email subject rendered empty", template=settings.email_subject_template)
    return RenderedEmail(subject=subject, text=text + "\n", html=html + "\n")


def click_url(public_url: str, token: str) -> str:
    return f"{public_url.rstrip('/')}/r/{token}"


def unsubscribe_url(public_url: str, token: str) -> str:
    return f"{public_url.rstrip('/')}/u/{token}"


def render_messages(
    context: ReviewContext,
    settings: ReviewSettings,
    branding: Branding,
    *,
    token: str,
    channels: tuple[str, ...],
    follow_up: int = 0,
) -> RenderedMessages:
    """Render what a step sends on each of `channels` ("sms", "email")."""
    variables = template_variables(
        context,
        branding,
        review_url=click_url(branding.public_url, token),
        unsubscribe_url=unsubscribe_url(branding.public_url, token),
        follow_up=follow_up,
    )
    return RenderedMessages(
        sms=render_sms(variables, settings) if "sms" in channels else None,
        email=render_email(variables, settings) if "email" in channels else None,
    )


def branding_for(settings: ReviewSettings, app: Settings) -> Branding:
    """The business as messages name it: the flow's parameters first, then the environment's settings."""
    return Branding(
        public_url=app.public_url,
        business_name=settings.business_name or app.business_name,
        business_postal_address=settings.business_postal_address or app.business_postal_address,
    )
