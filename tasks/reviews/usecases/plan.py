"""Plan a review request: one row per (account, job) with its decision, send time and rendered check.

Every path (a webhook event, the polling fallback, the Make.com endpoint, a manual call) ends here, so
they share one dedupe: the unique (account, job) row. The decision is recorded even when it is "no"
(status `skipped` with the reason); a trigger that does not match creates nothing.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine

from tasks.jobber.client import JobberClient
from tasks.reviews.decision import Decision
from tasks.reviews.jobber import account_key_of, business_zone_of, resolve_event
from tasks.reviews.ledger import find_request, insert_request
from tasks.reviews.loader import client_facts
from tasks.reviews.rules.mapping import ReviewContext
from tasks.reviews.rules.plan import decide_plan
from tasks.reviews.rules.rendering import Branding
from tasks.reviews.rules.stored import stored_json
from tasks.reviews.rules.timing import resolve_zone
from tasks.reviews.rules.triggers import ItemFetch
from tasks.reviews.settings import ReviewSettings
from tasks.store.accounts import as_utc
from tasks.store.db import unit_of_work


def new_token() -> str:
    """An unguessable token for /r/<token> and /u/<token> (22 URL-safe characters)."""
    return secrets.token_urlsafe(16)


def plan_request(
    engine: Engine,
    *,
    context: ReviewContext,
    settings: ReviewSettings,
    branding: Branding,
    account_key: str,
    trigger_item_id: str | None,
    trigger_at: datetime | None,
    source: str,
    now: datetime | None = None,
    business_zone: Callable[[], str | None] | None = None,
) -> Decision:
    """Record the request for `context.job_id` (or find the one already there) and decide when to send it."""
    now = (now or datetime.now(UTC)).astimezone(UTC)
    label, who = context.label(), context.short_client_name
    trigger_at = (trigger_at or now).astimezone(UTC)
    if trigger_at < now - timedelta(days=settings.max_trigger_age_days):
        return Decision(
            label, who, "ignored", reason=f"trigger is older than {settings.max_trigger_age_days} days", source=source
        )
    with unit_of_work(engine) as session:
        # Load the facts.
        existing = find_request(session, account_key=account_key, job_id=context.job_id, job_number=context.job_number)
        if existing is not None:
            return _duplicate(existing, label, who, source)
        facts = client_facts(session, context, settings, account_key=account_key, now=now)
        zone = resolve_zone(context.timezone or settings.timezone or (business_zone() if business_zone else None))
        # Decide.
        token = new_token()
        plan = decide_plan(context, settings, branding, facts, zone=zone, trigger_at=trigger_at, now=now, token=token)
        # Write: the unique (account, job) row decides a race with another path.
        extra = {"dry_run": plan.dry_run} if plan.dry_run is not None else {}
        values: dict[str, Any] = {
            "account_key": account_key,
            "job_id": context.job_id,
            "job_number": context.job_number,
            "client_id": context.client_id,
            "trigger": settings.trigger,
            "trigger_item_id": trigger_item_id,
            "source": source,
            "status": plan.status,
            "reason": plan.reason,
            "channel": plan.channel,
            "recipient_name": context.client_name,
            "recipient_phone": context.phone,
            "recipient_email": context.email.lower() if context.email else None,
            "recipient_timezone": zone.key,
            "planned_at": plan.planned_at,
            "click_token": token,
            "context": stored_json(context, settings, branding, trigger_at=trigger_at, **extra),
            "created_at": now,
            "updated_at": now,
        }
        request, created = insert_request(session, values=values)
        if not created:
            return _duplicate(request, label, who, source)
        return Decision(
            label, who, plan.status, request.id, plan.channel, plan.planned_at, zone.key, plan.reason, source
        )


def _duplicate(existing: Any, label: str, who: str, source: str) -> Decision:
    return Decision(
        label,
        who,
        "duplicate",
        existing.id,
        existing.channel,
        as_utc(existing.planned_at),
        existing.recipient_timezone,
        f"already requested for this job (request {existing.id}, {existing.status}, from {existing.source})",
        source,
    )


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
