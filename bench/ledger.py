"""The ledger of an end-to-end bench: every job closed, the Twilio messages for it, its review_requests row.

A job is accounted for when a Twilio message for it arrived at the endpoint (matched through its click
token in the body, and cross-checked with the provider sid in `deliveries`) or when its `review_requests`
row ends with a recorded reason (skipped / failed / cancelled), or, when the bench runs with quiet hours
(`quiet_end`), when it is planned for the end of the recipient's quiet hours, still ahead (deferred, whether
at planning or just before the send). `balance` checks: closed == one message + reason (+ deferred);
duplicates (more than one message for a job) and lost (none of these when the run ended) must be 0.
"""

from __future__ import annotations

import re
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from datetime import time as clock
from typing import Any
from zoneinfo import ZoneInfo

from bench.fake_twilio_server import FakeTwilioServer

TERMINAL_WITH_REASON = ("skipped", "failed", "cancelled")
CLICK_RE = re.compile(r"/r/([A-Za-z0-9_\-]{8,})")


@dataclass
class JobRecord:
    number: int
    job_id: str
    phase: str
    scheduled: float  # wall clock (time.time()), the open-loop close time
    close_started: float | None = None
    close_done: float | None = None
    close_status: int | None = None
    close_error: str | None = None
    sent: float | None = None  # first Twilio arrival
    sids: list[str] = field(default_factory=list)
    to: str | None = None
    request_id: int | None = None
    status: str | None = None
    reason: str | None = None
    planned_at: datetime | None = None
    zone: str | None = None  # the recipient's time zone as the project recorded it
    accounted_at: float | None = None

    @property
    def closed(self) -> bool:
        return self.close_status == 200


class Ledger:
    """Jobs closed, Twilio messages and the project's review_requests, joined per job."""

    def __init__(self, database_url: str, twilio: FakeTwilioServer, *, quiet_end: clock | None = None) -> None:
        import sqlalchemy as sa

        self.quiet_end = quiet_end

        self.engine = sa.create_engine(database_url, pool_pre_ping=True)
        self.twilio = twilio
        self.jobs: dict[str, JobRecord] = {}
        self.lock = threading.Lock()
        self.token_to_job: dict[str, str] = {}
        self.sid_to_job: dict[str, str] = {}
        self.seen_messages = 0
        self.delivery_rows: list[dict[str, Any]] = []
        self.zones: dict[str, str | None] = {}  # job id -> the recipient's zone the project recorded
        self.other_jobs: dict[str, list[Any]] = {}  # job id -> messages, for jobs not closed by the bench
        self._unmatched_objs: list[Any] = []
        self._refresh_lock = threading.Lock()

    def add(self, record: JobRecord) -> None:
        with self.lock:
            self.jobs[record.job_id] = record

    def refresh(self) -> None:
        """Read review_requests (and deliveries' sids), then map every Twilio message to its job."""
        with self._refresh_lock:
            self._refresh()

    def _refresh(self) -> None:
        import sqlalchemy as sa

        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.text(
                    "SELECT id, job_id, status, reason, click_token, planned_at, recipient_timezone "
                    "FROM review_requests"
                )
            ).all()
            deliveries = conn.execute(
                sa.text(
                    "SELECT d.review_request_id, d.provider_message_id, d.status, d.channel, d.provider, r.job_id "
                    "FROM deliveries d JOIN review_requests r ON r.id = d.review_request_id"
                )
            ).all()
        now = time.time()
        with self.lock:
            for rid, job_id, status, reason, token, planned_at, zone in rows:
                if token:
                    self.token_to_job[token] = job_id
                self.zones[job_id] = zone
                record = self.jobs.get(job_id)
                if record is None:
                    continue
                record.request_id, record.status, record.reason = rid, status, reason
                record.planned_at, record.zone = _aware(planned_at), zone
                if record.accounted_at is None and (
                    status in TERMINAL_WITH_REASON or deferred_for_quiet_hours(record, self.quiet_end)
                ):
                    record.accounted_at = now
            self.delivery_rows = [
                {"request_id": d[0], "sid": d[1], "status": d[2], "channel": d[3], "provider": d[4], "job_id": d[5]}
                for d in deliveries
            ]
            for d in self.delivery_rows:
                if d["sid"]:
                    self.sid_to_job[d["sid"]] = d["job_id"]
            messages = self.twilio.snapshot()
            still_unmatched = []
            for m in [*self._pending_messages(messages), *self.unmatched_raw()]:
                job_id = self._job_for(m)
                record = self.jobs.get(job_id) if job_id else None
                if record is None:
                    if job_id is None:
                        still_unmatched.append(m)
                    else:  # a job the bench did not close (the review poll's look-back finds the seed's closes)
                        self.other_jobs.setdefault(job_id, []).append(m)
                    continue
                if m.sid not in record.sids:
                    record.sids.append(m.sid)
                    record.to = m.to
                    record.sent = m.arrived if record.sent is None else min(record.sent, m.arrived)
                    if record.accounted_at is None:
                        record.accounted_at = now
            self.seen_messages = len(messages)
            self._unmatched_objs = still_unmatched

    def _pending_messages(self, messages: list[Any]) -> list[Any]:
        return messages[self.seen_messages :]

    def unmatched_raw(self) -> list[Any]:
        return list(self._unmatched_objs)

    def _job_for(self, message: Any) -> str | None:
        match = CLICK_RE.search(message.body or "")
        if match and match.group(1) in self.token_to_job:
            return self.token_to_job[match.group(1)]
        return self.sid_to_job.get(message.sid)

    def twilio_figures(self) -> dict[str, Any]:
        """What the Twilio endpoint accepted, against what the project recorded in `deliveries`."""
        twilio_sids = {m.sid for m in self.twilio.snapshot()}
        delivered = {d["sid"] for d in self.delivery_rows if d["sid"]}
        return {
            "accepted": len(twilio_sids),
            "rejected_requests": self.twilio.rejected,
            "faults": dict(self.twilio.fault_counts),
            "list_requests": self.twilio.list_requests,
            "unmatched_messages": [{"sid": m.sid, "to": m.to, "body": m.body[:160]} for m in self.unmatched_raw()],
            "messages_for_jobs_the_bench_did_not_close": sum(len(v) for v in self.other_jobs.values()),
            "duplicates_for_jobs_the_bench_did_not_close": sum(len(v) > 1 for v in self.other_jobs.values()),
            "accepted_but_not_recorded_in_deliveries": len(twilio_sids - delivered),
            "accepted_but_not_recorded_why": self._unrecorded_reasons(twilio_sids - delivered),
            "recorded_sent_but_never_accepted": sorted(delivered - twilio_sids)[:50],
            "deliveries_by_status": dict(Counter(f"{d['provider']}:{d['status']}" for d in self.delivery_rows)),
        }

    def _unrecorded_reasons(self, sids: set[str]) -> dict[str, int]:
        """Why a message Twilio accepted has no `deliveries` row with its sid: the row of that request that
        is still `unknown`/`sending` (accepted with the answer lost; the next attempt reconciles it and
        records the sid without sending again), a job the bench did not close, or no explanation."""
        by_sid = {m.sid: m for m in self.twilio.snapshot()}
        reasons: Counter[str] = Counter()
        for sid in sids:
            job_id = self._job_for(by_sid[sid])
            statuses = {d["status"] for d in self.delivery_rows if d["job_id"] == job_id}
            if job_id is None:
                reasons["no job matches its body"] += 1
            elif statuses & {"unknown", "sending"}:
                reasons["its delivery is still unknown/sending, awaiting reconciliation"] += 1
            elif job_id not in self.jobs:
                reasons["a job the bench did not close"] += 1
            else:
                reasons[f"unexplained (deliveries of the job: {sorted(statuses)})"] += 1
        return dict(reasons)

    def outstanding(self, phase: str | None = None) -> int:
        with self.lock:
            return sum(
                1
                for r in self.jobs.values()
                if r.closed and r.accounted_at is None and (phase is None or r.phase == phase)
            )

    def closed_count(self) -> int:
        with self.lock:
            return sum(1 for r in self.jobs.values() if r.closed)


