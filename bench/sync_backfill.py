"""Benchmark: full backfill of N clients, N jobs and N invoices (with properties and visits) from the sandbox.

    python bench/sync_backfill.py                 # 10,000 of each, restore rate 500 pt/s (Jobber's)
    python bench/sync_backfill.py --size 2000 --restore-rate 2000

Prints records/s, API calls, THROTTLED and 429 counts, peak RSS, and the ratio of the achieved
throughput to the throttle-bound maximum:  max records/s = restore_rate / (actual cost / record).
The sandbox runs in its own process; the database is a fresh SQLite file (or --database-url).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx  # noqa: E402

from bench._common import peak_rss_mb, sandbox_token, save, start_sandbox  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=10_000)
    parser.add_argument("--restore-rate", type=float, default=500.0)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()

    from tasks.jobber.auth import StaticTokenProvider
    from tasks.jobber.client import JobberClient
    from tasks.store.db import build_engine
    from tasks.store.migrate import upgrade_database
    from tasks.sync.reconcile import sync_all

    proc, url = start_sandbox(
        clients=args.size, jobs=args.size, invoices=args.size, quotes=0, users=10, restore_rate=args.restore_rate
    )
    try:
        db_url = args.database_url or f"sqlite:///{tempfile.mkdtemp()}/bench.db"
        upgrade_database(db_url)
        engine = build_engine(db_url)
        client = JobberClient(
            graphql_url=url + "/api/graphql", api_version="2025-04-16", tokens=StaticTokenProvider(sandbox_token(url))
        )
        started = time.monotonic()
        results = sync_all(client, engine, full=True, resources=("users", "clients", "jobs", "invoices"))
        seconds = time.monotonic() - started
        sandbox_stats = httpx.get(url + "/sandbox/state", timeout=30).json().get("stats", {})
    finally:
        proc.terminate()
    records = sum(r.records for r in results)
    cost = sum(r.cost for r in results)
    per_record = cost / records
    bound = args.restore_rate / per_record
    achieved = records / seconds
    throttled = client.stats.throttled
    rate_limited = client.stats.rate_limited
    print(f"records: {records} in {seconds:.1f} s = {achieved:.1f} records/s")
    print(
        f"API calls: {client.stats.requests}; THROTTLED: {throttled} (sandbox saw {sandbox_stats.get('throttled')}); "
        f"HTTP 429: {rate_limited}"
    )
    print(f"actual cost: {cost:.0f} points = {per_record:.1f} points/record")
    print(
        f"throttle-bound maximum = restore_rate / cost per record = {args.restore_rate:.0f} / {per_record:.1f} "
        f"= {bound:.1f} records/s"
    )
    print(f"efficiency: {achieved:.1f} / {bound:.1f} = {achieved / bound:.1%} (target >= 90%)")
    print(f"peak RSS (sync process): {peak_rss_mb():.0f} MB")
    path = save(
        "sync_backfill",
        {
            "size": args.size,
            "restore_rate": args.restore_rate,
            "records": records,
            "seconds": seconds,
            "records_per_s": achieved,
            "api_calls": client.stats.requests,
            "throttled": throttled,
            "http_429": rate_limited,
            "cost": cost,
            "cost_per_record": per_record,
            "bound_records_per_s": bound,
            "efficiency": achieved / bound,
            "peak_rss_mb": peak_rss_mb(),
            "sandbox_stats": sandbox_stats,
            "per_resource": [
                {
                    "resource": r.resource,
                    "records": r.records,
                    "api_calls": r.api_calls,
                    "cost": r.cost,
                    "seconds": r.seconds,
                }
                for r in results
            ],
        },
    )
    print(f"raw numbers: {path}")


if __name__ == "__main__":
    main()
