"""Burst of work: 1,000 jobs closed within a minute -> 1,000 review requests handed to the provider.

    /tmp/v1/bin/python -m bench.review_burst            # SQLite, recording provider
    /tmp/v1/bin/python -m bench.review_burst --provider outbox --database-url postgresql://postgres@127.0.0.1/test

What runs (no Prefect server: the plain functions the flows call):
- a Jobber sandbox seeded with >= 1,000 active jobs; a producer closes 1,000 of them at a steady rate over
  `--close-seconds` (default 60) through the sandbox's store, which emits JOB_CLOSED like Jobber;
- webhook-equivalent planning: every JOB_CLOSED event is handed to `plan_from_event` (what the
  review-request flow's task does per event: fetch the job over GraphQL, match, map, eligibility, plan),
  by `--planners` threads;
- one draining dispatcher: `dispatch_due` in a loop (what the review-dispatch flow does each minute, here
  every `--dispatch-interval` seconds), delay 0, sending through a recording channel or the local outbox.

The ledger must balance: closed == requested == sent + skipped (each skip with its reason), 0 duplicates
(no idempotency key handed over twice, at most one message per request and channel), 0 lost. A run whose
ledger does not balance is reported as void. Results go to bench/results/review_burst-<time>.json.
"""

from __future__ import annotations

