"""What a contractor chooses about review requests: one pydantic model, the deployments' `settings` parameter.

Every flow that plans review requests takes a `ReviewSettings`; Prefect validates it against the
deployment's parameter schema (`enforce_parameter_schema: true`), so a typo in prefect.yaml or in the
Prefect UI is refused with the field's name before any run starts. Switching the trigger or the channel
is a parameter change, nothing else.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import time
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from tasks.reviews.rules.timezones import valid_zone

Trigger = Literal["job_closed", "visit_completed", "invoice_created", "invoice_paid"]
ChannelMode = Literal["sms", "email", "both", "sms_then_email"]

TRIGGERS: tuple[Trigger, ...] = ("job_closed", "visit_completed", "invoice_created", "invoice_paid")

EMAIL_ADDRESS = re.compile(r"^[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+$")
_E164 = re.compile(r"^\+[1-9]\d{6,14}$")
_MESSAGING_SERVICE = re.compile(r"^MG[0-9a-fA-F]{32}$")
_TEMPLATE_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")


def optional_text(value: str | None, valid: Callable[[str], object], problem: str) -> str | None:
    """A field validator's answer for an optional text: None when it is empty, `value` when `valid(value)`
    holds, else ValueError(problem) (pydantic reports it under the field's name)."""
    if not value:
        return None
    if not valid(value):
        raise ValueError(problem)
    return value


def _bare_address(address: str) -> str:
    """ "Name <reviews@example.com>" -> "reviews@example.com"; a bare address as it is."""
    return address[address.find("<") + 1 : address.rfind(">")] if "<" in address else address


# prefect.yaml ships with https://g.page/r/YOUR-PLACE-ID/review: refusing it means no customer ever gets a dead link.
PLACEHOLDER_LINK_MARK = "YOUR-PLACE-ID"


class ReviewSettings(BaseModel):
    """A contractor's review-request choices. Only `review_link` is required."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    trigger: Trigger = Field(
        default="job_closed",
        description="What starts a request: job_closed (Jobber's JOB_CLOSED, 'job completed'), visit_completed, "
        "invoice_created or invoice_paid.",
    )
    channels: ChannelMode = Field(
        default="sms_then_email",
        description="sms, email, both, or sms_then_email (email only when there is no SMS-capable phone).",
    )
    delay_minutes: int = Field(default=120, ge=0, le=60 * 24 * 30, description="Wait after the trigger (0 = now).")
    quiet_hours_enabled: bool = Field(default=True, description="Hold messages outside lawful hours.")
    quiet_hours_start: time = Field(default=time(21, 0), description="No SMS from this local time ...")
    quiet_hours_end: time = Field(default=time(9, 0), description="... until this local time (recipient's zone).")
    quiet_hours_for_email: bool = Field(default=False, description="Also hold emails during quiet hours.")
    timezone: str | None = Field(
        default=None,
        description="The business's IANA time zone, used when a property's address does not give one "
        "(default: the connected Jobber user's zone, else UTC).",
    )
    cooldown_days: int = Field(default=180, ge=0, le=3650, description="At most one request per client per period.")
    follow_ups: int = Field(default=1, ge=0, le=2, description="Reminders after the first message (0-2).")
    follow_up_after_days: int = Field(default=3, ge=1, le=60, description="Days between messages.")
    review_link: str = Field(description="Where customers leave the review (Google, Facebook, ...): an http(s) URL.")
    business_name: str | None = Field(default=None, max_length=120, description="Default: BUSINESS_NAME.")
    business_postal_address: str | None = Field(
        default=None, max_length=300, description="Email footer (CAN-SPAM). Default: BUSINESS_POSTAL_ADDRESS."
    )
    sender: str | None = Field(
        default=None,
        description="SMS sender: an E.164 number or a Twilio Messaging Service SID (MG...). Default: settings.",
    )
    email_from: str | None = Field(default=None, description="From address for emails. Default: SMTP_FROM.")
    sms_template: str = "sms.txt.j2"
    follow_up_sms_template: str = "sms_follow_up.txt.j2"
    email_subject_template: str = "email_subject.txt.j2"
    email_text_template: str = "email.txt.j2"
    email_html_template: str = "email.html.j2"
    templates_dir: str | None = Field(
        default=None, description="A folder whose templates override the defaults of templates/reviews/ by name."
    )
    exclude_tag: str | None = Field(default="no-review", description="Clients with this tag never get a request.")
    exclude_archived_clients: bool = True
    respect_jobber_review_flag: bool = Field(
        default=True, description="Skip jobs/invoices whose Jobber 'allow review request' switch is off."
    )
    minimum_total: float = Field(default=0.0, ge=0, description="Skip jobs (or invoices) below this total.")
    max_trigger_age_days: int = Field(
        default=14, ge=1, le=365, description="Ignore triggers older than this (a first poll over old jobs)."
    )
    dry_run: bool = Field(default=False, description="Render and record, send nothing.")

    @field_validator("review_link")
    @classmethod
    def _review_link(cls, value: str) -> str:
        value = value.strip()
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc or " " in value:
            raise ValueError("review_link must be an http(s) URL such as https://g.page/r/XXXX/review")
        if PLACEHOLDER_LINK_MARK in value.upper():
            raise ValueError(
                "review_link is still the example from prefect.yaml: set it to your own review page "
                "(Google Business Profile > Ask for reviews) before review requests can go out"
            )
        return value

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str | None) -> str | None:
        if value is not None and valid_zone(value) is None:
            raise ValueError(f"{value!r} is not an IANA time zone such as America/Chicago")
        return value

    @field_validator("sender", "email_from", "exclude_tag", mode="before")
    @classmethod
    def _stripped(cls, value: object) -> object:
        """Surrounding spaces are dropped, and a blank text is no value (None)."""
        return (value.strip() or None) if isinstance(value, str) else value

    @field_validator("sender")
    @classmethod
    def _sender(cls, value: str | None) -> str | None:
        return optional_text(
            value,
            lambda sender: _E164.match(sender) or _MESSAGING_SERVICE.match(sender),
            "sender must be an E.164 number (+15125550100) or a Messaging Service SID (MG + 32 hex)",
        )

    @field_validator("email_from")
    @classmethod
    def _email_from(cls, value: str | None) -> str | None:
        return optional_text(
            value,
            lambda address: EMAIL_ADDRESS.match(_bare_address(address)),
            "email_from must be an address such as reviews@example.com or 'Name <reviews@...>'",
        )

    @field_validator(
        "sms_template", "follow_up_sms_template", "email_subject_template", "email_text_template", "email_html_template"
    )
    @classmethod
    def _template_name(cls, value: str) -> str:
        if not _TEMPLATE_NAME.match(value) or value.startswith("."):
            raise ValueError("a template name is a file name in the templates folder, such as sms.txt.j2")
        return value

    @field_validator("templates_dir")
    @classmethod
    def _templates_dir(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        if not Path(value).expanduser().is_dir():
            raise ValueError(f"templates_dir {value!r} is not a folder")
        return value

    @model_validator(mode="after")
    def _quiet_hours(self) -> ReviewSettings:
        if self.quiet_hours_start == self.quiet_hours_end:
            # Equal bounds would mean "always quiet" or "never": make the contractor say which.
            raise ValueError(
                "quiet_hours_start and quiet_hours_end are equal; set quiet_hours_enabled: false to send at any hour"
            )
        return self

    @property
    def sends_sms(self) -> bool:
        return self.channels != "email"

    @property
    def sends_email(self) -> bool:
        return self.channels != "sms"


def format_validation_error(exc: Exception) -> str:
    """A pydantic ValidationError as one line per field: "review_link: review_link must be an http(s) URL"."""
    errors = getattr(exc, "errors", None)
    if not callable(errors):
        return str(exc)
    lines = []
    for error in errors():
        where = ".".join(str(part) for part in error.get("loc", ())) or "settings"
        lines.append(f"{where}: {error.get('msg', '')}")
    return "; ".join(lines)
