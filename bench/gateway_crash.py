"""Reliability soak: kill -9 the gateway during load, again and again; no acknowledged webhook may be lost.

    python bench/gateway_crash.py                     # 20 kills, 500 webhooks/s
    python bench/gateway_crash.py --kills 50 --rate 1000
    python bench/gateway_crash.py --database-url postgresql://postgres@127.0.0.1:5432/crash_db

Each round starts the gateway (uvicorn, real inbox: SQLite WAL + synchronous=FULL unless
--database-url), sends signed webhooks open loop at --rate, and SIGKILLs the gateway at a random moment
while requests are in flight (requests after the kill fail to connect). Across all rounds the ledger
must balance, sent == acknowledged + rejected + failed, and EVERY acknowledged webhook must be in the
inbox afterwards (read after the last kill, so the database recovers from the crash first). Some
webhooks that were not acknowledged may be stored too: that is allowed (Jobber would retry them, and
the inbox deduplicates). Writes bench/results/gateway_crash-<time>.json.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.gateway_ingest import Gateway, build_request, free_port, prepare_database, run_load, stored_keys  # noqa: E402


def _load(
    port: int, requests: list[bytes], offsets: list[float], outcome: dict[str, list[tuple[int, float, float]]]
) -> None:
    outcome["results"] = run_load(port, requests, offsets, procs=1, drain_s=3.0, start_delay_s=0.2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--rate", type=float, default=500.0, help="webhooks per second during each round")
    parser.add_argument("--round-seconds", type=float, default=3.0, help="load per round (the kill falls inside)")
    parser.add_argument("--database-url", default=None, help="default: a fresh SQLite file")
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args()
    if args.kills > 200 or args.rate * args.round_seconds > 20_000:
        raise SystemExit("bounded run: at most 200 kills and 20,000 requests per round")

    rng = random.Random(args.seed)  # noqa: S311 - timing jitter
    home = Path(tempfile.mkdtemp(prefix="gateway-crash-"))
    database_url = args.database_url or f"sqlite:///{home / 'inbox.db'}"
    prepare_database(database_url)
    port = free_port()
    run = datetime.now(UTC).strftime("%H%M%S") + os.urandom(3).hex()

    sent = acked_total = rejected = failed = 0
    acked_keys: list[str] = []
    rounds = []
    per_round = int(args.rate * args.round_seconds)
    offsets = [i / args.rate for i in range(per_round)]
    for k in range(args.kills):
        built = [build_request(f"{run}-r{k}", i, port) for i in range(per_round)]
        gateway = Gateway(database_url, port, home)
        gateway.start()
        outcome: dict[str, list[tuple[int, float, float]]] = {}
        thread = threading.Thread(target=_load, args=(port, [b for b, _ in built], offsets, outcome))
        thread.start()
        kill_after = 0.2 + rng.uniform(0.3, args.round_seconds * 0.8)
        time.sleep(kill_after)
        gateway.kill9()
        thread.join()
        results = outcome["results"]
        ok = [i for i, r in enumerate(results) if r[0] == 200]
        bad = sum(1 for r in results if r[0] not in (0, 200))
        lost_conn = sum(1 for r in results if r[0] == 0)
        sent += len(results)
        acked_total += len(ok)
        rejected += bad
        failed += lost_conn
        acked_keys += [built[i][1] for i in ok]
        rounds.append(
            {"round": k, "killed_after_s": round(kill_after, 3), "acknowledged": len(ok), "failed": lost_conn}
        )
        print(f"round {k + 1:2d}/{args.kills}: killed after {kill_after:.2f} s, {len(ok)} acked, {lost_conn} failed")

    present = stored_keys(database_url)
    missing = [key for key in acked_keys if key not in present]
    balanced = sent == acked_total + rejected + failed
    report = {
        "benchmark": "gateway_crash",
        "when": datetime.now(UTC).isoformat(),
        "database": "sqlite (WAL, synchronous=FULL)" if args.database_url is None else "given URL",
        "kills": args.kills,
        "rate": args.rate,
        "ledger": {
            "sent": sent,
            "acknowledged": acked_total,
            "rejected": rejected,
            "failed": failed,
            "balanced": balanced,
            "acknowledged_missing_after_crashes": len(missing),
            "stored_rows": len(present),
        },
        "rounds": rounds,
    }
    from bench._common import save

    path = save("gateway_crash", report)
    verdict = "PASS" if balanced and not missing and acked_total > 0 else "FAIL"
    print(
        f"{args.kills} kill -9: sent={sent} acknowledged={acked_total} rejected={rejected} failed={failed} "
        f"ledger {'balanced' if balanced else 'VOID'}; acknowledged but lost: {len(missing)} -> {verdict}"
    )
    print(f"raw numbers: {path}")
    if verdict != "PASS":
        sys.exit(1)


if __name__ == "__main__":
    main()
