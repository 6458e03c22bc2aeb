"""The Make.com migration path: the fields an existing scenario already maps -> a review request.

Existing scenarios POST what they mapped from Jobber (customer name, phone, email, technician, job title
or type, job id) to `/api/webhooks/trigger-review`. The request goes through the same planning and
dedupe as the webhook path (source "make"): a job the webhook already planned is answered as a
duplicate, and the reverse.

The recipient's time zone (for quiet hours) is, in order: the request's `timezone`, its `state`/`country`,
the `timezone` review setting, the account's zone (the zone of the account's Jobber users, from the
synced `users` table, else the connected Jobber user's, asked once), and last the phone number's region
(`zone_for_phone`). UTC only when none of these says anything.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Callable
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from sqlalchemy import Engine, select

from tasks.jobber.models import parse_time
from tasks.phone import to_e164
from tasks.reviews.decision import Decision
from tasks.reviews.rules.mapping import ReviewContext, split_name
from tasks.reviews.rules.rendering import Branding
from tasks.reviews.rules.timezones import valid_zone, zone_for_phone, zone_for_region
from tasks.reviews.settings import EMAIL_ADDRESS, ReviewSettings, optional_text
from tasks.reviews.usecases.plan import plan_request
from tasks.store.db import unit_of_work
from tasks.store.models import User

log = logging.getLogger(__name__)

# How long the Make.com endpoint may wait for Jobber to tell the business's zone (once per process).
JOBBER_ZONE_BUDGET_S = 5.0
_jobber_zones: dict[str, str] = {}
_jobber_zones_lock = threading.Lock()


class MakeReviewTrigger(BaseModel):
    """The body a Make.com scenario sends. Field names follow the guide's mapping; camelCase is accepted."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True, str_strip_whitespace=True)

    job_id: str = Field(min_length=1, max_length=200)
    customer_name: str = Field(min_length=1, max_length=300)
    customer_first_name: str | None = Field(default=None, max_length=200)
    phone: str | None = Field(default=None, max_length=40)
    email: str | None = Field(default=None, max_length=320)
    technician: str | None = Field(default=None, max_length=200)
    job_title: str | None = Field(default=None, max_length=300)
    job_type: str | None = Field(default=None, max_length=300)
    job_number: int | None = None
    client_id: str | None = Field(default=None, max_length=200)
    completed_at: str | None = None
    state: str | None = Field(default=None, max_length=60, description="State or province (for the time zone).")
    country: str | None = Field(default=None, max_length=60)
    timezone: str | None = Field(default=None, max_length=64)
    sms_allowed: bool = True

    @model_validator(mode="before")
    @classmethod
    def _aliases(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        aliases = {
            "jobId": "job_id",
            "customerName": "customer_name",
            "name": "customer_name",
            "firstName": "customer_first_name",
            "jobTitle": "job_title",
            "jobType": "job_type",
            "jobNumber": "job_number",
            "clientId": "client_id",
            "completedAt": "completed_at",
            "smsAllowed": "sms_allowed",
            "province": "state",
        }
        out = dict(data)
        for alias, name in aliases.items():
            if alias in out and name not in out:
                out[name] = out.pop(alias)
        if isinstance(out.get("job_id"), int):
            out["job_id"] = str(out["job_id"])
        return out

    @field_validator("phone")
    @classmethod
    def _phone(cls, value: str | None) -> str | None:
        return optional_text(value, to_e164, "phone is not a valid phone number (use E.164, e.g. +15125550142)")

    @field_validator("email")
    @classmethod
    def _email(cls, value: str | None) -> str | None:
        return optional_text(value, EMAIL_ADDRESS.match, "email is not a valid email address")

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str | None) -> str | None:
        return optional_text(value, valid_zone, "timezone must be an IANA zone such as America/Chicago")

    @model_validator(mode="after")
    def _contact(self) -> MakeReviewTrigger:
        if not self.phone and not self.email:
            raise ValueError("phone or email is required")
        return self

    def context(self) -> ReviewContext:
        first, last = split_name(self.customer_name)
        job_number = self.job_number
        if job_number is None and self.job_id.isdigit():
            job_number = int(self.job_id)
        return ReviewContext(
            job_id=self.job_id,
            job_number=job_number,
            job_title=self.job_title or self.job_type,
            client_id=self.client_id,
            client_name=self.customer_name,
            client_first_name=self.customer_first_name or first,
            client_last_name=last,
            phone=to_e164(self.phone) if self.phone else None,
            phone_raw=self.phone,
            sms_allowed=self.sms_allowed if self.phone else None,
            email=self.email,
            province=self.state,
            country=self.country,
            timezone=self.timezone or valid_zone(zone_for_region(self.state, self.country)),
            technicians=tuple(t for t in [(self.technician or "").split(" ")[0]] if t),
        )


def synced_account_zone(engine: Engine, account_key: str) -> str | None:
    """The zone most of the account's Jobber users have (the synced `users` table), or None."""
    with unit_of_work(engine) as session:
        zones = session.scalars(
            select(User.timezone).where(User.account_key == account_key, User.timezone.is_not(None))
        ).all()
    counted = Counter(z for z in zones if valid_zone(z))
    return counted.most_common(1)[0][0] if counted else None


def jobber_account_zone(account_key: str) -> str | None:
    """The connected Jobber user's zone, asked once per process within a few seconds; None when Jobber is
    not configured or does not answer in time (asked again next time)."""
    with _jobber_zones_lock:
        if account_key in _jobber_zones:
            return _jobber_zones[account_key]
    try:
        from tasks.jobber.factory import get_jobber_client
        from tasks.reviews.jobber import business_timezone

        client = get_jobber_client()
        with client.time_budget(JOBBER_ZONE_BUDGET_S):
            zone = valid_zone(business_timezone(client))
    except Exception as exc:  # noqa: BLE001 - no Jobber (a Make.com-only install) is fine: other fallbacks follow
        log.debug("No business time zone from Jobber: %s", type(exc).__name__)
        return None
    if zone is not None:
        with _jobber_zones_lock:
            _jobber_zones[account_key] = zone
    return zone


def account_zone(engine: Engine, account_key: str) -> str | None:
    """The business's zone for `account_key`: its synced Jobber users' zone, else the connected user's."""
    return synced_account_zone(engine, account_key) or jobber_account_zone(account_key)


def plan_make_request(
    engine: Engine,
    body: MakeReviewTrigger,
    *,
    settings: ReviewSettings,
    branding: Branding,
    account_key: str,
    now: datetime | None = None,
    business_zone: Callable[[], str | None] | None = None,
) -> Decision:
    """Plan the request a Make.com scenario asked for (same dedupe, eligibility and timing as webhooks).

    Without a `timezone` or `state` in the request (and no `timezone` setting), the recipient's zone is the
    account's (`business_zone`, by default `account_zone`), else the phone number's region: never UTC by
    default for a number whose area code says where it is.
    """
    context = body.context()

    def fallback_zone() -> str | None:
        zone = (business_zone or (lambda: account_zone(engine, account_key)))()
        return valid_zone(zone) or zone_for_phone(context.phone, at=now)

    return plan_request(
        engine,
        context=context,
        settings=settings,
        branding=branding,
        account_key=account_key,
        trigger_item_id=None,
        trigger_at=parse_time(body.completed_at) or now,
        source="make",
        now=now,
        business_zone=fallback_zone,
    )
