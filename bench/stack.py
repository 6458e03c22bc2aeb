"""The whole running stack for end-to-end benchmarks (time_to_customer, chaos_soak), started as users run it.

Every service runs in its own process, started with deployments/processes.spawn (a session of its own and a
parent-death signal, so everything dies with the bench, kill -9 included) and stopped in `close()`:

1. the Jobber sandbox (`jobberflow sandbox serve`, 8,000 clients / 12,000 jobs), signing its webhooks to
2. the gateway as shipped (`jobberflow gateway`, its relay a child process),
3. a Prefect server (`prefect server start`; SQLite in a temp PREFECT_HOME, or a fresh PostgreSQL database),
4. the runner (`jobberflow serve`: every deployment of prefect.yaml) and N `jobberflow worker` processes,
5. a Twilio-compatible endpoint in this process (bench/fake_twilio_server.py) that the official SDK in the
   workers talks to (TWILIO_BASE_URL).

The project's database is a fresh SQLite file (or PostgreSQL database); this process connects it to the
sandbox through the real OAuth flow before any worker starts. `jobber_front` lets a bench put something
(chaos_soak: a fault-injecting proxy) between the stack and the sandbox: the stack's JOBBER_BASE_URL is
what it returns. Services can be killed and started again with the same command (`kill`, `restart`), as
systemd would. Jobs are closed in the sandbox as a person would (POST /sandbox/actions/close_job) and
entered in the ledger (bench/ledger.py) before the close, so none can be missed.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import secrets
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench._common import free_port  # noqa: E402
from bench.fake_twilio_server import FakeTwilioServer  # noqa: E402
from bench.ledger import JobRecord, Ledger  # noqa: E402
from bench.observe import sandbox_state  # noqa: E402
from deployments import processes  # noqa: E402

SANDBOX_CLIENT_ID = "sandbox-client-id"
SANDBOX_CLIENT_SECRET = "sandbox-client-secret"  # noqa: S105 - the sandbox's well-known value
TWILIO_SID = "AC" + "b3" * 16
TWILIO_TOKEN = "bench-twilio-token"  # noqa: S105 - a local stand-in
TWILIO_FROM = "+15005550006"
REVIEW_LINK = "https://g.page/r/evergreen-home-services/review"
# As in the demo: delay 0, quiet hours off; cooldown 0 (the sandbox reuses phone numbers, which the cooldown
# counts as the same recipient) and SMS only (every request goes to Twilio or is skipped with a reason).
REVIEW_SETTINGS: dict[str, Any] = {
    "review_link": REVIEW_LINK,
    "delay_minutes": 0,
    "quiet_hours_enabled": False,
    "cooldown_days": 0,
    "channels": "sms",
}
OVERRIDE_NAMES = ("jobber-events", "review-poll")
SEED = {"seed": 42, "clients": 8000, "jobs": 12000, "invoices": 60, "quotes": 20, "users": 5}
MARKER = "JOBBERFLOW_BENCH_RUN"


# -- processes -----------------------------------------------------------------------------------------
@dataclass
class Service:
    name: str
    proc: subprocess.Popen[bytes]
    log: Path
    cmd: list[str]
    env: dict[str, str]
    started: float = field(default_factory=time.time)
    expected_exit: bool = False  # killed or stopped on purpose (not a crash)


class Stack:
    """Every child process of the run; `stop()` ends them all (group by group, then stragglers by marker)."""

    def __init__(self, run_dir: Path, run_id: str) -> None:
        self.run_dir = run_dir
        self.run_id = run_id
        self.services: list[Service] = []
        self.crashes: list[dict[str, Any]] = []

    def spawn(self, name: str, cmd: list[str], env: dict[str, str]) -> Service:
        log = self.run_dir / "logs" / f"{name}.log"
        service = Service(name, processes.spawn(cmd, env=env, log_path=log), log, cmd, env)
        self.services = [s for s in self.services if s.name != name] + [service]
        return service

    def get(self, name: str) -> Service:
        return next(s for s in self.services if s.name == name)

    def kill(self, name: str) -> int:
        """kill -9 of the service's main process alone (its children follow through the parent-death signal)."""
        service = self.get(name)
        service.expected_exit = True
        pid = service.proc.pid
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        service.proc.wait(timeout=30)
        return pid

    def stop_one(self, name: str) -> None:
        service = self.get(name)
        service.expected_exit = True
        processes.stop(service.proc, timeout=20.0)

    def restart(self, name: str) -> Service:
        """The same command again (what systemd's Restart=always does); the group's leftovers go first."""
        old = self.get(name)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(old.proc.pid, signal.SIGKILL)
        return self.spawn(name, old.cmd, old.env)

    def check(self) -> list[Service]:
        """Services that exited without being told to (recorded once as crashes, with their log's tail)."""
        dead = []
        for s in self.services:
            code = s.proc.poll()
            if code is not None and not s.expected_exit and not any(c["pid"] == s.proc.pid for c in self.crashes):
                self.crashes.append(
                    {
                        "name": s.name,
                        "pid": s.proc.pid,
                        "exit_code": code,
                        "after_s": round(time.time() - s.started, 1),
                        "log": tail(s.log),
                    }
                )
                dead.append(s)
        return dead

    def stop(self) -> None:
        """Newest first (workers before the Prefect server they talk to); each process group as a whole."""
        for service in reversed(self.services):
            service.expected_exit = True
            with contextlib.suppress(Exception):
                processes.stop(service.proc, timeout=15.0)
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


