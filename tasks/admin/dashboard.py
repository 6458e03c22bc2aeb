"""The admin page's data: plain, keyword-only query functions over the caller's Session.

Every function reads; none writes. Times are UTC (SQLite hands back naive datetimes, see `as_utc`).
`load_dashboard` gathers everything the page and `/admin/jobber.json` show; `dashboard_to_json` makes
it JSON-serialisable.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tasks.admin.masking import mask_address, mask_text
from tasks.reviews.settings import ReviewSettings
from tasks.store.accounts import as_utc
from tasks.store.models import Account, Delivery, JobberToken, ReviewRequest, Suppression, SyncWatermark, WebhookInbox

STALE_AFTER = timedelta(hours=1)
RECENT_REVIEW_REQUESTS = 20
LATEST_OPT_OUTS = 5
CHART_WEEKS = 12


@dataclass(frozen=True)
class AccountState:
    """One connected (or formerly connected) Jobber account."""

    key: str
    jobber_account_id: str | None
    name: str | None
    status: str  # connected | reconnect_needed | disconnected
    reason: str | None
    has_tokens: bool
    access_expires_at: datetime | None
    updated_at: datetime | None

    @property
    def needs_action(self) -> bool:
        return self.status != "connected" or not self.has_tokens


@dataclass(frozen=True)
class WebhookState:
    """What the inbox has seen and how far the relay to Prefect is behind."""

    last_topic: str | None
    last_account_id: str | None
    last_received_at: datetime | None
    received_24h: int
    backlog: int  # rows not relayed yet
    failing: int  # unrelayed rows whose last relay attempt failed
    oldest_unrelayed_at: datetime | None
    relay_lag_s: float | None  # age of the oldest unrelayed row; None when nothing waits


@dataclass(frozen=True)
class SyncState:
    """How fresh one synced resource is."""

    account_key: str
    resource: str
    watermark: datetime | None
    last_success_at: datetime | None
    age_s: float | None  # since the last successful run
    stale: bool
    resuming: bool  # an unfinished run left a cursor to resume from


@dataclass(frozen=True)
class ReviewRequestRow:
    """A recent review request, with its contact masked and its latest delivery's outcome."""

    id: int
    account_key: str
    job_number: int | None
    client: str | None
    channel: str | None
    to: str  # masked
    status: str
    reason: str | None
    planned_at: datetime | None
    sent_at: datetime | None
    clicked_at: datetime | None
    delivery_status: str | None
    delivery_error: str | None


@dataclass(frozen=True)
class OptOutRow:
    channel: str
    address: str  # masked
    reason: str
    source: str | None
    created_at: datetime | None


@dataclass(frozen=True)
class OptOuts:
    total: int
    by_channel: dict[str, int]
    latest: tuple[OptOutRow, ...]


@dataclass(frozen=True)
class WeekCounts:
    """Review-request outcomes in the week (Monday 00:00 UTC onwards) starting `week_start`."""

    week_start: date
    sent: int = 0
    delivered: int = 0
    clicked: int = 0
    opted_out: int = 0


@dataclass(frozen=True)
class Dashboard:
    generated_at: datetime
    accounts: tuple[AccountState, ...]
    webhooks: WebhookState
    sync: tuple[SyncState, ...]
    review_requests: tuple[ReviewRequestRow, ...]
    opt_outs: OptOuts
    weeks: tuple[WeekCounts, ...]
    # The contractor's review settings as every reader sees them now (tasks/reviews/settings_source.py):
    # setting -> value, or a one-line problem when they cannot be read. Filled by the gateway.
    review_settings: dict[str, str] = dataclasses.field(default_factory=dict)
    review_settings_problem: str | None = None


def review_settings_summary(settings: ReviewSettings) -> dict[str, str]:
    """The choices a contractor makes most, as the admin page lists them (a `ReviewSettings`)."""
    start, end = settings.quiet_hours_start, settings.quiet_hours_end
    quiet = f"{start:%H:%M}-{end:%H:%M}" if settings.quiet_hours_enabled else "off"
    return {
        "trigger": settings.trigger,
        "channels": settings.channels,
        "delay": f"{settings.delay_minutes} min",
        "quiet hours": quiet,
        "review link": settings.review_link,
        "dry run": "yes" if settings.dry_run else "no",
    }


def _now(now: datetime | None) -> datetime:
    if now is None:
        return datetime.now(UTC)
    return now if now.tzinfo else now.replace(tzinfo=UTC)


