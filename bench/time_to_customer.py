"""Time to customer: a job closed in Jobber (the sandbox) -> the SMS accepted by Twilio, the whole stack running.

    .venv/bin/python -m bench.time_to_customer                       # 1, 5, 20 jobs/s x 120 s, then 1,000 in 60 s
    .venv/bin/python -m bench.time_to_customer --quick               # 1 and 5 jobs/s x 20 s, then 100 in 6 s
    .venv/bin/python -m bench.time_to_customer --topology postgres --workers 2

Every service runs in its own process, as users run it (each started with start_new_session and stopped in
a `finally`, also on Ctrl-C / SIGTERM):

1. the Jobber sandbox (`jobberflow sandbox serve`, 8,000 clients / 12,000 jobs), signing its webhooks to
2. the gateway as shipped (`jobberflow gateway`, its relay on; `--gateway-workers 2` on PostgreSQL),
3. a Prefect server (`prefect server start`; SQLite in a temp PREFECT_HOME, or a fresh PostgreSQL database),
4. the runner (`jobberflow serve`: every deployment of prefect.yaml) and, when the CLI has it, N
   `jobberflow worker` processes (Prefect background-task workers for Jobber events),
5. a Twilio-compatible endpoint in this process (bench/fake_twilio_server.py) that the official SDK in the
   workers talks to (TWILIO_BASE_URL); it records every accepted message with its arrival time.

The project's database is a fresh SQLite file (or a fresh PostgreSQL database); this process connects it
to the sandbox through the real OAuth flow before any worker starts. Review settings as in the demo:
delay 0, quiet hours off, a real review link; plus cooldown 0 (the sandbox reuses phone numbers, which
the cooldown counts as the same recipient) and SMS only (jobs are chosen among clients with an
SMS-capable phone, so every request goes to Twilio or is skipped with a recorded reason).

Phases, open loop (jobs closed at their scheduled times through POST /sandbox/actions/close_job by a
thread pool; latency counted from the scheduled time): a warm-up of 3 jobs (not in the figures), then
`--phases` rates for `--phase-seconds` each, then `--burst` jobs within `--burst-seconds`. After each
phase, a drain: until every job closed so far is accounted for (or `--drain-timeout`).

A job is accounted for when a Twilio message for it arrived (matched through its click token in the body,
and cross-checked with the provider sid in `deliveries`) or when its `review_requests` row ends with a
recorded reason (skipped / failed / cancelled). The ledger must balance: closed == one message +
reason; duplicates (more than one message for a job) and lost (neither, at the end) must be 0, else the
run is VOID.

Per phase: close -> handed-to-Twilio p50/p95/p99/max, closing rate and handed-over rate achieved, Prefect
flow and task runs created per job (by expected start time in the phase window, by flow name and state),
Jobber points per job (the sandbox's points_charged), THROTTLED / 429, gateway ack p99 over the phase
(bucket deltas of gateway_ack_seconds{endpoint="jobber_webhook"}), the inbox backlog and the outstanding
work at the end of the closing window. Raw numbers (every job: close time, sent time, sid or reason) go
to bench/results/time_to_customer-<topology>-<time>.json; service logs stay in the printed run folder.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench._common import RESULTS, free_port  # noqa: E402
from bench.fake_twilio_server import FakeTwilioServer  # noqa: E402

SANDBOX_CLIENT_ID = "sandbox-client-id"
SANDBOX_CLIENT_SECRET = "sandbox-client-secret"  # noqa: S105 - the sandbox's well-known value
TWILIO_SID = "AC" + "b3" * 16
TWILIO_TOKEN = "bench-twilio-token"  # noqa: S105 - a local stand-in
TWILIO_FROM = "+15005550006"
REVIEW_LINK = "https://g.page/r/evergreen-home-services/review"
REVIEW_SETTINGS = {
    "review_link": REVIEW_LINK,
    "delay_minutes": 0,
    "quiet_hours_enabled": False,
    "cooldown_days": 0,
    "channels": "sms",
}
# The event deployment being built is `jobber-events`; today's are review-request / review-poll.
OVERRIDE_NAMES = ("jobber-events", "review-request", "review-poll")
SEED = {"seed": 42, "clients": 8000, "jobs": 12000, "invoices": 60, "quotes": 20, "users": 5}
TERMINAL_WITH_REASON = ("skipped", "failed", "cancelled")
CLICK_RE = re.compile(r"/r/([A-Za-z0-9_\-]{8,})")
MARKER = "JOBBERFLOW_BENCH_RUN"


# -- processes -----------------------------------------------------------------------------------------
@dataclass
class Service:
    name: str
    proc: subprocess.Popen[bytes]
    log: Path
    started: float = field(default_factory=time.time)


class Stack:
    """Every child process of the run; `stop()` ends them all (group by group, then stragglers by marker)."""

    def __init__(self, run_dir: Path, run_id: str) -> None:
        self.run_dir = run_dir
        self.run_id = run_id
        self.services: list[Service] = []
        self.crashes: list[dict[str, Any]] = []
        self._spawn_fn: Any = None
        self._stop_fn: Any = None
        try:  # another engineer's shared process helpers, when they exist
            from deployments import processes  # type: ignore[attr-defined]

            self._spawn_fn = getattr(processes, "spawn", None)
            self._stop_fn = getattr(processes, "stop", None)
        except ImportError:
            pass

    def spawn(self, name: str, cmd: list[str], env: dict[str, str]) -> Service:
        log = self.run_dir / "logs" / f"{name}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        if self._spawn_fn is not None:  # own session, stdin closed, SIGTERM when this process dies
            proc = self._spawn_fn(cmd, env=env, log_path=log)
        else:
            with log.open("ab") as out:
                proc = subprocess.Popen(  # noqa: S603 - our own commands
                    cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                    start_new_session=True,
                )  # fmt: skip
        service = Service(name, proc, log)
        self.services.append(service)
        return service

    def check(self) -> list[Service]:
        """Services that exited (recorded once as crashes, with their log's tail)."""
        dead = []
        for s in self.services:
            code = s.proc.poll()
            if code is not None and not any(c["name"] == s.name for c in self.crashes):
                self.crashes.append(
                    {
                        "name": s.name,
                        "exit_code": code,
                        "after_s": round(time.time() - s.started, 1),
                        "log": tail(s.log),
                    }
                )
                dead.append(s)
        return dead

    def stop(self) -> None:
        """Newest first (workers before the Prefect server they talk to); each process group as a whole."""
        if self._stop_fn is not None:
            for service in reversed(self.services):
                with contextlib.suppress(Exception):
                    self._stop_fn(service.proc, timeout=15.0)
        else:
            for service in reversed(self.services):
                _stop_group(service.proc, signal.SIGTERM)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    service.proc.wait(timeout=15)
                _stop_group(service.proc, signal.SIGKILL)  # what is left of its group (flow-run subprocesses)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    service.proc.wait(timeout=5)
        self._kill_marked()

    def _kill_marked(self) -> None:
        """Processes that carry this run's marker in their environment but left our groups (none expected)."""
        needle = f"{MARKER}={self.run_id}".encode()
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit() or int(entry.name) == os.getpid():
                continue
            try:
                environ = (entry / "environ").read_bytes()
            except OSError:
                continue
            if needle in environ.split(b"\0"):
                with contextlib.suppress(OSError):
                    os.kill(int(entry.name), signal.SIGKILL)


def _stop_group(proc: subprocess.Popen[bytes], sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, sig)


def tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def wait_http(url: str, what: str, service: Service | None, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=3).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        if service is not None and service.proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {service.proc.returncode}:\n{tail(service.log)}")
        time.sleep(0.5)
    raise RuntimeError(f"{what} did not answer at {url} within {timeout:.0f} s")


# -- the stack's configuration ---------------------------------------------------------------------------
def clean_environment() -> dict[str, str]:
    """Our environment without anything that would point a child at another installation."""
    prefixes = ("PREFECT_", "JOBBER_", "TWILIO_", "SMTP_", "SLACK_", "JOBBERFLOW_", "GATEWAY_", "ADMIN_", "MAKE_")
    keep = {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}
    for name in ("DATABASE_URL", "PUBLIC_URL", "BUSINESS_NAME"):
        keep.pop(name, None)
    return keep


def create_postgres_databases(run_id: str) -> tuple[str, str]:
    import psycopg

    names = (f"ttc_prefect_{run_id}", f"ttc_app_{run_id}")
    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as conn:
        for name in names:
            conn.execute(f'CREATE DATABASE "{name}"')
    return names


def drop_postgres_databases(names: tuple[str, ...]) -> None:
    import psycopg

    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as conn:
        for name in names:
            with contextlib.suppress(Exception):
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def cli_has(command: str, env: dict[str, str]) -> bool:
    """Whether `jobberflow <command>` exists (its --help answers)."""
    done = subprocess.run(  # noqa: S603
        [sys.executable, "-m", "deployments.cli", command, "--help"],
        env=env, cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    return done.returncode == 0


def candidate_jobs() -> list[int]:
    """Job numbers of not-closed jobs whose client can be texted, from the sandbox's deterministic seed."""
    from sandbox.jobber.config import SandboxConfig
    from sandbox.jobber.seed import build_seed

    data = build_seed(SandboxConfig(**SEED))  # type: ignore[arg-type]
    chosen = []
    for job in data.jobs:
        client = job.client
        if job.job_status == "archived" or client is None or client.is_archived:
            continue
        if not client.receives_review_requests or not client.phones:
            continue
        phone = next((p for p in client.phones if p.primary), None)
        if phone is None or not phone.sms_allowed:
            continue
        chosen.append(job.job_number)
    return chosen


# -- measuring -------------------------------------------------------------------------------------------
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
    accounted_at: float | None = None

    @property
    def closed(self) -> bool:
        return self.close_status == 200


class Ledger:
    """Jobs closed, Twilio messages and the project's review_requests, joined per job."""

    def __init__(self, database_url: str, twilio: FakeTwilioServer) -> None:
        import sqlalchemy as sa

        self.engine = sa.create_engine(database_url, pool_pre_ping=True)
        self.twilio = twilio
        self.jobs: dict[str, JobRecord] = {}
        self.lock = threading.Lock()
        self.token_to_job: dict[str, str] = {}
        self.sid_to_job: dict[str, str] = {}
        self.seen_messages = 0
        self.delivery_rows: list[dict[str, Any]] = []
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
                sa.text("SELECT id, job_id, status, reason, click_token, sent_at FROM review_requests")
            ).all()
            deliveries = conn.execute(
                sa.text(
                    "SELECT d.review_request_id, d.provider_message_id, d.status, d.channel, d.provider, r.job_id "
                    "FROM deliveries d JOIN review_requests r ON r.id = d.review_request_id"
                )
            ).all()
        now = time.time()
        with self.lock:
            for rid, job_id, status, reason, token, _sent_at in rows:
                if token:
                    self.token_to_job[token] = job_id
                record = self.jobs.get(job_id)
                if record is None:
                    continue
                record.request_id, record.status, record.reason = rid, status, reason
                if status in TERMINAL_WITH_REASON and record.accounted_at is None:
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
                    still_unmatched.append(m)
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


def scrape_metrics(url: str, token: str, workers: int) -> dict[str, Any] | None:
    """Gateway /metrics: ack histogram buckets of jobber_webhook, webhook outcomes, inbox backlog, relay lag.

    With several gateway processes each has its own registry and a scrape reaches one of them: scrape until
    `workers` distinct registries were seen (call this only while no webhooks arrive) and add them up.
    """
    from prometheus_client.parser import text_string_to_metric_families

    seen: dict[tuple[Any, ...], dict[str, Any]] = {}
    for _ in range(max(1, workers) * 12):
        try:
            text = httpx.get(f"{url}/metrics", headers={"Authorization": f"Bearer {token}"}, timeout=10).text
        except httpx.HTTPError:
            continue
        snap: dict[str, Any] = {"buckets": {}, "count": 0.0, "sum": 0.0, "outcomes": {}, "backlog": None, "lag": None}
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                labels = sample.labels
                if sample.name == "gateway_ack_seconds_bucket" and labels.get("endpoint") == "jobber_webhook":
                    snap["buckets"][float(labels["le"])] = sample.value
                elif sample.name == "gateway_ack_seconds_count" and labels.get("endpoint") == "jobber_webhook":
                    snap["count"] = sample.value
                elif sample.name == "gateway_ack_seconds_sum" and labels.get("endpoint") == "jobber_webhook":
                    snap["sum"] = sample.value
                elif sample.name == "gateway_requests_total" and labels.get("endpoint") == "jobber_webhook":
                    snap["outcomes"][labels.get("outcome", "?")] = sample.value
                elif sample.name == "gateway_inbox_backlog":
                    snap["backlog"] = sample.value
                elif sample.name == "gateway_relay_lag_seconds":
                    snap["lag"] = sample.value
        key = (snap["count"], tuple(sorted(snap["outcomes"].items())))
        seen.setdefault(key, snap)
        if len(seen) >= max(1, workers):
            break
    if not seen:
        return None
    total: dict[str, Any] = {"buckets": Counter(), "count": 0.0, "sum": 0.0, "outcomes": Counter(), "registries": 0}
    for snap in seen.values():
        total["buckets"].update(snap["buckets"])
        total["count"] += snap["count"]
        total["sum"] += snap["sum"]
        total["outcomes"].update(snap["outcomes"])
        total["registries"] += 1
        total["backlog"], total["lag"] = snap["backlog"], snap["lag"]
    total["buckets"], total["outcomes"] = dict(total["buckets"]), dict(total["outcomes"])
    return total


def histogram_quantile(q: float, start: dict[str, Any] | None, end: dict[str, Any] | None) -> dict[str, Any]:
    """Prometheus-style quantile (linear within a bucket) of the bucket deltas between two scrapes."""
    if not end:
        return {"n": None, "p": None, "bucket_le": None}
    before = (start or {}).get("buckets", {})
    deltas = sorted((le, cum - before.get(le, 0.0)) for le, cum in end["buckets"].items())
    total = deltas[-1][1] if deltas else 0.0
    if total <= 0:
        return {"n": 0, "p": None, "bucket_le": None}
    rank = q * total
    prev_le, prev_cum = 0.0, 0.0
    for le, cum in deltas:
        if cum >= rank:
            if le == float("inf"):
                finite = [b for b, _ in deltas if b != float("inf")]
                return {"n": int(total), "p": max(finite, default=prev_le), "bucket_le": "+Inf"}
            p = prev_le + (le - prev_le) * ((rank - prev_cum) / (cum - prev_cum) if cum > prev_cum else 1.0)
            return {"n": int(total), "p": p, "bucket_le": le}
        prev_le, prev_cum = le, cum
    return {"n": int(total), "p": None, "bucket_le": None}


def sandbox_state(url: str) -> dict[str, Any]:
    try:
        return dict(httpx.get(f"{url}/sandbox/state", timeout=30).json())
    except (httpx.HTTPError, ValueError):
        return {}


def sandbox_counters(state: dict[str, Any]) -> dict[str, Any]:
    stats = state.get("stats", {})
    return {
        "points_charged": stats.get("points_charged"),
        "graphql_queries": sum((stats.get("queries_by_root_field") or {}).values()),
        "graphql_mutations": stats.get("mutations", 0),
        "throttled": stats.get("throttled", 0),
        "rate_limited_429": stats.get("rate_limited_429", 0),
        "webhooks_emitted": (state.get("webhooks") or {}).get("emitted"),
        "webhooks_pending": (state.get("webhooks") or {}).get("pending"),
        "webhooks_failed": (state.get("webhooks") or {}).get("failed"),
        "queries_by_root_field": dict(stats.get("queries_by_root_field") or {}),
    }


def prefect_runs(api: str, start: float, end: float, *, max_pages: int = 60) -> dict[str, Any]:
    """Flow and task runs whose expected start time falls in [start, end): counts, by flow / task and state."""
    window = {
        "after_": datetime.fromtimestamp(start, UTC).isoformat(),
        "before_": datetime.fromtimestamp(end, UTC).isoformat(),
    }
    out: dict[str, Any] = {}
    try:
        with httpx.Client(base_url=api, timeout=60) as http:
            flows = {f["id"]: f["name"] for f in http.post("/flows/filter", json={"limit": 200}).json()}
            out["flow_runs"] = http.post("/flow_runs/count", json={"flow_runs": {"expected_start_time": window}}).json()
            out["task_runs"] = http.post("/task_runs/count", json={"task_runs": {"expected_start_time": window}}).json()
            by_flow: Counter[str] = Counter()
            by_state: Counter[str] = Counter()
            lags: list[float] = []
            for page in range(max_pages):
                rows = http.post(
                    "/flow_runs/filter",
                    json={"flow_runs": {"expected_start_time": window}, "limit": 200, "offset": 200 * page},
                ).json()
                for r in rows:
                    by_flow[flows.get(r["flow_id"], r["flow_id"])] += 1
                    by_state[f"{flows.get(r['flow_id'], '?')}:{r.get('state_type')}"] += 1
                    if r.get("start_time") and r.get("expected_start_time"):
                        lags.append(
                            (
                                datetime.fromisoformat(r["start_time"])
                                - datetime.fromisoformat(r["expected_start_time"])
                            ).total_seconds()
                        )
                if len(rows) < 200:
                    break
            out["flow_runs_by_flow"] = dict(by_flow)
            out["flow_runs_by_state"] = dict(by_state)
            out["flow_run_start_lag_s"] = summary(lags)
            by_task: Counter[str] = Counter()
            task_states: Counter[str] = Counter()
            background = 0
            for page in range(max_pages):
                rows = http.post(
                    "/task_runs/filter",
                    json={"task_runs": {"expected_start_time": window}, "limit": 200, "offset": 200 * page},
                ).json()
                for r in rows:
                    key = str(r.get("task_key") or r.get("name") or "?")
                    by_task[key.rsplit("-", 1)[0] if "-" in key else key] += 1
                    task_states[str(r.get("state_type"))] += 1
                    background += r.get("flow_run_id") is None
                if len(rows) < 200:
                    break
            out["task_runs_by_task"] = dict(by_task.most_common(15))
            out["task_runs_by_state"] = dict(task_states)
            out["background_task_runs"] = background
    except (httpx.HTTPError, ValueError, KeyError) as exc:
        out["error"] = f"{type(exc).__name__}: {exc}"
    return out


def summary(values: list[float]) -> dict[str, Any]:
    if not values:
        return {"n": 0}
    ordered = sorted(values)

    def pct(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))], 3)

    return {
        "n": len(ordered),
        "p50": round(statistics.median(ordered), 3),
        "p95": pct(0.95),
        "p99": pct(0.99),
        "max": round(ordered[-1], 3),
        "mean": round(statistics.fmean(ordered), 3),
    }