def postgres_databases(names: tuple[str, ...], *, create: bool) -> None:
    import psycopg

    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as conn:
        for name in names:
            if create:
                conn.execute(f'CREATE DATABASE "{name}"')
            else:
                with contextlib.suppress(Exception):
                    conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def candidate_clients() -> dict[int, Any]:
    """Not-closed jobs whose client can be texted, from the sandbox's deterministic seed: number -> seed job."""
    from sandbox.jobber.config import SandboxConfig
    from sandbox.jobber.seed import build_seed

    data = build_seed(SandboxConfig(**SEED))  # type: ignore[arg-type]
    chosen = {}
    for job in data.jobs:
        client = job.client
        if job.job_status == "archived" or client is None or client.is_archived:
            continue
        if not client.receives_review_requests or not client.phones:
            continue
        phone = next((p for p in client.phones if p.primary), None)
        if phone is None or not phone.sms_allowed:
            continue
        chosen[job.job_number] = job
    return chosen


# -- the harness ---------------------------------------------------------------------------------------
class Harness:
    """Start the stack (`start`), close jobs into the ledger (`close_jobs`), sample, drain, `close` it all."""

    prefix = "stack"

    def __init__(self, args: argparse.Namespace, *, review_settings: dict[str, Any] | None = None) -> None:
        self.args = args
        self.review_settings = dict(review_settings or REVIEW_SETTINGS)
        self.run_id = datetime.now(UTC).strftime("%Y%m%dt%H%M%S") + secrets.token_hex(2)
        self.run_dir = Path(tempfile.mkdtemp(prefix=f"{self.prefix}-{args.topology}-"))
        self.stack = Stack(self.run_dir, self.run_id)
        self.admin_token = secrets.token_urlsafe(16)
        self.pg_databases: tuple[str, ...] = ()
        self.twilio = FakeTwilioServer(account_sid=TWILIO_SID, auth_token=TWILIO_TOKEN)
        self.ledger: Ledger | None = None
        self.samples: list[dict[str, Any]] = []
        self.notes: list[str] = []
        self.jobs_by_number: dict[int, str] = {}
        self.seed_jobs: dict[int, Any] = {}
        self.queue: list[int] = []
        self.topology: dict[str, Any] = {}
        self._stop_sampling = threading.Event()
        self._local = threading.local()

    def jobber_front(self, sandbox_url: str) -> str:
        """The Jobber URL the stack is given (the sandbox itself here; a proxy in front of it in chaos_soak)."""
        return sandbox_url

    # -- start ---------------------------------------------------------------------------------------
    def start(self) -> None:
        a = self.args
        self.twilio.start()
        ports: set[int] = set()
        while len(ports) < 3:
            ports.add(free_port())
        sandbox_port, self.prefect_port, gateway_port = sorted(ports)
        self.sandbox_url = f"http://127.0.0.1:{sandbox_port}"
        self.jobber_url = self.jobber_front(self.sandbox_url)
        self.gateway_url = f"http://127.0.0.1:{gateway_port}"
        self.prefect_api = f"http://127.0.0.1:{self.prefect_port}/api"
        home = self.run_dir / "home"
        home.mkdir()
        if a.topology == "postgres":
            self.pg_databases = (f"{self.prefix}_prefect_{self.run_id}", f"{self.prefix}_app_{self.run_id}")
            postgres_databases(self.pg_databases, create=True)
            self.database_url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{self.pg_databases[1]}"
        else:
            self.database_url = f"sqlite:///{home / 'jobberflow.db'}"
        overrides = {name: {"settings": dict(self.review_settings)} for name in OVERRIDE_NAMES}
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
                "PREFECT_UI_URL": f"http://127.0.0.1:{self.prefect_port}",
                "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
                "PREFECT_RUNNER_POLL_FREQUENCY": "1",
                "DO_NOT_TRACK": "1",
                "JOBBER_BASE_URL": self.jobber_url,
                "JOBBER_CLIENT_ID": SANDBOX_CLIENT_ID,
                "JOBBER_CLIENT_SECRET": SANDBOX_CLIENT_SECRET,
                "TWILIO_ACCOUNT_SID": TWILIO_SID,
                "TWILIO_AUTH_TOKEN": TWILIO_TOKEN,
                "TWILIO_FROM_NUMBER": TWILIO_FROM,
                "TWILIO_BASE_URL": self.twilio.url,
                # the relay keeps one wake-up in flight per event worker
                "RELAY_MAX_WAKEUPS": str(a.workers),
            }
        )
        if a.topology == "postgres":
            env["PREFECT_API_DATABASE_CONNECTION_URL"] = (
                f"postgresql+asyncpg://postgres@127.0.0.1:5432/{self.pg_databases[0]}"
            )
        self.env = env
        py = sys.executable
        print(f"run folder {self.run_dir} (logs in logs/)", flush=True)
        self.seed_jobs = candidate_clients()
        self.queue = list(self.seed_jobs)
        seed_opts = [x for k, v in SEED.items() for x in (f"--{k}", str(v))]
        sandbox = self.stack.spawn(
            "sandbox",
            [py, "-m", "deployments.cli", "sandbox", "serve", "--port", str(sandbox_port), *seed_opts,
             "--webhook-url", f"{self.gateway_url}/webhooks/jobber", "--webhook-senders", "8"],
            env,
        )  # fmt: skip
        prefect = self.stack.spawn("prefect-server", self.prefect_command(), env)
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
        self.topology = {
            "topology": a.topology,
            "gateway_workers": a.gateway_workers,
            "event_workers": a.workers,
            "runner": "jobberflow serve",
        }
        runner = self.stack.spawn("runner", [py, "-m", "deployments.cli", "serve"], env)
        for i in range(a.workers):
            self.stack.spawn(f"worker-{i + 1}", [py, "-m", "deployments.cli", "worker"], env)
        self._wait_for_deployments(runner)
        self.ledger = Ledger(self.database_url, self.twilio)
        print(
            f"stack up: sandbox {self.sandbox_url} (the stack's Jobber: {self.jobber_url}), Prefect "
            f"{self.prefect_api} ({a.topology}), gateway {self.gateway_url} x{a.gateway_workers}, runner + "
            f"{a.workers} event worker(s), Twilio stand-in {self.twilio.url}; {len(self.queue)} candidate jobs",
            flush=True,
        )

    def prefect_command(self) -> list[str]:
        port = str(self.prefect_port)
        return [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1", "--port", port]

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
        from tasks.store.migrate import upgrade_database

        reset_settings_cache()
        upgrade_database(self.database_url)  # `jobberflow db upgrade`, as a user does before connecting
        with contextlib.suppress(ImportError):
            from tasks.jobber.factory import reset_jobber_clients

            reset_jobber_clients()
        account = connect_with_oauth(
            base_url=self.jobber_url, client_id=SANDBOX_CLIENT_ID, client_secret=SANDBOX_CLIENT_SECRET
        )
        print(f"connected to the sandbox account {account.get('name')!r} through OAuth", flush=True)

    def _wait_for_deployments(self, runner: Service, timeout: float = 240) -> None:
        wanted = {"jobber-events", "review-dispatch"}
        deadline = time.monotonic() + timeout
        previous: set[str] = set()
        while time.monotonic() < deadline:
            if runner.proc.poll() is not None:
                raise RuntimeError(f"the runner exited with {runner.proc.returncode}:\n{tail(runner.log)}")
            try:
                found = httpx.post(f"{self.prefect_api}/deployments/filter", json={"limit": 200}, timeout=10).json()
                names = {d["name"] for d in found}
                if wanted <= names and names == previous:  # registered one by one: wait until it is done
                    self.topology["deployments"] = sorted(names)
                    return
                previous = names
            except (httpx.HTTPError, ValueError, TypeError):
                pass
            time.sleep(3)
        raise RuntimeError("the runner did not register its deployments in time")

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

    def close_jobs(
        self, phase: str, count: int, seconds: float, pool: ThreadPoolExecutor, *, stop: threading.Event | None = None
    ) -> list[JobRecord]:
        """Close `count` jobs at their scheduled times over `seconds` (open loop; latency from the schedule)."""
        assert self.ledger is not None
        if len(self.queue) < count:
            raise RuntimeError(f"only {len(self.queue)} candidate jobs left; {count} needed")
        numbers, self.queue = self.queue[:count], self.queue[count:]
        interval = seconds / count
        wall0, mono0 = time.time() + 0.2, time.monotonic() + 0.2
        records = []
        futures = []
        for i, number in enumerate(numbers):
            delay = mono0 + i * interval - time.monotonic()
            if delay > 0 and (stop.wait(delay) if stop is not None else time.sleep(delay)):
                break
            record = JobRecord(number, self.jobs_by_number[number], phase, scheduled=wall0 + i * interval)
            self.ledger.add(record)
            records.append(record)
            futures.append(pool.submit(self._close, record))
        for f in futures:
            f.result()
        return records

    # -- sampling ------------------------------------------------------------------------------------
    def start_sampler(self) -> threading.Thread:
        sampler = threading.Thread(target=self._sampler, name="sampler", daemon=True)
        sampler.start()
        return sampler

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

    def drain(self, timeout: float) -> tuple[bool, float]:
        """Until every closed job is accounted for (True), or `timeout` seconds (False)."""
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

    def log_problems(self) -> dict[str, Any]:
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
            if self.pg_databases and not getattr(self.args, "keep_databases", False):
                postgres_databases(self.pg_databases, create=False)


def run_main(harness: Harness, run: Callable[[], None], results: Callable[[], dict[str, Any]]) -> dict[str, Any] | None:
    """Start, run, measure, always stop; SIGTERM / SIGHUP count as Ctrl-C. None when nothing was measured."""

    def on_signal(signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    result: dict[str, Any] | None = None
    interrupted = False
    try:
        harness.start()
        try:
            run()
        except KeyboardInterrupt:
            interrupted = True
            print("interrupted: stopping the stack and writing what was measured", flush=True)
        if harness.ledger is not None:
            result = results()
            result["interrupted"] = interrupted
    except KeyboardInterrupt:
        print("interrupted while starting: stopping the stack", flush=True)
    finally:
        harness.close()
    return result


def print_troubles(result: dict[str, Any]) -> None:
    """Services that exited on their own, and the error lines in their logs."""
    if result["crashes"]:
        print(f"unexpected exits: {[(c['name'], c['exit_code'], c['after_s']) for c in result['crashes']]}")
    problems = {k: v["error_lines"] for k, v in result["log_problems"].items() if v["error_lines"]}
    if problems:
        print(f"error lines in service logs: {problems} (run folder {result['run_dir']}/logs)")
