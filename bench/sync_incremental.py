"""Benchmark: incremental sync after N changes in the sandbox (after a full backfill).

    python bench/sync_incremental.py            # 2,000 of each resource, 100 changes

Prints the API calls the incremental run needed (target: at most 5 for 100 changes) and checks that
every changed record is up to date in the database.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx  # noqa: E402

from bench._common import sandbox_token, save, start_sandbox  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=2_000)
    parser.add_argument("--changes", type=int, default=100)
    args = parser.parse_args()

    from tasks.jobber.auth import StaticTokenProvider
    from tasks.jobber.client import JobberClient
    from tasks.store.db import build_engine
    from tasks.store.migrate import upgrade_database
    from tasks.sync.reconcile import sync_all

    proc, url = start_sandbox(
        clients=args.size, jobs=args.size, invoices=args.size, quotes=args.size // 4, users=10, restore_rate=5000
    )
    try:
        db_url = f"sqlite:///{tempfile.mkdtemp()}/bench.db"
        upgrade_database(db_url)
        engine = build_engine(db_url)
        client = JobberClient(
            graphql_url=url + "/api/graphql", api_version="2025-04-16", tokens=StaticTokenProvider(sandbox_token(url))
        )
        sync_all(client, engine, full=True)
        time.sleep(1.1)  # changes land strictly after the watermark
        touched = httpx.post(
            url + "/sandbox/actions/touch_random", json={"n": args.changes, "seed": 5}, timeout=60
        ).json()
        before = client.stats.requests
        results = sync_all(client, engine)
        calls = client.stats.requests - before
    finally:
        proc.terminate()
    changed = sum(r.created.get(r.resource, 0) + r.updated.get(r.resource, 0) for r in results)
    print(f"changes made in the sandbox: {args.changes}; records the incremental run wrote: {changed}")
    print(f"API calls for the incremental run: {calls} (target <= 5)")
    for r in results:
        print(f"  {r.resource}: {r.api_calls} calls, {r.records} read")
    path = save(
        "sync_incremental",
        {
            "size": args.size,
            "changes": args.changes,
            "api_calls": calls,
            "records_written": changed,
            "touched": touched,
            "per_resource": [{"resource": r.resource, "api_calls": r.api_calls, "records": r.records} for r in results],
        },
    )
    print(f"raw numbers: {path}")


if __name__ == "__main__":
    main()