def account_states(session: Session) -> tuple[AccountState, ...]:
    """Every account row with its connection state and whether tokens are stored."""
    rows = session.execute(
        select(Account, JobberToken.access_token, JobberToken.refresh_token, JobberToken.access_expires_at)
        .outerjoin(JobberToken, JobberToken.account_key == Account.key)
        .order_by(Account.key)
    ).all()
    return tuple(
        AccountState(
            key=account.key,
            jobber_account_id=account.jobber_account_id,
            name=account.name,
            status=account.status or "connected",
            reason=mask_text(account.status_reason),
            has_tokens=bool(access or refresh),
            access_expires_at=as_utc(expires),
            updated_at=as_utc(account.updated_at),
        )
        for account, access, refresh, expires in rows
    )


def webhook_state(session: Session, *, now: datetime | None = None) -> WebhookState:
    """The last webhook received, the inbox backlog and the relay lag."""
    now = _now(now)
    last = session.execute(
        select(WebhookInbox.topic, WebhookInbox.account_id, WebhookInbox.received_at)
        .order_by(WebhookInbox.received_at.desc(), WebhookInbox.id.desc())
        .limit(1)
    ).first()
    received_24h = session.scalar(
        select(func.count()).select_from(WebhookInbox).where(WebhookInbox.received_at >= now - timedelta(hours=24))
    )
    backlog, failing, oldest = session.execute(
        select(
            func.count(),
            func.count(WebhookInbox.last_error),
            func.min(WebhookInbox.received_at),
        ).where(WebhookInbox.relayed_at.is_(None))
    ).one()
    oldest_at = as_utc(_as_datetime(oldest))
    return WebhookState(
        last_topic=last[0] if last else None,
        last_account_id=last[1] if last else None,
        last_received_at=as_utc(last[2]) if last else None,
        received_24h=int(received_24h or 0),
        backlog=int(backlog or 0),
        failing=int(failing or 0),
        oldest_unrelayed_at=oldest_at,
        relay_lag_s=max(0.0, (now - oldest_at).total_seconds()) if oldest_at else None,
    )


def _as_datetime(value: object) -> datetime | None:
    """An aggregate over a DateTime column: SQLite may answer the stored string."""
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value))


def sync_states(
    session: Session, *, now: datetime | None = None, stale_after: timedelta = STALE_AFTER
) -> tuple[SyncState, ...]:
    """Each synced resource's watermark and last success; stale when that success is older than `stale_after`."""
    now = _now(now)
    rows = session.scalars(select(SyncWatermark).order_by(SyncWatermark.account_key, SyncWatermark.resource)).all()
    states = []
    for row in rows:
        success = as_utc(row.last_success_at)
        age = (now - success).total_seconds() if success else None
        states.append(
            SyncState(
                account_key=row.account_key,
                resource=row.resource,
                watermark=as_utc(row.watermark),
                last_success_at=success,
                age_s=age,
                stale=age is None or age > stale_after.total_seconds(),
                resuming=bool(row.resume_cursor),
            )
        )
    return tuple(states)


def recent_review_requests(session: Session, *, limit: int = RECENT_REVIEW_REQUESTS) -> tuple[ReviewRequestRow, ...]:
    """The newest review requests (by creation), contacts masked, each with its latest delivery's outcome."""
    requests = session.scalars(
        select(ReviewRequest).order_by(ReviewRequest.created_at.desc(), ReviewRequest.id.desc()).limit(limit)
    ).all()
    latest: dict[int, tuple[str, str | None]] = {}
    if requests:
        deliveries = session.execute(
            select(Delivery.review_request_id, Delivery.status, Delivery.error_message, Delivery.error_code)
            .where(Delivery.review_request_id.in_([r.id for r in requests]))
            .order_by(Delivery.id)
        ).all()
        for request_id, status, message, code in deliveries:
            error = " ".join(part for part in (f"[{code}]" if code else "", message or "") if part) or None
            latest[request_id] = (status, mask_text(error))
    rows = []
    for r in requests:
        contact = r.recipient_email if r.channel == "email" else r.recipient_phone or r.recipient_email
        delivery = latest.get(r.id)
        rows.append(
            ReviewRequestRow(
                id=r.id,
                account_key=r.account_key,
                job_number=r.job_number,
                client=r.recipient_name,
                channel=r.channel,
                to=mask_address(contact, r.channel if contact else None),
                status=r.status,
                reason=mask_text(r.reason),
                planned_at=as_utc(r.planned_at),
                sent_at=as_utc(r.sent_at),
                clicked_at=as_utc(r.clicked_at),
                delivery_status=delivery[0] if delivery else None,
                delivery_error=delivery[1] if delivery else None,
            )
        )
    return tuple(rows)


