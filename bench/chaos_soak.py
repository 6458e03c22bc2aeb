"""Chaos soak: the whole running stack at 2 jobs/s closed in the sandbox for 30 minutes, under faults; at the end
the ledger must balance: nothing lost, nothing sent twice, nothing sent in quiet hours.

    .venv/bin/python -m bench.chaos_soak                 # 30 minutes (issue 10's "How it is shown")
    .venv/bin/python -m bench.chaos_soak --quick         # ~3 minutes, every fault at least once
    .venv/bin/python -m bench.chaos_soak --minutes 10 --workers 1

The stack is bench/stack.py's (the sandbox, `jobberflow gateway` with its relay, a Prefect server, the runner
serving prefect.yaml, `--workers` event workers, Twilio through the official SDK at a local endpoint). Faults:

- every `--kill-every` seconds (120) a kill -9 of the gateway process (its relay child dies with it) and, half
  a period later, of one event worker in turn; each is started again 2 s later with the same command, as
  systemd's Restart=always would;
- one Prefect server restart (at 30 % of the run);
- one Jobber outage of `--outage-minutes` (5, from 50 % of the run): bench/fault_proxy.py sits between the
  stack and the sandbox's API and fails every request (503 or a dropped connection); at other times it
  answers `--jobber-error-rate` (5 %) of them with 429 / 500 / 502 / 503 itself;
- Twilio failing `--twilio-fail-rate` (20 %) of sends: half before accepting (503, no message), half after
  accepting with the answer lost (the message is created and counted, then the connection is dropped or a
  500 comes back).

Quiet hours are on (no SMS inside [start, end) in the recipient's zone), with a window placed so that during
the run some customers are in quiet hours throughout (New York, Toronto, Halifax), one zone enters them at
mid-run (Chicago) and one leaves them at mid-run (Honolulu: requests deferred in the first half go out in the
second). Review settings otherwise as time_to_customer's (delay 0, cooldown 0, SMS only).

Closing stops at the end of the run, the kills stop, the Jobber and Twilio fault rates stay; then a drain
until every closed job is accounted for (or `--drain-timeout`). The verdict (bench/ledger.py, plus the quiet
hours check here): every closed job has exactly one message at the Twilio endpoint, or a recorded reason, or
is deferred because its recipient is in quiet hours (planned for the end of them, in the recipient's zone,
still ahead); 0 duplicates, 0 lost, 0
messages that arrived in the recipient's quiet hours (the zone of the job's property in the sandbox's seed,
computed here, not read from the project). Figures are printed; the raw ledger goes to
bench/results/chaos_soak-<time>.json (everything) and .csv (one row per closed job).
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from datetime import time as clock
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench._common import RESULTS  # noqa: E402
from bench.fault_proxy import FaultProxy  # noqa: E402
from bench.ledger import JobRecord, balance, deferred_for_quiet_hours  # noqa: E402
from bench.observe import prefect_runs, sandbox_counters, sandbox_state, summary  # noqa: E402
from bench.stack import REVIEW_SETTINGS, Harness, print_troubles, run_main, wait_http  # noqa: E402

ENTERS_AT_MID = "America/Chicago"  # quiet hours start at mid-run here
LEAVES_AT_MID = "Pacific/Honolulu"  # and end at mid-run here
STARTUP_ALLOWANCE = timedelta(minutes=1)  # from the bench's start to the first close (measured: 40-70 s)
RESTART_DELAY_S = 2.0  # systemd's RestartSec


def quiet_window(mid: datetime) -> tuple[clock, clock]:
    """[start, end) local: starts at `mid` in ENTERS_AT_MID, ends at `mid` in LEAVES_AT_MID."""
    start = mid.astimezone(ZoneInfo(ENTERS_AT_MID)).time().replace(second=0, microsecond=0)
    end = mid.astimezone(ZoneInfo(LEAVES_AT_MID)).time().replace(second=0, microsecond=0)
    return start, end


def in_quiet(moment: datetime, zone: str, start: clock, end: clock) -> bool:
    local = moment.astimezone(ZoneInfo(zone)).time()
    return start <= local < end if start < end else (local >= start or local < end)


class Soak(Harness):
    prefix = "chaos"

    def __init__(self, args: argparse.Namespace) -> None:
        self.run_seconds = args.minutes * 60.0
        self.mid = datetime.now(UTC) + STARTUP_ALLOWANCE + timedelta(seconds=self.run_seconds / 2)
        self.quiet_start, self.quiet_end = quiet_window(self.mid)
        settings = {
            **REVIEW_SETTINGS,
            "quiet_hours_enabled": True,
            "quiet_hours_start": self.quiet_start.strftime("%H:%M"),
            "quiet_hours_end": self.quiet_end.strftime("%H:%M"),
        }
        super().__init__(args, review_settings=settings)
        self.proxy: FaultProxy | None = None
        self.chaos: list[dict[str, Any]] = []
        self.stop_event = threading.Event()  # no more closes, no more chaos
        self.chaos_done = threading.Event()
        self.closing = threading.Event()  # the stack is being stopped
        self.run_window: tuple[float, float, float] = (0.0, 0.0, 0.0)  # closing start, closing end, drained
        self.drained = False
        self._twilio_random = random.Random(args.seed)  # noqa: S311 - fault injection

    def jobber_front(self, sandbox_url: str) -> str:
        self.proxy = FaultProxy(sandbox_url, error_rate=0.0, seed=self.args.seed).start()
        return self.proxy.url

    def start(self) -> None:
        super().start()
        assert self.ledger is not None
        self.ledger.quiet_end = self.quiet_end

    def _twilio_fault(self) -> str | None:
        r = self._twilio_random.random() / self.args.twilio_fail_rate if self.args.twilio_fail_rate else 2.0
        return "refuse" if r < 0.5 else "accept_then_drop" if r < 0.75 else "accept_then_5xx" if r < 1.0 else None

    # -- the run ---------------------------------------------------------------------------------------
    def schedule(self) -> list[tuple[float, str]]:
        a, total = self.args, self.run_seconds
        plan: list[tuple[float, str]] = []
        for i, t in enumerate(range(int(a.kill_every), int(total), int(a.kill_every))):
            plan.append((float(t), "kill gateway"))
            if t + a.kill_every / 2 < total:
                plan.append((t + a.kill_every / 2, f"kill worker-{i % a.workers + 1}"))
        plan.append((0.3 * total, "restart prefect-server"))
        plan.append((0.5 * total, "jobber outage start"))
        plan.append((0.5 * total + a.outage_minutes * 60, "jobber outage end"))
        return sorted(plan)

    def _chaos(self, t0: float) -> None:
        for at, action in self.schedule():
            if self.stop_event.wait(max(0.0, t0 + at - time.monotonic())):
                break
            started = time.time()
            entry: dict[str, Any] = {"at_s": round(at, 1), "action": action, "wall": started}
            try:
                entry.update(self._act(action))
            except Exception as exc:  # noqa: BLE001 - recorded; the soak goes on
                entry["error"] = f"{type(exc).__name__}: {exc}"[:300]
            entry["took_s"] = round(time.time() - started, 1)
            self.chaos.append(entry)
            print(f"  [{at:6.0f} s] {action}: { ({k: v for k, v in entry.items() if k not in ('wall',)}) }", flush=True)
        if self.proxy is not None:
            self.proxy.outage.clear()
        self.chaos_done.set()
        # The services started again here got their parent-death signal bound to THIS thread (Linux's
        # PR_SET_PDEATHSIG follows the thread that forked): it must outlive them, until the stack is stopped.
        self.closing.wait()

    def _act(self, action: str) -> dict[str, Any]:
        assert self.proxy is not None
        if action == "jobber outage start":
            self.proxy.outage.set()
            return {}
        if action == "jobber outage end":
            self.proxy.outage.clear()
            return {}
        verb, name = action.split(" ", 1)
        if verb == "kill":
            pid = self.stack.kill(name)
            time.sleep(RESTART_DELAY_S)
        else:
            pid = self.stack.get(name).proc.pid
            self.stack.stop_one(name)
        service = self.stack.restart(name)
        out: dict[str, Any] = {"pid": pid, "new_pid": service.proc.pid}
        health = {"gateway": f"{self.gateway_url}/healthz", "prefect-server": f"{self.prefect_api}/health"}
        if name in health:
            up = time.monotonic()
            wait_http(health[name], name, service, timeout=120)
            out["back_after_s"] = round(time.monotonic() - up + (RESTART_DELAY_S if verb == "kill" else 0), 1)
        return out

    def run(self) -> None:
        a = self.args
        assert self.proxy is not None
        sampler = self.start_sampler()
        pool = ThreadPoolExecutor(max_workers=a.closers, thread_name_prefix="closer")
        self.proxy.error_rate = a.jobber_error_rate
        self.twilio.faults = self._twilio_fault
        print(
            f"soak: {a.rate:g} jobs/s for {a.minutes:g} min; quiet hours {self.quiet_start:%H:%M}-"
            f"{self.quiet_end:%H:%M} local (starts in {ENTERS_AT_MID} and ends in {LEAVES_AT_MID} at "
            f"{self.mid:%H:%M} UTC); chaos: {[(round(t), x) for t, x in self.schedule()]}",
            flush=True,
        )
        t0 = time.monotonic()
        chaos = threading.Thread(target=self._chaos, args=(t0,), name="chaos", daemon=True)
        chaos.start()
        closing_start = closing_end = time.time()
        try:
            self.close_jobs("soak", round(a.rate * self.run_seconds), self.run_seconds, pool, stop=self.stop_event)
            closing_end = time.time()
            self.chaos_done.wait(600)
            print(f"closed {self.ledger.closed_count() if self.ledger else '?'} jobs; draining ...", flush=True)
            self.drained, drain_s = self.drain(a.drain_timeout)
            print(f"  {'drained' if self.drained else 'NOT drained'} after {drain_s:.0f} s", flush=True)
        finally:
            self.run_window = (closing_start, closing_end, time.time())
            self.stop_event.set()
            pool.shutdown(wait=False, cancel_futures=True)
            self._stop_sampling.set()
            sampler.join(10)

    # -- the verdict -----------------------------------------------------------------------------------
    def zone_of(self, record: JobRecord) -> str:
        job = self.seed_jobs[record.number]
        return str(job.property_.timezone if job.property_ is not None else "America/Chicago")

    def results(self) -> dict[str, Any]:
        assert self.ledger is not None and self.proxy is not None
        self.ledger.refresh()
        jobs = list(self.ledger.jobs.values())
        start, end = self.quiet_start, self.quiet_end
        ledger = balance(jobs, quiet_end=end)
        messages = {m.sid: m for m in self.twilio.snapshot()}
        rows, night, zone_mismatch, late_from_quiet, deferred_zones = [], [], 0, 0, Counter[str]()
        for j in sorted(jobs, key=lambda r: r.scheduled):
            zone = self.zone_of(j)
            zone_mismatch += bool(j.zone and j.zone != zone)
            sends = [messages[sid] for sid in j.sids if sid in messages]
            quiet_sends = [m for m in sends if in_quiet(datetime.fromtimestamp(m.arrived, UTC), zone, start, end)]
            night += [{"number": j.number, "zone": zone, "sid": m.sid, "arrived": m.arrived} for m in quiet_sends]
            closed_in_quiet = in_quiet(datetime.fromtimestamp(j.scheduled, UTC), zone, start, end)
            late_from_quiet += bool(closed_in_quiet and sends)
            if deferred_for_quiet_hours(j, end):
                deferred_zones[zone] += 1
            rows.append(
                {
                    "number": j.number,
                    "job_id": j.job_id,
                    "zone": zone,
                    "recorded_zone": j.zone,
                    "close_scheduled": round(j.scheduled, 3),
                    "close_status": j.close_status,
                    "close_error": j.close_error,
                    "closed_in_quiet_hours": closed_in_quiet,
                    "messages": len(sends),
                    "sids": " ".join(j.sids),
                    "sent": " ".join(f"{m.arrived:.3f}" for m in sends),
                    "sent_local": " ".join(
                        datetime.fromtimestamp(m.arrived, UTC).astimezone(ZoneInfo(zone)).strftime("%H:%M:%S")
                        for m in sends
                    ),
                    "sent_in_quiet_hours": len(quiet_sends),
                    "status": j.status,
                    "reason": j.reason,
                    "planned_at": j.planned_at.isoformat() if j.planned_at else None,
                }
            )
        lost_answers = self.twilio.fault_counts["accept_then_drop"] + self.twilio.fault_counts["accept_then_5xx"]
        for job_id, others in self.ledger.other_jobs.items():  # the seed's closes the review poll found
            zone = self.ledger.zones.get(job_id) or "America/Chicago"
            night += [
                {"job_id": job_id, "zone": zone, "sid": m.sid, "arrived": m.arrived}
                for m in others
                if in_quiet(datetime.fromtimestamp(m.arrived, UTC), zone, start, end)
            ]
        closing_start, closing_end, finished = self.run_window
        latencies = [j.sent - j.scheduled for j in jobs if j.closed and j.sent is not None]
        return {
            "command": " ".join(sys.argv),
            "topology": self.topology,
            "run_dir": str(self.run_dir),
            "review_settings": self.review_settings,
            "quiet_hours": {"start": f"{start:%H:%M}", "end": f"{end:%H:%M}", "mid_run_utc": self.mid.isoformat()},
            "window": {"closing_s": round(closing_end - closing_start, 1), "drain_s": round(finished - closing_end, 1)},
            "drained": self.drained,
            "ledger": ledger,
            "quiet_hours_check": {
                "messages_in_quiet_hours": len(night),
                "night_sends": night[:50],
                "deferred_by_zone": dict(deferred_zones),
                "closed_in_quiet_hours_then_sent_after": late_from_quiet,
                "closed_in_quiet_hours": sum(1 for r in rows if r["closed_in_quiet_hours"]),
                "recorded_zone_differs_from_property_zone": zone_mismatch,
            },
            "close_to_twilio_s": summary(latencies),
            "twilio": {**self.ledger.twilio_figures(), "accepted_with_answer_lost": lost_answers},
            "jobber_proxy": dict(self.proxy.counts),
            "sandbox": sandbox_counters(sandbox_state(self.sandbox_url)),
            "chaos": self.chaos,
            "crashes": self.stack.crashes,
            "log_problems": self.log_problems(),
            "prefect_whole_run": prefect_runs(self.prefect_api, 0.0, time.time() + 86400),
            "notes": self.notes,
            "samples": self.samples,
            "jobs": rows,
        }

    def close(self) -> None:
        self.stop_event.set()
        try:
            super().close()
        finally:
            self.closing.set()
            if self.proxy is not None:
                self.proxy.stop()


def verdict(result: dict[str, Any]) -> bool:
    led, quiet, tw = result["ledger"], result["quiet_hours_check"], result["twilio"]
    return bool(
        led["balanced"]
        and not quiet["messages_in_quiet_hours"]
        and not tw["unmatched_messages"]
        and not tw["duplicates_for_jobs_the_bench_did_not_close"]
        and not result["interrupted"]
    )


def print_summary(result: dict[str, Any], paths: list[Path]) -> None:
    led, quiet, tw, t = result["ledger"], result["quiet_hours_check"], result["twilio"], result["close_to_twilio_s"]
    kills = Counter(c["action"].split(" ")[0] + " " + c["action"].split(" ")[-1].split("-")[0] for c in result["chaos"])
    print(f"\nchaos soak [{'OK' if verdict(result) else 'FAILED'}] {result['topology']}")
    print(
        f"ledger: {led['closed']} closed = {led['one_message']} one message + {led['reason_recorded']} reason + "
        f"{led['deferred_quiet_hours']} deferred for quiet hours; {led['duplicates']} duplicates, {led['lost']} lost "
        f"({led['lost_by_status'] or '-'}); {led['close_failed']} closes refused by the sandbox; "
        f"reasons {led['reasons']}"
    )
    print(
        f"quiet hours {result['quiet_hours']['start']}-{result['quiet_hours']['end']}: "
        f"{quiet['messages_in_quiet_hours']} messages in quiet hours; {quiet['closed_in_quiet_hours']} jobs closed "
        f"in their quiet hours, {quiet['closed_in_quiet_hours_then_sent_after']} of them sent after the hours ended; "
        f"deferred to the end of quiet hours: {quiet['deferred_by_zone']}"
    )
    print(
        f"Twilio: {tw['accepted']} accepted; faults {tw['faults']}; {tw['accepted_but_not_recorded_in_deliveries']} "
        f"accepted but not in deliveries {tw['accepted_but_not_recorded_why'] or ''}, "
        f"{len(tw['recorded_sent_but_never_accepted'])} recorded but never accepted, "
        f"{len(tw['unmatched_messages'])} unmatched, {tw['list_requests']} list requests (reconciliation); "
        f"{tw['messages_for_jobs_the_bench_did_not_close']} for jobs the seed closed (found by the review poll), "
        f"{tw['duplicates_for_jobs_the_bench_did_not_close']} of them duplicates"
    )
    print(f"Jobber (proxy): {result['jobber_proxy']}")
    print(
        f"chaos: {dict(kills)}; close -> Twilio p50 {t.get('p50')} s, p95 {t.get('p95')} s, max {t.get('max')} s; "
        f"{'drained' if result['drained'] else 'NOT drained'} after {result['window']['drain_s']} s"
    )
    print_troubles(result)
    for path in paths:
        print(f"-> {path}")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=30.0, help="how long jobs are closed (default 30)")
    parser.add_argument("--rate", type=float, default=2.0, help="jobs closed per second")
    parser.add_argument("--quick", action="store_true", help="~3 minutes, every fault at least once")
    parser.add_argument("--kill-every", type=float, default=120.0, help="seconds between gateway kills")
    parser.add_argument("--outage-minutes", type=float, default=5.0)
    parser.add_argument("--jobber-error-rate", type=float, default=0.05)
    parser.add_argument("--twilio-fail-rate", type=float, default=0.20)
    parser.add_argument("--workers", type=int, default=2, help="`jobberflow worker` processes")
    parser.add_argument("--gateway-workers", type=int, default=1)
    parser.add_argument("--topology", choices=("sqlite", "postgres"), default="sqlite")
    drain_help = (
        "seconds (a killed worker's claims are taken over after their lease, 10 minutes; webhooks lost while "
        "the gateway was down wait for the review poll, which runs once the load stops: 20 minutes were short)"
    )
    parser.add_argument("--drain-timeout", type=float, default=1800.0, help=drain_help)
    parser.add_argument("--closers", type=int, default=16)
    parser.add_argument("--sample-interval", type=float, default=10.0)
    parser.add_argument("--seed", type=int, default=10)
    parser.add_argument("--keep-databases", action="store_true")
    args = parser.parse_args(argv)
    if args.quick:
        args.minutes, args.kill_every, args.outage_minutes = 3.0, 40.0, 0.5
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    soak = Soak(args)
    result = run_main(soak, soak.run, soak.results)
    if result is None:
        return 1
    RESULTS.mkdir(parents=True, exist_ok=True)
    stem = RESULTS / f"chaos_soak-{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}"
    json_path, csv_path = stem.with_suffix(".json"), stem.with_suffix(".csv")
    json_path.write_text(json.dumps(result, indent=2, default=str), encoding="utf-8")
    with csv_path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.DictWriter(out, fieldnames=list(result["jobs"][0]) if result["jobs"] else ["number"])
        writer.writeheader()
        writer.writerows(result["jobs"])
    print_summary(result, [json_path, csv_path])
    return 0 if verdict(result) else 1


if __name__ == "__main__":
    raise SystemExit(main())