import argparse
import queue
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench._common import save  # noqa: E402


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def run(args: argparse.Namespace) -> dict[str, Any]:
    from sqlalchemy import func, select

    from sandbox.jobber import SandboxConfig, SandboxServer
    from tasks.delivery.base import RecordingChannel
    from tasks.delivery.local import OutboxChannel
    from tasks.jobber.auth import StaticTokenProvider
    from tasks.jobber.client import JobberClient
    from tasks.reviews.rules.rendering import Branding
    from tasks.reviews.settings import ReviewSettings
    from tasks.reviews.usecases.plan import plan_from_event
    from tasks.reviews.usecases.send import Channels, dispatch_due
    from tasks.store.db import get_engine, unit_of_work
    from tasks.store.migrate import upgrade_database
    from tasks.store.models import Delivery, ReviewRequest

    workdir = Path(tempfile.mkdtemp(prefix="review-burst-"))
    database_url = args.database_url or f"sqlite:///{workdir / 'burst.db'}"
    if args.database_url:
        _reset_postgres(database_url)
    upgrade_database(database_url)
    engine = get_engine(database_url)

    seed_started = time.monotonic()
    sandbox = SandboxServer(
        SandboxConfig(seed=11, clients=args.jobs * 3 // 2, jobs=args.jobs * 5 // 2, invoices=20, quotes=5)
    ).start()
    seed_s = time.monotonic() - seed_started
    try:
        candidates = [
            j
            for j in sandbox.store.jobs
            if j.job_status != "archived" and j.client is not None and not j.client.is_archived
        ]
        if len(candidates) < args.jobs:
            raise SystemExit(f"the sandbox has only {len(candidates)} active jobs; need {args.jobs}")
        chosen = candidates[: args.jobs]
        client = JobberClient(
            graphql_url=sandbox.url + "/api/graphql",
            api_version="2025-04-16",
            tokens=StaticTokenProvider(sandbox.issue_tokens()["access_token"]),
        )
        if args.provider == "outbox":
            channels = Channels(
                sms=OutboxChannel(root=workdir / "outbox"), email=OutboxChannel(root=workdir / "outbox")
            )
        else:
            channels = Channels(sms=RecordingChannel("sms"), email=RecordingChannel("email"))
        settings = ReviewSettings(
            review_link="https://g.page/r/evergreen/review",
            delay_minutes=0,
            quiet_hours_enabled=False,  # the burst is about throughput, not the hour it runs at
            cooldown_days=0,  # the sandbox gives several jobs to one client
            follow_ups=0,
            channels="sms_then_email",
        )
        branding = Branding(public_url="https://reviews.example.test", business_name="Evergreen Home Services")

        events: queue.Queue[tuple[str, str, str, float] | None] = queue.Queue()
        plan_seconds: list[float] = []
        plan_statuses: Counter[str] = Counter()
        lock = threading.Lock()
        producing = threading.Event()
        producing.set()

        def producer() -> None:
            interval = args.close_seconds / len(chosen)
            start = time.monotonic()
            for i, job in enumerate(chosen):
                target = start + i * interval
                delay = target - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                mark = len(sandbox.store.events)
                sandbox.store.close_job(job_id=job.id)
                for event in list(sandbox.store.events[mark:]):
                    if event.topic == "JOB_CLOSED" and event.item_id == job.id:
                        events.put((event.topic, event.item_id, event.occurred_at, time.monotonic()))
            producing.clear()

        def planner() -> None:
            while True:
                item = events.get()
                if item is None:
                    return
                topic, item_id, occurred_at, _ = item
                started = time.monotonic()
                decision = plan_from_event(
                    client, engine, topic=topic, item_id=item_id, occurred_at=occurred_at, settings=settings,
                    branding=branding,
                )  # fmt: skip
                with lock:
                    plan_seconds.append(time.monotonic() - started)
                    plan_statuses[decision.status] += 1

        dispatch_seconds: list[float] = []
        dispatched: Counter[str] = Counter()
        planners_done = threading.Event()

        def dispatcher() -> None:
            while True:
                started = time.monotonic()
                result = dispatch_due(engine, channels=channels, jobber=client, concurrency=args.concurrency)
                took = time.monotonic() - started
                if result.decisions:
                    dispatch_seconds.append(took)
                    dispatched.update(result.summary)
                if planners_done.is_set() and not result.decisions:
                    return
                time.sleep(args.dispatch_interval)

        t0 = time.monotonic()
        threads = [threading.Thread(target=producer, name="producer")]
        threads += [threading.Thread(target=planner, name=f"planner-{i}") for i in range(args.planners)]
        disp = threading.Thread(target=dispatcher, name="dispatcher")
        for t in threads:
            t.start()
        disp.start()
        threads[0].join()
        closed_at = time.monotonic() - t0
        for _ in range(args.planners):
            events.put(None)
        for t in threads[1:]:
            t.join()
        planned_at = time.monotonic() - t0
        planners_done.set()
        disp.join(timeout=max(1.0, args.deadline - (time.monotonic() - t0)))
        finished_at = time.monotonic() - t0

        with unit_of_work(engine) as session:
            statuses = Counter(
                dict(session.execute(select(ReviewRequest.status, func.count()).group_by(ReviewRequest.status)).all())
            )
            skip_reasons = Counter(
                (r or "?").split(":")[0]
                for r in session.scalars(select(ReviewRequest.reason).where(ReviewRequest.status == "skipped"))
            )
            requested = sum(statuses.values())
            sent_rows = session.scalars(select(ReviewRequest).where(ReviewRequest.status == "sent")).all()
            last_sent = max((r.sent_at for r in sent_rows if r.sent_at), default=None)
            delivery_keys = list(session.scalars(select(Delivery.idempotency_key).where(Delivery.status == "sent")))
        if args.provider == "outbox":
            handed = [p.name for p in (workdir / "outbox").glob("*.json")]
            handed_keys = handed
        else:
            handed_keys = [m.idempotency_key for ch in (channels.sms, channels.email) for m in ch.sent]  # type: ignore[attr-defined]
        duplicates = len(handed_keys) - len(set(handed_keys))
        per_request_channels = Counter(k.split(":")[0] for k in delivery_keys)
        extra_messages = sum(n - 1 for n in per_request_channels.values() if n > 1)
        closed = len(chosen)
        sent = statuses.get("sent", 0)
        skipped = statuses.get("skipped", 0)
        lost = closed - requested
        balanced = closed == requested == sent + skipped and duplicates == 0 and extra_messages == 0
        all_sent_s = finished_at if statuses.get("planned", 0) == 0 and statuses.get("claimed", 0) == 0 else None
        result = {
            "jobs_closed": closed,
            "requests_recorded": requested,
            "sent": sent,
            "skipped_with_reason": skipped,
            "skip_reasons": dict(skip_reasons),
            "other_statuses": {k: v for k, v in statuses.items() if k not in ("sent", "skipped")},
            "handed_to_provider": len(handed_keys),
            "duplicates": duplicates,
            "extra_messages_per_request": extra_messages,
            "lost": lost,
            "ledger_balanced": balanced,
            "seconds_closing": round(closed_at, 2),
            "seconds_until_all_planned": round(planned_at, 2),
            "seconds_until_all_handed_over": round(all_sent_s, 2) if all_sent_s is not None else None,
            "within_120_s": all_sent_s is not None and all_sent_s <= 120,
            "plan_ms_p50": round(1000 * statistics.median(plan_seconds), 1) if plan_seconds else None,
            "plan_ms_p95": round(1000 * _percentile(plan_seconds, 0.95), 1),
            "plan_ms_max": round(1000 * max(plan_seconds, default=0.0), 1),
            "dispatch_passes": len(dispatch_seconds),
            "dispatch_ms_per_request": round(1000 * sum(dispatch_seconds) / max(sent + skipped, 1), 2),
            "plan_statuses": dict(plan_statuses),
            "dispatch_outcomes": dict(dispatched),
            "jobber_requests": client.stats.requests,
            "jobber_throttled": client.stats.throttled,
            "jobber_paced_wait_s": round(client.stats.paced_wait_s, 1),
            "sandbox_seed_s": round(seed_s, 2),
            "provider": args.provider,
            "database": "postgresql" if args.database_url else "sqlite",
            "planners": args.planners,
            "dispatch_concurrency": args.concurrency,
            "last_sent_at": str(last_sent) if last_sent else None,
        }
        client.close()
        return result
    finally:
        sandbox.stop()


def _reset_postgres(url: str) -> None:
    import sqlalchemy as sa

    from tasks.store.db import normalize_url

    engine = sa.create_engine(normalize_url(url))
    with engine.begin() as conn:
        conn.execute(sa.text("DROP SCHEMA public CASCADE"))
        conn.execute(sa.text("CREATE SCHEMA public"))
    engine.dispose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--close-seconds", type=float, default=60.0)
    parser.add_argument("--planners", type=int, default=4)
    parser.add_argument("--concurrency", type=int, default=8, help="parallel sends inside one dispatch pass")
    parser.add_argument("--dispatch-interval", type=float, default=1.0)
    parser.add_argument("--deadline", type=float, default=180.0)
    parser.add_argument("--provider", choices=("recording", "outbox"), default="recording")
    parser.add_argument("--database-url", default=None, help="PostgreSQL URL (its public schema is reset!)")
    args = parser.parse_args(argv)
    result = run(args)
    path = save("review_burst", result)
    verdict = "OK" if result["ledger_balanced"] and result["within_120_s"] else "VOID/FAILED"
    print(
        f"review burst [{verdict}]: {result['jobs_closed']} closed in {result['seconds_closing']} s -> "
        f"{result['sent']} sent + {result['skipped_with_reason']} skipped, all handed over after "
        f"{result['seconds_until_all_handed_over']} s; {result['duplicates']} duplicates, {result['lost']} lost; "
        f"plan p50 {result['plan_ms_p50']} ms / p95 {result['plan_ms_p95']} ms, dispatch "
        f"{result['dispatch_ms_per_request']} ms per request; {result['jobber_throttled']} THROTTLED -> {path}"
    )
    return 0 if result["ledger_balanced"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