def opt_outs(session: Session, *, latest: int = LATEST_OPT_OUTS) -> OptOuts:
    """How many addresses must not be messaged, per channel, and the newest few (masked)."""
    by_channel = {
        channel: int(count)
        for channel, count in session.execute(
            select(Suppression.channel, func.count()).group_by(Suppression.channel).order_by(Suppression.channel)
        ).all()
    }
    rows = session.scalars(
        select(Suppression).order_by(Suppression.created_at.desc(), Suppression.address).limit(latest)
    ).all()
    return OptOuts(
        total=sum(by_channel.values()),
        by_channel=by_channel,
        latest=tuple(
            OptOutRow(
                channel=s.channel,
                address=mask_address(s.address, s.channel),
                reason=s.reason,
                source=s.source,
                created_at=as_utc(s.created_at),
            )
            for s in rows
        ),
    )


def week_start(moment: datetime) -> date:
    """The Monday (UTC) of the week `moment` falls in."""
    day = _now(moment).astimezone(UTC).date()
    return day - timedelta(days=day.weekday())


def weekly_counts(session: Session, *, now: datetime | None = None, weeks: int = CHART_WEEKS) -> tuple[WeekCounts, ...]:
    """Review requests sent, delivered, clicked, and opt-outs, per week for the last `weeks` weeks (oldest first).

    Sent and clicked count review requests by `sent_at` / `clicked_at`; delivered counts review requests
    with a delivery the provider reported delivered (once per request and week); opted out counts
    suppressions created that week. Weeks with nothing in them are included with zeros.
    """
    now = _now(now)
    first = week_start(now) - timedelta(weeks=weeks - 1)
    since = datetime.combine(first, time.min, tzinfo=UTC)
    starts = [first + timedelta(weeks=i) for i in range(weeks)]
    counts: dict[str, dict[date, int]] = {name: defaultdict(int) for name in ("sent", "delivered", "clicked")}

    def tally(series: str, moments: Iterable[datetime | None]) -> None:
        for moment in moments:
            moment = as_utc(moment)
            if moment is not None and moment >= since:
                counts[series][week_start(moment)] += 1

    tally("sent", session.scalars(select(ReviewRequest.sent_at).where(ReviewRequest.sent_at >= since)))
    tally("clicked", session.scalars(select(ReviewRequest.clicked_at).where(ReviewRequest.clicked_at >= since)))
    delivered: set[tuple[int, date]] = set()
    for request_id, sent_at, updated_at in session.execute(
        select(Delivery.review_request_id, Delivery.sent_at, Delivery.updated_at).where(
            Delivery.status == "delivered", func.coalesce(Delivery.sent_at, Delivery.updated_at) >= since
        )
    ):
        moment = as_utc(sent_at or updated_at)
        if moment is not None and moment >= since:
            delivered.add((request_id, week_start(moment)))
    for _, week in delivered:
        counts["delivered"][week] += 1
    opted: dict[date, int] = defaultdict(int)
    for created in session.scalars(select(Suppression.created_at).where(Suppression.created_at >= since)):
        moment = as_utc(created)
        if moment is not None:
            opted[week_start(moment)] += 1
    return tuple(
        WeekCounts(
            week_start=start,
            sent=counts["sent"][start],
            delivered=counts["delivered"][start],
            clicked=counts["clicked"][start],
            opted_out=opted[start],
        )
        for start in starts
    )


def load_dashboard(session: Session, *, now: datetime | None = None) -> Dashboard:
    """Everything the admin page shows, read in one session."""
    now = _now(now)
    return Dashboard(
        generated_at=now,
        accounts=account_states(session),
        webhooks=webhook_state(session, now=now),
        sync=sync_states(session, now=now),
        review_requests=recent_review_requests(session),
        opt_outs=opt_outs(session),
        weeks=weekly_counts(session, now=now),
    )


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


def dashboard_to_json(dashboard: Dashboard) -> dict[str, Any]:
    """The dashboard as plain JSON types (ISO 8601 times), with each account's `needs_action`."""
    data: dict[str, Any] = _jsonable(dataclasses.asdict(dashboard))
    for entry, account in zip(data["accounts"], dashboard.accounts, strict=True):
        entry["needs_action"] = account.needs_action
    return data
