"""Time to customer: a job closed in Jobber (the sandbox) -> the SMS accepted by Twilio, the whole stack running.

    .venv/bin/python -m bench.time_to_customer                       # 1, 5, 20 jobs/s x 120 s, then 1,000 in 60 s
    .venv/bin/python -m bench.time_to_customer --quick               # 1 and 5 jobs/s x 20 s, then 100 in 6 s
    .venv/bin/python -m bench.time_to_customer --topology postgres --workers 2

The whole stack runs as users run it, each service in its own process (bench/stack.py: the sandbox, the
gateway with its relay, a Prefect server, the runner, `--workers` event workers, a Twilio-compatible endpoint
the official SDK talks to), with review settings as in the demo (delay 0, quiet hours off, cooldown 0, SMS
only; jobs are chosen among clients with an SMS-capable phone).

Phases, open loop (jobs closed at their scheduled times through POST /sandbox/actions/close_job by a
thread pool; latency counted from the scheduled time): a warm-up of 3 jobs (not in the figures), then
`--phases` rates for `--phase-seconds` each, then `--burst` jobs within `--burst-seconds`. After each
phase, a drain: until every job closed so far is accounted for (or `--drain-timeout`).

The ledger (bench/ledger.py) must balance: closed == one message + reason; duplicates and lost must be 0,
else the run is VOID.

Per phase: close -> handed-to-Twilio p50/p95/p99/max, closing rate and handed-over rate achieved, Prefect
flow and task runs created per job (by expected start time in the phase window, by flow name and state),
Jobber points per job (the sandbox's points_charged), THROTTLED / 429, gateway ack p99 over the phase
(bucket deltas of gateway_ack_seconds{endpoint="jobber_webhook"}), the inbox backlog and the outstanding
work at the end of the closing window. Raw numbers (every job: close time, sent time, sid or reason) go
to bench/results/time_to_customer-<topology>-<time>.json; service logs stay in the printed run folder.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench._common import RESULTS  # noqa: E402
from bench.ledger import JobRecord, balance  # noqa: E402
from bench.observe import histogram_quantile, prefect_runs, sandbox_counters, sandbox_state, scrape_metrics, summary  # noqa: E402
from bench.stack import Harness, print_troubles, run_main  # noqa: E402


# -- the run ---------------------------------------------------------------------------------------------
class Bench(Harness):
    prefix = "ttc"

    def __init__(self, args: argparse.Namespace) -> None:
        super().__init__(args)
        self.phases: list[dict[str, Any]] = []

    # -- phases --------------------------------------------------------------------------------------
    def run(self) -> None:
        a = self.args
        plan: list[tuple[str, int, float]] = [("warm-up", 3, 6.0)]
        plan += [(f"{rate:g}/s", max(1, round(rate * a.phase_seconds)), a.phase_seconds) for rate in a.phases]
        if a.burst:
            plan.append((f"burst {a.burst} in {a.burst_seconds:g} s", a.burst, a.burst_seconds))
        sampler = self.start_sampler()
        pool = ThreadPoolExecutor(max_workers=a.closers, thread_name_prefix="closer")
        try:
            for name, count, seconds in plan:
                self._phase(name, count, seconds, pool)
        finally:
            pool.shutdown(wait=False, cancel_futures=True)
            self._stop_sampling.set()
            sampler.join(10)

    def _phase(self, name: str, count: int, seconds: float, pool: ThreadPoolExecutor) -> None:
        assert self.ledger is not None
        workers = self.args.gateway_workers
        metrics_start = scrape_metrics(self.gateway_url, self.admin_token, workers)
        sandbox_start = sandbox_counters(sandbox_state(self.sandbox_url))
        start = time.time()
        print(f"phase {name}: closing {count} jobs over {seconds:g} s ...", flush=True)
        records = self.close_jobs(name, count, seconds, pool)
        closed_end = time.time()
        self.ledger.refresh()
        end_metrics = scrape_metrics(self.gateway_url, self.admin_token, 1)
        at_close_end = {
            "outstanding_this_phase": self.ledger.outstanding(name),
            "outstanding_all": self.ledger.outstanding(),
            "inbox_backlog": end_metrics.get("backlog") if end_metrics else None,
            "relay_lag_s": end_metrics.get("lag") if end_metrics else None,
            "sandbox_webhooks_pending": sandbox_counters(sandbox_state(self.sandbox_url)).get("webhooks_pending"),
        }
        drained, drain_s = self.drain(self.args.drain_timeout)
        end = time.time()
        metrics_end = scrape_metrics(self.gateway_url, self.admin_token, workers)
        sandbox_end = sandbox_counters(sandbox_state(self.sandbox_url))
        phase = {
            "name": name,
            "jobs": count,
            "seconds": seconds,
            "rate_target": count / seconds,
            "start": start,
            "closing_end": closed_end,
            "end": end,
            "drained": drained,
            "drain_s": round(drain_s, 1),
            "at_close_end": at_close_end,
            "outstanding_after_drain": self.ledger.outstanding(name),
            "sandbox_start": sandbox_start,
            "sandbox_end": sandbox_end,
            "gateway_metrics_start": metrics_start,
            "gateway_metrics_end": metrics_end,
            "close_errors": Counter(r.close_error[:60] for r in records if r.close_error),
        }
        self.phases.append(phase)
        done = count - phase["outstanding_after_drain"]
        print(
            f"  closed by {closed_end - start:.1f} s, {at_close_end['outstanding_this_phase']} outstanding then; "
            f"{'drained' if drained else 'NOT drained'} after {drain_s:.0f} s ({done}/{count} accounted)",
            flush=True,
        )

    # -- results ---------------------------------------------------------------------------------------
    def results(self) -> dict[str, Any]:
        assert self.ledger is not None
        self.ledger.refresh()
        jobs = list(self.ledger.jobs.values())
        phases = []
        for i, phase in enumerate(self.phases):
            window_end = self.phases[i + 1]["start"] if i + 1 < len(self.phases) else phase["end"]
            phases.append(self._phase_figures(phase, [j for j in jobs if j.phase == phase["name"]], window_end))
        ledger = balance([j for j in jobs if j.phase != "warm-up"])
        # every run the server holds, scheduled ones included (a schedule that never produces a run shows here)
        whole_run = prefect_runs(self.prefect_api, 0.0, time.time() + 86400)
        return {
            "command": " ".join(sys.argv),
            "topology": self.topology,
            "run_dir": str(self.run_dir),
            "review_settings": self.review_settings,
            "phases": phases,
            "ledger": ledger,
            "prefect_whole_run": whole_run,
            "twilio": self.ledger.twilio_figures(),
            "crashes": self.stack.crashes,
            "log_problems": self.log_problems(),
            "notes": self.notes,
            "samples": self.samples,
            "jobs": [
                {
                    "number": j.number,
                    "job_id": j.job_id,
                    "phase": j.phase,
                    "close_scheduled": round(j.scheduled, 3),
                    "close_started": round(j.close_started, 3) if j.close_started else None,
                    "close_status": j.close_status,
                    "close_error": j.close_error,
                    "sent": round(j.sent, 3) if j.sent else None,
                    "latency_s": round(j.sent - j.scheduled, 3) if j.sent else None,
                    "sids": j.sids,
                    "status": j.status,
                    "reason": j.reason,
                }
                for j in sorted(jobs, key=lambda j: j.scheduled)
            ],
        }

    def _phase_figures(self, phase: dict[str, Any], jobs: list[JobRecord], window_end: float) -> dict[str, Any]:
        closed = [j for j in jobs if j.closed]
        latencies = [j.sent - j.scheduled for j in closed if j.sent is not None]
        lag = [j.close_started - j.scheduled for j in jobs if j.close_started]
        started = [j.close_started for j in jobs if j.close_started]
        closing_s = max((j.close_done or 0) for j in jobs) - min(started) if started else 0
        accounted = sorted(j.accounted_at for j in closed if j.accounted_at)
        handed_s = (accounted[-1] - phase["start"]) if accounted else None
        sb0, sb1 = phase["sandbox_start"], phase["sandbox_end"]
        n = max(len(closed), 1)

        def delta(key: str) -> float | None:
            a, b = sb0.get(key), sb1.get(key)
            return None if a is None or b is None else b - a

        runs = prefect_runs(self.prefect_api, phase["start"], window_end)
        ack = histogram_quantile(0.99, phase["gateway_metrics_start"], phase["gateway_metrics_end"])
        ack50 = histogram_quantile(0.50, phase["gateway_metrics_start"], phase["gateway_metrics_end"])
        g0, g1 = phase["gateway_metrics_start"] or {}, phase["gateway_metrics_end"] or {}
        outcomes = {k: v - (g0.get("outcomes") or {}).get(k, 0) for k, v in (g1.get("outcomes") or {}).items()}
        queries = Counter(sb1.get("queries_by_root_field") or {})
        queries.subtract(sb0.get("queries_by_root_field") or {})
        return {
            "name": phase["name"],
            "jobs_closed": len(closed),
            "close_failed": len(jobs) - len(closed),
            "close_errors": dict(phase["close_errors"]),
            "rate_target": round(phase["rate_target"], 2),
            # n closes span n - 1 intervals of the schedule
            "closing_rate_achieved": round((len(closed) - 1) / closing_s, 2) if closing_s > 0 and closed else None,
            "close_schedule_lag_s": summary(lag),
            "time_to_twilio_s": summary(latencies),
            "handed_rate": round(len(accounted) / handed_s, 2) if handed_s else None,
            "seconds_until_all_accounted": round(handed_s, 1) if handed_s and len(accounted) == len(closed) else None,
            "drained": phase["drained"],
            "drain_s": phase["drain_s"],
            "ledger": balance(jobs),
            "at_close_end": phase["at_close_end"],
            "outstanding_after_drain": phase["outstanding_after_drain"],
            "backlog_slope_per_s": self._backlog_slope(phase),
            "prefect": runs,
            "flow_runs_per_job": round(runs["flow_runs"] / n, 2) if isinstance(runs.get("flow_runs"), int) else None,
            "task_runs_per_job": round(runs["task_runs"] / n, 2) if isinstance(runs.get("task_runs"), int) else None,
            "jobber": {
                "points": delta("points_charged"),
                "points_per_job": round(delta("points_charged") / n, 1)
                if delta("points_charged") is not None
                else None,  # type: ignore[operator]
                "queries": delta("graphql_queries"),
                "queries_per_job": round((delta("graphql_queries") or 0) / n, 2),
                "queries_by_root_field": {k: v for k, v in queries.items() if v},
                "throttled": delta("throttled"),
                "http_429": delta("rate_limited_429"),
                "webhooks_emitted": delta("webhooks_emitted"),
                "webhooks_failed": delta("webhooks_failed"),
            },
            "gateway": {
                "webhooks_acknowledged": ack["n"],
                "outcomes": outcomes,
                "ack_p50_s": ack50["p"],
                "ack_p99_s": ack["p"],
                "ack_p99_bucket_le": ack["bucket_le"],
                "registries_scraped": g1.get("registries"),
            },
        }

    def _backlog_slope(self, phase: dict[str, Any]) -> float | None:
        """Outstanding jobs per second over the second half of the closing window (> 0: work piles up)."""
        mid = (phase["start"] + phase["closing_end"]) / 2
        points = [(s["t"], s["outstanding"]) for s in self.samples if mid <= s["t"] <= phase["closing_end"]]
        if len(points) < 2:
            return None
        xs, ys = zip(*points, strict=True)
        mx, my = statistics.fmean(xs), statistics.fmean(ys)
        den = sum((x - mx) ** 2 for x in xs)
        return round(sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / den, 3) if den else None


# -- output ------------------------------------------------------------------------------------------------
def ms(value: float | None) -> str:
    return "-" if value is None else f"{1000 * value:.0f} ms"


def s(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f} s"


def print_summary(result: dict[str, Any], path: Path) -> None:
    topo = result["topology"]
    print(
        f"\ntime to customer [{topo['topology']}, gateway x{topo['gateway_workers']}, runner + "
        f"{topo['event_workers']} event worker(s)]"
    )
    for p in result["phases"]:
        if p["name"] == "warm-up":
            t = p["time_to_twilio_s"]
            print(f"[warm-up] {p['jobs_closed']} jobs, close->Twilio {s(t.get('p50'))} p50 (not in the figures)")
            continue
        t, led, j, g, end = p["time_to_twilio_s"], p["ledger"], p["jobber"], p["gateway"], p["at_close_end"]
        tag = f"[{p['name']}]"
        print(
            f"{tag} close->Twilio: p50 {s(t.get('p50'))}, p95 {s(t.get('p95'))}, p99 {s(t.get('p99'))}, "
            f"max {s(t.get('max'))} (n={t.get('n')})"
        )
        print(
            f"{tag} throughput: closed {p['jobs_closed']} at {p['closing_rate_achieved']}/s (target "
            f"{p['rate_target']}/s, close lag p99 {ms(p['close_schedule_lag_s'].get('p99'))}); handed over "
            f"{p['handed_rate']} jobs/s; all accounted after {p['seconds_until_all_accounted']} s"
        )
        print(
            f"{tag} ledger: {led['closed']} closed = {led['one_message']} one message + {led['reason_recorded']} "
            f"reason + {led['duplicates']} duplicates; {led['lost']} lost or unfinished -> "
            f"{'balanced' if led['balanced'] else 'NOT BALANCED'}"
        )
        runs = p["prefect"]
        print(
            f"{tag} orchestration: {p['flow_runs_per_job']} flow runs/job ({runs.get('flow_runs')}: "
            f"{runs.get('flow_runs_by_flow')}), {p['task_runs_per_job']} task runs/job ({runs.get('task_runs')}, "
            f"{runs.get('background_task_runs')} background), flow-run start lag p50 "
            f"{s(runs.get('flow_run_start_lag_s', {}).get('p50'))}"
        )
        print(
            f"{tag} Jobber: {j['points_per_job']} points/job ({j['points']} points, "
            f"{j['queries_per_job']} queries/job), "
            f"{j['throttled']} THROTTLED, {j['http_429']} HTTP 429"
        )
        print(
            f"{tag} gateway: ack p99 {ms(g['ack_p99_s'])} (bucket <= {g['ack_p99_bucket_le']}), p50 "
            f"{ms(g['ack_p50_s'])}, {g['webhooks_acknowledged']} webhooks {g['outcomes']}"
        )
        print(
            f"{tag} backlog at end of closing: {end['outstanding_this_phase']} jobs outstanding (all: "
            f"{end['outstanding_all']}, slope {p['backlog_slope_per_s']}/s), inbox backlog {end['inbox_backlog']}, "
            f"relay lag {end['relay_lag_s']} s, sandbox webhooks pending {end['sandbox_webhooks_pending']}; "
            f"{'drained' if p['drained'] else 'NOT drained'} in {p['drain_s']} s"
        )
    led = result["ledger"]
    tw = result["twilio"]
    verdict = "OK" if led["balanced"] else "VOID (ledger does not balance)"
    print(
        f"ledger over all phases [{verdict}]: {led['closed']} closed = {led['one_message']} one message + "
        f"{led['reason_recorded']} reason recorded + {led['duplicates']} duplicates, {led['lost']} lost or unfinished "
        f"when the run ended (by review_requests status: {led['lost_by_status'] or '-'}); reasons {led['reasons']}"
    )
    print(
        f"Twilio: {tw['accepted']} accepted, {len(tw['unmatched_messages'])} unmatched, "
        f"{tw['accepted_but_not_recorded_in_deliveries']} not recorded in deliveries, "
        f"{len(tw['recorded_sent_but_never_accepted'])} recorded but never accepted, "
        f"{tw['rejected_requests']} rejected requests"
    )
    whole = result["prefect_whole_run"]
    print(
        f"Prefect over the whole run: {whole.get('flow_runs')} flow runs {whole.get('flow_runs_by_state')}, "
        f"{whole.get('task_runs')} task runs"
    )
    print_troubles(result)
    for note in result["notes"][:10]:
        print(f"note: {note}")
    print(f"-> {path}")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--phases", default="1,5,20", help="open-loop closing rates, jobs/s (comma-separated)")
    parser.add_argument("--phase-seconds", type=float, default=120.0)
    parser.add_argument("--burst", type=int, default=1000, help="jobs closed in the burst (0: no burst)")
    parser.add_argument("--burst-seconds", type=float, default=60.0)
    parser.add_argument("--topology", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--workers", type=int, default=None, help="`jobberflow worker` processes (1; 2 on postgres)")
    parser.add_argument("--gateway-workers", type=int, default=None, help="gateway processes (1; 2 on postgres)")
    parser.add_argument("--drain-timeout", type=float, default=300.0, help="seconds to wait after each phase")
    parser.add_argument("--closers", type=int, default=32, help="threads closing jobs (open loop)")
    parser.add_argument("--sample-interval", type=float, default=5.0)
    parser.add_argument("--keep-databases", action="store_true", help="keep the PostgreSQL databases afterwards")
    parser.add_argument("--quick", action="store_true", help="smoke run: 1 and 5 jobs/s x 20 s, 100 jobs in 6 s")
    args = parser.parse_args(argv)
    if args.quick:
        args.phases, args.phase_seconds, args.burst, args.burst_seconds = "1,5", 20.0, 100, 6.0
        args.drain_timeout = min(args.drain_timeout, 240.0)
    args.phases = [float(x) for x in str(args.phases).split(",") if x.strip()]
    if args.workers is None:
        args.workers = 2 if args.topology == "postgres" else 1
    if args.gateway_workers is None:
        args.gateway_workers = 2 if args.topology == "postgres" else 1
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    bench = Bench(args)
    result = run_main(bench, bench.run, bench.results)
    if result is None or not bench.phases:
        return 1
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"time_to_customer-{args.topology}-{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}.json"
    path.write_text(json.dumps(result, indent=2, default=_json_default), encoding="utf-8")
    print_summary(result, path)
    return 0 if result["ledger"]["balanced"] and not result["interrupted"] else 1


def _json_default(value: Any) -> Any:
    if isinstance(value, Counter):
        return dict(value)
    if hasattr(value, "__dataclass_fields__"):
        return asdict(value)
    return str(value)


if __name__ == "__main__":
    raise SystemExit(main())