def _aware(value: Any) -> datetime | None:
    """SQLite gives naive datetimes (stored in UTC), PostgreSQL aware ones: always aware here."""
    from datetime import UTC

    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value if isinstance(value, datetime) else None


def deferred_for_quiet_hours(record: JobRecord, quiet_end: clock | None) -> bool:
    """Not sent, planned for a moment still ahead that is the end of quiet hours in the recipient's zone."""
    if quiet_end is None or record.sids or record.status != "planned" or not record.planned_at or not record.zone:
        return False
    local = record.planned_at.astimezone(ZoneInfo(record.zone))
    return record.planned_at.timestamp() > time.time() and (local.hour, local.minute) == (
        quiet_end.hour,
        quiet_end.minute,
    )


def balance(jobs: list[JobRecord], *, quiet_end: clock | None = None) -> dict[str, Any]:
    """closed == one message + reason recorded (+ deferred for quiet hours); duplicates and lost must be 0."""
    closed = [j for j in jobs if j.closed]
    one = [j for j in closed if len(j.sids) == 1]
    duplicates = [j for j in closed if len(j.sids) > 1]
    reason = [j for j in closed if not j.sids and j.status in TERMINAL_WITH_REASON]
    deferred = [j for j in closed if deferred_for_quiet_hours(j, quiet_end)]
    deferred_ids = {id(j) for j in deferred}
    lost = [j for j in closed if not j.sids and j.status not in TERMINAL_WITH_REASON and id(j) not in deferred_ids]
    return {
        "attempted": len(jobs),
        "closed": len(closed),
        "close_failed": len(jobs) - len(closed),
        "one_message": len(one),
        "reason_recorded": len(reason),
        "reasons": dict(Counter((j.reason or "?")[:80] for j in reason)),
        "deferred_quiet_hours": len(deferred),
        "duplicates": len(duplicates),
        "duplicate_jobs": [{"number": j.number, "sids": j.sids} for j in duplicates[:20]],
        "lost": len(lost),
        "lost_by_status": dict(Counter(str(j.status) for j in lost)),
        "lost_jobs": [{"number": j.number, "status": j.status, "reason": j.reason} for j in lost[:50]],
        "balanced": len(closed) == len(one) + len(reason) + len(deferred) and not lost and not duplicates,
    }