# -- the run ---------------------------------------------------------------------------------------------
class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.run_id = datetime.now(UTC).strftime("%Y%m%dt%H%M%S") + secrets.token_hex(2)
        self.run_dir = Path(tempfile.mkdtemp(prefix=f"ttc-{args.topology}-"))
        self.stack = Stack(self.run_dir, self.run_id)
        self.admin_token = secrets.token_urlsafe(16)
        self.pg_databases: tuple[str, ...] = ()
        self.twilio = FakeTwilioServer(account_sid=TWILIO_SID, auth_token=TWILIO_TOKEN)
        self.ledger: Ledger | None = None
        self.phases: list[dict[str, Any]] = []
        self.samples: list[dict[str, Any]] = []
        self.notes: list[str] = []
        self.jobs_by_number: dict[int, str] = {}
        self.queue: list[int] = []
        self._stop_sampling = threading.Event()
        self._local = threading.local()

    # -- start ---------------------------------------------------------------------------------------
    def start(self) -> None:
        a = self.args
        self.twilio.start()
        sandbox_port, prefect_port, gateway_port = free_port(), free_port(), free_port()
        while len({sandbox_port, prefect_port, gateway_port}) < 3:
            gateway_port = free_port()
        self.sandbox_url = f"http://127.0.0.1:{sandbox_port}"
        self.gateway_url = f"http://127.0.0.1:{gateway_port}"
        self.prefect_api = f"http://127.0.0.1:{prefect_port}/api"
        home = self.run_dir / "home"
        home.mkdir()
        if a.topology == "postgres":
            self.pg_databases = create_postgres_databases(self.run_id)
            prefect_db, app_db = self.pg_databases
            self.database_url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{app_db}"
        else:
            self.database_url = f"sqlite:///{home / 'jobberflow.db'}"
        overrides = {name: {"settings": dict(REVIEW_SETTINGS)} for name in OVERRIDE_NAMES}
        env = clean_environment()
        env.update(
            {
                MARKER: self.run_id,
                "PYTHONPATH": str(ROOT),
                "PYTHONUNBUFFERED": "1",
                "JOBBERFLOW_HOME": str(home),
                "JOBBERFLOW_PROJECT_DIR": str(ROOT),
                "DATABASE_URL": self.database_url,
                "PUBLIC_URL": self.gateway_url,
                "GATEWAY_PORT": str(gateway_port),
                "ADMIN_TOKEN": self.admin_token,
                "BUSINESS_NAME": "Evergreen Home Services",
                "JOBBERFLOW_PARAMETER_OVERRIDES": json.dumps(overrides),
                "PREFECT_HOME": str(self.run_dir / "prefect"),
                "PREFECT_API_URL": self.prefect_api,
                "PREFECT_UI_URL": f"http://127.0.0.1:{prefect_port}",
                "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
                "PREFECT_RUNNER_POLL_FREQUENCY": "1",
                "DO_NOT_TRACK": "1",
                "JOBBER_BASE_URL": self.sandbox_url,
                "JOBBER_CLIENT_ID": SANDBOX_CLIENT_ID,
                "JOBBER_CLIENT_SECRET": SANDBOX_CLIENT_SECRET,
                "TWILIO_ACCOUNT_SID": TWILIO_SID,
                "TWILIO_AUTH_TOKEN": TWILIO_TOKEN,
                "TWILIO_FROM_NUMBER": TWILIO_FROM,
                "TWILIO_BASE_URL": self.twilio.url,
                # the relay keeps one wake-up in flight per event worker
                "RELAY_MAX_WAKEUPS": str(self.args.workers),
            }
        )
        if a.topology == "postgres":
            env["PREFECT_API_DATABASE_CONNECTION_URL"] = f"postgresql+asyncpg://postgres@127.0.0.1:5432/{prefect_db}"
        self.env = env
        py = sys.executable
        print(f"run folder {self.run_dir} (logs in logs/)", flush=True)
        self.queue = candidate_jobs()
        seed_opts = [x for k, v in SEED.items() for x in (f"--{k}", str(v))]
        sandbox = self.stack.spawn(
            "sandbox",
            [py, "-m", "deployments.cli", "sandbox", "serve", "--port", str(sandbox_port), *seed_opts,
             "--webhook-url", f"{self.gateway_url}/webhooks/jobber", "--webhook-senders", "8"],
            env,
        )  # fmt: skip
        prefect = self.stack.spawn(
            "prefect-server",
            [py, "-m", "prefect", "server", "start", "--host", "127.0.0.1", "--port", str(prefect_port)],
            env,
        )
        wait_http(f"{self.sandbox_url}/sandbox/health", "the sandbox", sandbox)
        self._check_seed()
        wait_http(f"{self.prefect_api}/health", "the Prefect server", prefect)
        self._connect()
        gateway = self.stack.spawn(
            "gateway",
            [py, "-m", "deployments.cli", "gateway", "--port", str(gateway_port), "--workers", str(a.gateway_workers)],
            env,
        )
        wait_http(f"{self.gateway_url}/healthz", "the gateway", gateway)
        has_worker = cli_has("worker", env)
        self.topology = {
            "topology": a.topology,
            "gateway_workers": a.gateway_workers,
            "event_workers": a.workers if has_worker else 0,
            "runner": "jobberflow serve",
            "worker_command_present": has_worker,
        }
        runner = self.stack.spawn("runner", [py, "-m", "deployments.cli", "serve"], env)
        for i in range(a.workers if has_worker else 0):
            self.stack.spawn(f"worker-{i + 1}", [py, "-m", "deployments.cli", "worker"], env)
        if not has_worker:
            self.notes.append("`jobberflow worker` does not exist: measured today's path (runner only, event triggers)")
        self._wait_for_deployments(runner)
        self.ledger = Ledger(self.database_url, self.twilio)
        print(
            f"stack up: sandbox {self.sandbox_url}, Prefect {self.prefect_api} ({a.topology}), gateway "
            f"{self.gateway_url} x{a.gateway_workers}, runner + {self.topology['event_workers']} event worker(s), "
            f"Twilio stand-in {self.twilio.url}; {len(self.queue)} candidate jobs",
            flush=True,
        )

    def _check_seed(self) -> None:
        jobs = httpx.get(f"{self.sandbox_url}/sandbox/jobs", params={"limit": 1_000_000}, timeout=60).json()["jobs"]
        self.jobs_by_number = {int(j["jobNumber"]): j["id"] for j in jobs}
        status = {int(j["jobNumber"]): j["jobStatus"] for j in jobs}
        bad = [n for n in self.queue if n not in status or status[n] == "archived"]
        if bad:
            raise RuntimeError(f"the sandbox's seed differs from the one rebuilt here ({len(bad)} jobs)")

    def _connect(self) -> None:
        os.environ.update({k: v for k, v in self.env.items() if k != MARKER})
        from tasks.jobber.connect import connect_with_oauth
        from tasks.settings import reset_settings_cache

        reset_settings_cache()
        with contextlib.suppress(ImportError):
            from tasks.jobber.factory import reset_jobber_clients

            reset_jobber_clients()
        account = connect_with_oauth(
            base_url=self.sandbox_url, client_id=SANDBOX_CLIENT_ID, client_secret=SANDBOX_CLIENT_SECRET
        )
        print(f"connected to the sandbox account {account.get('name')!r} through OAuth", flush=True)

    def _wait_for_deployments(self, runner: Service, timeout: float = 240) -> None:
        wanted = {"jobber-events", "review-request"}
        deadline = time.monotonic() + timeout
        previous: set[str] = set()
        while time.monotonic() < deadline:
            if runner.proc.poll() is not None:
                raise RuntimeError(f"the runner exited with {runner.proc.returncode}:\n{tail(runner.log)}")
            try:
                found = httpx.post(f"{self.prefect_api}/deployments/filter", json={"limit": 200}, timeout=10).json()
                names = {d["name"] for d in found}
                automations = httpx.post(f"{self.prefect_api}/automations/filter", json={}, timeout=10).json()
                # today's path needs its event triggers (automations); the worker path has none to wait for
                ready = names & wanted and (automations or "review-request" not in names)
                if ready and names == previous:  # the runner registers them one by one: wait until it is done
                    self.topology["deployments"] = sorted(names)
                    self.topology["automations"] = sorted(a.get("name", "?") for a in automations)
                    return
                previous = names
            except (httpx.HTTPError, ValueError, TypeError):
                pass
            time.sleep(3)
        raise RuntimeError("the runner did not register its deployments and automations in time")

    # -- closing jobs --------------------------------------------------------------------------------
    def _http(self) -> httpx.Client:
        client = getattr(self._local, "client", None)
        if client is None:
            client = self._local.client = httpx.Client(timeout=30)
        return client

    def _close(self, record: JobRecord) -> None:
        record.close_started = time.time()
        try:
            response = self._http().post(
                f"{self.sandbox_url}/sandbox/actions/close_job", json={"job_number": record.number}
            )
            record.close_status = response.status_code
            if response.status_code != 200:
                record.close_error = response.text[:200]
        except httpx.HTTPError as exc:
            record.close_error = f"{type(exc).__name__}: {exc}"
        record.close_done = time.time()

    def close_jobs(self, phase: str, count: int, seconds: float, pool: ThreadPoolExecutor) -> list[JobRecord]:
        assert self.ledger is not None
        if len(self.queue) < count:
            raise RuntimeError(f"only {len(self.queue)} candidate jobs left; {count} needed")
        numbers, self.queue = self.queue[:count], self.queue[count:]
        interval = seconds / count
        wall0, mono0 = time.time() + 0.2, time.monotonic() + 0.2
        records = []
        futures = []
        for i, number in enumerate(numbers):
            due = mono0 + i * interval
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            record = JobRecord(number, self.jobs_by_number[number], phase, scheduled=wall0 + i * interval)
            self.ledger.add(record)
            records.append(record)
            futures.append(pool.submit(self._close, record))
        for f in futures:
            f.result()
        return records

    # -- sampling ------------------------------------------------------------------------------------
    def _sampler(self) -> None:
        assert self.ledger is not None
        last_slow = 0.0
        while not self._stop_sampling.wait(1.0):
            try:
                self.ledger.refresh()
            except Exception as exc:  # noqa: BLE001 - a busy database must not end the run
                if len(self.notes) < 50:
                    self.notes.append(f"ledger refresh failed: {type(exc).__name__}: {str(exc)[:120]}")
            for dead in self.stack.check():
                print(f"!! {dead.name} exited ({dead.proc.returncode}); see {dead.log}", flush=True)
            sample: dict[str, Any] = {
                "t": round(time.time(), 2),
                "closed": self.ledger.closed_count(),
                "outstanding": self.ledger.outstanding(),
                "twilio_messages": self.twilio.count(),
            }
            self.samples.append(sample)
            if time.monotonic() - last_slow >= self.args.sample_interval:
                last_slow = time.monotonic()
                metrics = None
                with contextlib.suppress(httpx.HTTPError):
                    text = httpx.get(
                        f"{self.gateway_url}/metrics",
                        headers={"Authorization": f"Bearer {self.admin_token}"},
                        timeout=5,
                    ).text
                    metrics = dict(re.findall(r"^(gateway_inbox_backlog|gateway_relay_lag_seconds) (\S+)$", text, re.M))
                state = sandbox_state(self.sandbox_url)
                backlog = (metrics or {}).get("gateway_inbox_backlog")
                lag = (metrics or {}).get("gateway_relay_lag_seconds")
                sample["inbox_backlog"] = float(backlog) if backlog is not None else None
                sample["relay_lag_s"] = float(lag) if lag is not None else None
                sample["sandbox_webhooks_pending"] = (state.get("webhooks") or {}).get("pending")

    def drain(self, phase: str, timeout: float) -> tuple[bool, float]:
        assert self.ledger is not None
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            self.ledger.refresh()
            if self.ledger.outstanding() == 0:
                time.sleep(2)  # let a late duplicate show
                self.ledger.refresh()
                return True, time.monotonic() - started
            time.sleep(1)
        return False, time.monotonic() - started

    # -- phases --------------------------------------------------------------------------------------
    def run(self) -> None:
        a = self.args
        plan: list[tuple[str, int, float]] = [("warm-up", 3, 6.0)]
        plan += [(f"{rate:g}/s", max(1, round(rate * a.phase_seconds)), a.phase_seconds) for rate in a.phases]
        if a.burst:
            plan.append((f"burst {a.burst} in {a.burst_seconds:g} s", a.burst, a.burst_seconds))
        sampler = threading.Thread(target=self._sampler, name="sampler", daemon=True)
        sampler.start()
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
        drained, drain_s = self.drain(name, self.args.drain_timeout)
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
        delivered_sids = {d["sid"] for d in self.ledger.delivery_rows if d["sid"]}
        twilio_sids = {m.sid for m in self.twilio.snapshot()}
        ledger = self._ledger([j for j in jobs if j.phase != "warm-up"])
        # every run the server holds, scheduled ones included (a schedule that never produces a run shows here)
        whole_run = prefect_runs(self.prefect_api, 0.0, time.time() + 86400)
        return {
            "command": " ".join(sys.argv),
            "topology": self.topology,
            "run_dir": str(self.run_dir),
            "review_settings": REVIEW_SETTINGS,
            "phases": phases,
            "ledger": ledger,
            "prefect_whole_run": whole_run,
            "twilio": {
                "accepted": len(twilio_sids),
                "rejected_requests": self.twilio.rejected,
                "list_requests": self.twilio.list_requests,
                "unmatched_messages": [
                    {"sid": m.sid, "to": m.to, "body": m.body[:160]} for m in self.ledger.unmatched_raw()
                ],
                "accepted_but_not_recorded_in_deliveries": len(twilio_sids - delivered_sids),
                "recorded_sent_but_never_accepted": sorted(delivered_sids - twilio_sids)[:50],
                "deliveries_by_status": dict(
                    Counter(f"{d['provider']}:{d['status']}" for d in self.ledger.delivery_rows)
                ),
            },
            "crashes": self.stack.crashes,
            "log_problems": self._log_problems(),
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

    def _ledger(self, jobs: list[JobRecord]) -> dict[str, Any]:
        closed = [j for j in jobs if j.closed]
        one = [j for j in closed if len(j.sids) == 1]
        duplicates = [j for j in closed if len(j.sids) > 1]
        reason = [j for j in closed if not j.sids and j.status in TERMINAL_WITH_REASON]
        lost = [j for j in closed if not j.sids and j.status not in TERMINAL_WITH_REASON]
        return {
            "attempted": len(jobs),
            "closed": len(closed),
            "close_failed": len(jobs) - len(closed),
            "one_message": len(one),
            "reason_recorded": len(reason),
            "reasons": dict(Counter((j.reason or "?")[:80] for j in reason)),
            "duplicates": len(duplicates),
            "duplicate_jobs": [{"number": j.number, "sids": j.sids} for j in duplicates[:20]],
            "lost": len(lost),
            "lost_by_status": dict(Counter(str(j.status) for j in lost)),
            "lost_jobs": [j.number for j in lost[:50]],
            "balanced": len(closed) == len(one) + len(reason) + len(duplicates) and not lost and not duplicates,
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
            "ledger": self._ledger(jobs),
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

    def _log_problems(self) -> dict[str, Any]:
        out = {}
        for s in self.stack.services:
            try:
                text = s.log.read_text(encoding="utf-8", errors="replace")
            except OSError:
                continue
            lines = text.splitlines()
            errors = [ln for ln in lines if re.search(r"Traceback|\bERROR\b|\bCRITICAL\b|database is locked", ln)]
            exceptions = Counter(
                m.group(0)[:120]
                for ln in lines
                if (m := re.match(r"^[A-Za-z_.]*(Error|Exception|Timeout)[^\s]*: .*", ln.strip()))
            )
            out[s.name] = {
                "lines": len(lines),
                "error_lines": len(errors),
                "first_errors": errors[:5],
                "exceptions": dict(exceptions.most_common(8)),
            }
        return out

    def close(self) -> None:
        self._stop_sampling.set()
        try:
            self.stack.stop()
        finally:
            with contextlib.suppress(Exception):
                self.twilio.stop()
            if self.ledger is not None:
                self.ledger.engine.dispose()
            if self.pg_databases and not self.args.keep_databases:
                drop_postgres_databases(self.pg_databases)


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
    if result["crashes"]:
        print(f"crashes: {[(c['name'], c['exit_code'], c['after_s']) for c in result['crashes']]}")
    problems = {k: v["error_lines"] for k, v in result["log_problems"].items() if v["error_lines"]}
    if problems:
        print(f"error lines in service logs: {problems} (see run folder {result['run_dir']}/logs)")
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

    def on_sigterm(signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, on_sigterm)
    signal.signal(signal.SIGHUP, on_sigterm)
    bench = Bench(args)
    result: dict[str, Any] | None = None
    interrupted = False
    try:
        bench.start()
        try:
            bench.run()
        except KeyboardInterrupt:
            interrupted = True
            print("interrupted: stopping the stack and writing what was measured", flush=True)
        if bench.ledger is not None and bench.phases:
            result = bench.results()
            result["interrupted"] = interrupted
    except KeyboardInterrupt:
        interrupted = True
        print("interrupted while starting: stopping the stack", flush=True)
    finally:
        bench.close()
    if result is None:
        return 130 if interrupted else 1
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"time_to_customer-{args.topology}-{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}.json"
    path.write_text(json.dumps(result, indent=2, default=_json_default), encoding="utf-8")
    print_summary(result, path)
    return 0 if result["ledger"]["balanced"] and not interrupted else 1


def _json_default(value: Any) -> Any:
    if isinstance(value, Counter):
        return dict(value)
    if hasattr(value, "__dataclass_fields__"):
        return asdict(value)
    return str(value)


if __name__ == "__main__":
    raise SystemExit(main())
