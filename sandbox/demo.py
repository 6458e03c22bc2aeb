"""`jobberflow demo`: the embedded default on one machine.

Starts the Jobber sandbox, a Prefect server on SQLite, the gateway (which starts its relay), the runner that
serves every deployment of prefect.yaml and the event worker; connects to the sandbox through the real OAuth
flow; runs the connection check; then closes job #1042 in the sandbox as a person would. Jobber's signed
JOB_CLOSED webhook goes to the gateway's inbox, the relay hands it to Prefect, a background task on the event
worker refreshes the record, plans the review request and queues the Slack notification; the SMS lands in
the local outbox and the Slack message in the local Slack stand-in (no Twilio, SMTP or Slack credentials
needed). Child processes log to `<JOBBERFLOW_HOME>/demo/logs/`; everything keeps running until Ctrl-C.

Every process the demo starts stops with it: on Ctrl-C, SIGTERM, a closed terminal (SIGHUP) and even a
`kill -9` of the demo (deployments/processes.py). A new demo never talks to an old one: the pids of a demo's
processes are kept in `<home>/demo.pid`, a new demo stops whatever of them is still running, and it refuses
to start when a port it needs is held by something else, rather than sharing it.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console

from deployments.processes import ChildProcesses, handle_termination, is_running, process_start_time
from tasks.errors import DemoError

SANDBOX_CLIENT_ID = "sandbox-client-id"
SANDBOX_CLIENT_SECRET = "sandbox-client-secret"  # noqa: S105 - the sandbox's well-known value
PID_FILE = "demo.pid"
# The deployment whose registration means "the runner is ready": the event path's, or the older name.
READY_DEPLOYMENTS = ("jobber-events",)
EVENT_PATH = (
    "Jobber -> signed JOB_CLOSED webhook -> gateway inbox -> relay -> Prefect background task on the event "
    "worker -> refresh + review request + Slack"
)


# -- processes of earlier demos ----------------------------------------------------------------------
def _identity(pid: int) -> dict[str, Any]:
    return {"pid": pid, "started": process_start_time(pid)}


def _is_same_process(entry: object) -> bool:
    """True when the recorded process still runs (the same one: its start time matches, not a reused pid)."""
    if not isinstance(entry, dict) or not isinstance(entry.get("pid"), int) or entry["pid"] <= 1:
        return False
    pid = entry["pid"]
    if pid == os.getpid() or not is_running(pid):
        return False
    started = entry.get("started")
    return started is None or process_start_time(pid) == started


class DemoPidFile:
    """`<home>/demo.pid`: this demo's pid and those of the processes it started (JSON)."""

    def __init__(self, home: Path) -> None:
        self.path = home / PID_FILE

    def write(self, children: ChildProcesses) -> None:
        record = {
            "demo": _identity(os.getpid()),
            "children": [
                {**_identity(child.pid), "name": child.name, "log": str(child.log_path or "")}
                for child in children.children
            ],
        }
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(record, indent=2), encoding="utf-8")
        tmp.replace(self.path)

    def remove(self) -> None:
        """Remove the file if it is this demo's (a newer demo may have replaced it)."""
        with contextlib.suppress(OSError, ValueError):
            record = json.loads(self.path.read_text(encoding="utf-8"))
            if record.get("demo", {}).get("pid") == os.getpid():
                self.path.unlink()


def _wait_until_gone(pids: Sequence[int], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while any(is_running(pid) for pid in pids):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.1)
    return True


def _stop_group(pid: int, timeout: float) -> None:
    """SIGTERM the process group a demo child leads (the demo starts each in its own), then SIGKILL it."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        except PermissionError:
            return
        if _wait_until_gone([pid], timeout):
            return


def stop_previous_demo(home: Path, *, timeout: float = 30.0) -> list[str]:
    """Stop what an earlier demo with this home left running (per its pid file); returns what was stopped.

    The earlier demo itself is asked first (SIGTERM: it stops its services in order); any of its services
    still running after that are stopped directly. A pid now used by an unrelated process (its start time
    differs from the recorded one) is left alone."""
    path = home / PID_FILE
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return []
    except (OSError, ValueError):
        path.unlink(missing_ok=True)
        return []
    if not isinstance(record, dict):
        path.unlink(missing_ok=True)
        return []
    stopped: list[str] = []
    demo = record.get("demo")
    if _is_same_process(demo):
        assert isinstance(demo, dict)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(demo["pid"], signal.SIGTERM)
        if not _wait_until_gone([demo["pid"]], timeout):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(demo["pid"], signal.SIGKILL)
            _wait_until_gone([demo["pid"]], 5)
        stopped.append(f"the demo (pid {demo['pid']})")
    children = record.get("children")
    for child in reversed(children if isinstance(children, list) else []):
        if _is_same_process(child):
            _stop_group(child["pid"], timeout=min(timeout, 10))
            stopped.append(f"{child.get('name', 'a process')} (pid {child['pid']})")
    path.unlink(missing_ok=True)
    return stopped


# -- ports -------------------------------------------------------------------------------------------
def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    """True when a server could listen on host:port now (as uvicorn does, with SO_REUSEADDR)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def _listening_processes(port: int) -> list[str]:
    """'pid N: command' of the processes listening on `port` that this user may look at (Linux; else [])."""
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text(encoding="ascii").splitlines()[1:]:
                fields = line.split()
                if len(fields) > 9 and fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                    inodes.add(f"socket:[{fields[9]}]")
    found: list[str] = []
    if not inodes:
        return found
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            if any(os.readlink(fd) in inodes for fd in (entry / "fd").iterdir()):
                command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
                found.append(f"pid {entry.name}: {command[:120]}")
    return found


@dataclass(frozen=True)
class Port:
    number: int
    what: str
    option: str | None  # the `jobberflow demo` option that picks another one


def ensure_ports_free(ports: Sequence[Port], *, wait: float = 15.0) -> None:
    """Wait up to `wait` seconds for the ports (a stopped demo's sockets take a moment to close); then
    refuse, naming the port, who holds it and how to free it, rather than talk to a stranger."""
    deadline = time.monotonic() + wait
    while True:
        busy = [port for port in ports if not port_is_free(port.number)]
        if not busy or time.monotonic() >= deadline:
            break
        time.sleep(0.5)
    if not busy:
        return
    port = busy[0]
    owners = _listening_processes(port.number)
    lookup = f"`lsof -i :{port.number}` or `ss -ltnp 'sport = :{port.number}'`"
    if owners:
        pid = owners[0].split(":", 1)[0].removeprefix("pid ")
        holder = f"by {'; '.join(owners)}"
        remedy = f"stop that program (`kill {pid}`; {lookup} shows who holds the port)"
    else:
        holder = "by another program"
        remedy = f"find it with {lookup} and stop it"
    other = f", or start the demo on another port: `jobberflow demo {port.option} N`" if port.option else ""
    raise DemoError(
        f"port {port.number} ({port.what}) is already in use {holder}, which is not part of an earlier demo "
        f"from this folder. The demo does not share its ports with other programs: {remedy}{other}."
    )


# -- services ----------------------------------------------------------------------------------------
def _healthy(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code < 500
    except httpx.HTTPError:
        return False


def _wait_for(url: str, what: str, proc: Any, log: Path, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _healthy(url):
            return
        if proc.poll() is not None:
            raise DemoError(f"{what} exited with code {proc.returncode}; see {log}")
        time.sleep(0.5)
    raise DemoError(f"{what} did not answer at {url} within {timeout:.0f} s; see {log}")


def _say(console: Console, text: str) -> None:
    """Print, even when the terminal is gone (SIGHUP): then there is no one to tell, and no error."""
    with contextlib.suppress(OSError, ValueError):
        console.print(text)


DEMO_REVIEW_LINK = "https://g.page/r/evergreen-home-services/review"

# The demo sends at once and at any hour so a newcomer sees the message; prefect.yaml keeps the real defaults.
# The event worker reads its review settings from the `jobber-events` entry; the poll has its own copy.
_DEMO_SETTINGS = {"settings": {"review_link": DEMO_REVIEW_LINK, "delay_minutes": 0, "quiet_hours_enabled": False}}
DEMO_OVERRIDES = dict.fromkeys(("jobber-events", "review-poll"), _DEMO_SETTINGS)


def demo_environment(*, home: Path, prefect_port: int, sandbox_port: int, gateway_port: int = 8700) -> dict[str, str]:
    """Environment variables of the embedded default (also applied to this process)."""
    return {
        "DATABASE_URL": f"sqlite:///{home / 'jobberflow.db'}",
        "GATEWAY_PORT": str(gateway_port),
        "PUBLIC_URL": f"http://127.0.0.1:{gateway_port}",
        "JOBBERFLOW_PARAMETER_OVERRIDES": json.dumps(DEMO_OVERRIDES),
        "BUSINESS_NAME": "Evergreen Home Services",
        "JOBBERFLOW_PROJECT_DIR": str(Path(__file__).resolve().parent.parent),
        "PREFECT_HOME": str(home / "prefect"),
        "PREFECT_API_URL": f"http://127.0.0.1:{prefect_port}/api",
        "PREFECT_UI_URL": f"http://127.0.0.1:{prefect_port}",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_RUNNER_POLL_FREQUENCY": "1",
        "DO_NOT_TRACK": "1",
        "JOBBER_BASE_URL": f"http://127.0.0.1:{sandbox_port}",
        "JOBBER_CLIENT_ID": SANDBOX_CLIENT_ID,
        "JOBBER_CLIENT_SECRET": SANDBOX_CLIENT_SECRET,
    }


def run_demo(*, once: bool, prefect_port: int, sandbox_port: int, console: Console, gateway_port: int = 8700) -> None:
    from tasks.settings import get_settings, reset_settings_cache
    from tasks.store.migrate import upgrade_database

    home = (get_settings().jobberflow_home / "demo").resolve()
    home.mkdir(parents=True, exist_ok=True)
    with handle_termination():  # SIGTERM and SIGHUP stop the demo as Ctrl-C does
        stopped = stop_previous_demo(home)
        if stopped:
            _say(console, "Stopped what an earlier demo left running: " + ", ".join(stopped) + ".")
        ensure_ports_free(
            [
                Port(sandbox_port, "the Jobber sandbox", "--sandbox-port"),
                Port(prefect_port, "the Prefect server", "--prefect-port"),
                Port(gateway_port, "the gateway", None),
            ],
            wait=15 if stopped else 2,  # the stopped demo's sockets take a moment to close
        )
        _fresh_start(home)
        extra = demo_environment(
            home=home, prefect_port=prefect_port, sandbox_port=sandbox_port, gateway_port=gateway_port
        )
        # The flow below runs in this process: it must see the same settings as the children.
        os.environ.update(extra)
        os.environ["JOBBERFLOW_HOME"] = str(home)
        reset_settings_cache()
        # Process start: the demo's database is migrated once, before its services start (each of them
        # would migrate too; doing it first keeps them from racing on a fresh database).
        upgrade_database()
        children = ChildProcesses(stop_timeout=15)
        pid_file = DemoPidFile(home)
        pid_file.write(children)
        try:
            _start_and_show(
                children,
                pid_file,
                console=console,
                extra=extra,
                home=home,
                ports={"prefect": prefect_port, "sandbox": sandbox_port, "gateway": gateway_port},
            )
            if once:
                return
            _say(console, "\nEverything is running. Press [bold]Ctrl-C[/] to stop.")
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            _say(console, "\nStopping every process the demo started...")
        except SystemExit:
            _say(console, "\nStopping every process the demo started (the demo was asked to stop)...")
            raise
        finally:
            children.close()
            pid_file.remove()


def _start_and_show(
    children: ChildProcesses,
    pid_file: DemoPidFile,
    *,
    console: Console,
    extra: dict[str, str],
    home: Path,
    ports: dict[str, int],
) -> None:
    """Start the services in order (each waited for), connect, then close a job and show what follows."""
    env = {**os.environ}
    logs = home / "logs"
    cli = [sys.executable, "-m", "deployments.cli"]
    gateway_url = extra["PUBLIC_URL"]
    prefect_cmd = [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1"]
    prefect_cmd += ["--port", str(ports["prefect"])]
    first = (
        (
            "sandbox",
            [
                *cli,
                "sandbox",
                "serve",
                "--port",
                str(ports["sandbox"]),
                "--webhook-url",
                f"{gateway_url}/webhooks/jobber",
            ],
            f"{extra['JOBBER_BASE_URL']}/sandbox/state",
            "the Jobber sandbox",
        ),
        ("prefect-server", prefect_cmd, f"{extra['PREFECT_API_URL']}/health", "the Prefect server"),
        (
            "gateway",
            [*cli, "gateway", "--port", str(ports["gateway"])],
            f"{gateway_url}/healthz",
            "the gateway",
        ),
    )
    with console.status("Starting the Jobber sandbox, the Prefect server (SQLite) and the gateway..."):
        started = []
        for name, cmd, health, what in first:
            proc = children.start(name, cmd, env=env, log_path=logs / f"{name}.log")
            pid_file.write(children)
            started.append((proc, health, what, logs / f"{name}.log"))
        for proc, health, what, log in started:
            _wait_for(health, what, proc, log)
    _connect_and_check(console, extra)

    with console.status("Starting the runner (every deployment of prefect.yaml) and the event worker..."):
        runner = children.start("runner", [*cli, "serve"], env=env, log_path=logs / "runner.log")
        pid_file.write(children)
        children.start("worker", [*cli, "worker"], env=env, log_path=logs / "worker.log")
        pid_file.write(children)
        _wait_for_deployments(extra["PREFECT_API_URL"], READY_DEPLOYMENTS, runner, logs / "runner.log", timeout=120)
        for child in children.children:
            if child.proc.poll() is not None:
                raise DemoError(f"the {child.name} exited with code {child.proc.returncode}; see {child.log_path}")
    _close_a_job_and_show_what_follows(console, extra, home)
    _second_terminal(console, extra, home)


def _fresh_start(home: Path) -> None:
    """The sandbox starts from its seed every time, so the demo's database and outbox do too (otherwise job
    #1042 would already have had its review request). The Prefect server's own data is kept."""
    home.mkdir(parents=True, exist_ok=True)
    for name in ("jobberflow.db", "jobberflow.db-wal", "jobberflow.db-shm"):
        (home / name).unlink(missing_ok=True)
    shutil.rmtree(home / "outbox", ignore_errors=True)


def _second_terminal(console: Console, extra: dict[str, str], home: Path) -> None:
    names = (
        "JOBBERFLOW_HOME",
        "DATABASE_URL",
        "JOBBER_BASE_URL",
        "JOBBER_CLIENT_ID",
        "JOBBER_CLIENT_SECRET",
        "PREFECT_API_URL",
        "PUBLIC_URL",
    )
    values = {**extra, "JOBBERFLOW_HOME": str(home)}
    console.print("\nIn another terminal, to act in the sandbox and look at the data:")
    console.print("  source .venv/bin/activate", soft_wrap=True, markup=False)
    console.print("  export " + " ".join(f"{n}={values[n]}" for n in names), soft_wrap=True, markup=False)
    console.print(
        "  jobberflow sandbox jobs; jobberflow sandbox close-job 1043; jobberflow reviews list",
        soft_wrap=True,
        markup=False,
    )


def _connect_and_check(console: Console, extra: dict[str, str]) -> None:
    from tasks.jobber.connect import connect_with_oauth
    from tasks.jobber.factory import reset_jobber_clients
    from tasks.settings import reset_settings_cache

    reset_settings_cache()
    reset_jobber_clients()
    account = connect_with_oauth(
        base_url=extra["JOBBER_BASE_URL"], client_id=SANDBOX_CLIENT_ID, client_secret=SANDBOX_CLIENT_SECRET
    )
    console.print(f"Connected to the sandbox account [bold]{account['name']}[/] through OAuth.")

    from flows.jobber_check import jobber_connection_check

    overview = jobber_connection_check()
    console.print(overview.markdown())
    console.print(
        f"\nPrefect UI: {extra['PREFECT_UI_URL']}/runs  (flow 'jobber-connection-check', "
        "artifact 'jobber-account-overview')"
    )
    console.print(f"Jobber sandbox: {extra['JOBBER_BASE_URL']}  (try `jobberflow sandbox jobs`)")
    _flush_prefect_logs()


def _wait_for_deployments(api_url: str, names: Sequence[str], runner: Any, log: Path, *, timeout: float) -> None:
    """The runner registers its deployments (and their event triggers) shortly after it starts; any of
    `names` registered means it is ready."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            found = httpx.post(
                f"{api_url}/deployments/filter", json={"deployments": {"name": {"any_": list(names)}}}, timeout=5
            ).json()
            if found:
                time.sleep(3)  # its automation is created right after the deployment
                return
        except (httpx.HTTPError, ValueError):
            pass
        if runner.poll() is not None:
            raise DemoError(f"the runner exited with code {runner.returncode}; see {log}")
        time.sleep(1)
    raise DemoError(f"the runner did not register {' or '.join(map(repr, names))} within {timeout:.0f} s; see {log}")


def _close_a_job_and_show_what_follows(console: Console, extra: dict[str, str], home: Path) -> None:
    from tasks.delivery.local import OutboxChannel
    from tasks.slack.local import LocalSlackSender

    outbox = OutboxChannel(root=home / "outbox")
    slack = LocalSlackSender(root=home / "outbox" / "slack")
    before = {m.get("id") for m in outbox.messages()}
    slack_before = {m.get("file") for m in slack.messages()}
    job = httpx.get(f"{extra['JOBBER_BASE_URL']}/sandbox/jobs", params={"status": "active"}, timeout=10).json()
    jobs = job.get("jobs", job) if isinstance(job, dict) else job
    target = next((j for j in jobs if str(j.get("jobNumber") or j.get("job_number")) == "1042"), None)
    if target is None:
        console.print("Job #1042 is already closed in this sandbox; close another with `jobberflow sandbox close-job`.")
        return
    console.print("\nClosing job [bold]#1042 Water Heater Installation[/] for John Smith in the Jobber sandbox...")
    httpx.post(f"{extra['JOBBER_BASE_URL']}/sandbox/actions/close_job", json={"job_number": 1042}, timeout=30)
    console.print(EVENT_PATH, soft_wrap=True, markup=False)
    logs = home / "logs"
    new = _wait_for_new(console, "the review request to reach the outbox", outbox.messages, "id", before, wait=120)
    if not new:
        console.print(
            f"No message yet: look at the runs in the Prefect UI and at {logs / 'worker.log'} and "
            f"{logs / 'runner.log'}."
        )
    for message in new:
        console.print(f"\n[bold green]{message.get('channel', '').upper()} to {message.get('to')}[/]:")
        if message.get("subject"):
            console.print(f"Subject: {message['subject']}")
        console.print(message.get("body", ""), markup=False)
    if new:
        console.print(
            f"\nThe message is in {outbox.root} (no Twilio/SMTP credentials are set, so nothing left the "
            "machine). In the Prefect UI the event worker's task run is named after what it did; its "
            "'jobber-events' artifact has a row per event."
        )
    _show_slack(console, slack, slack_before, wait=30)


def _wait_for_new(
    console: Console,
    what: str,
    read: Callable[[], list[dict[str, Any]]],
    key: str,
    before: set[Any],
    *,
    wait: float,
) -> list[dict[str, Any]]:
    """The messages ``read`` returns whose ``key`` was not ``before``, looked for once a second for ``wait`` s."""
    deadline = time.monotonic() + wait
    new: list[dict[str, Any]] = []
    with console.status(f"Waiting for {what}..."):
        while time.monotonic() < deadline:
            new = [m for m in read() if m.get(key) not in before]
            if new:
                break
            time.sleep(1)
    return new


def _show_slack(console: Console, slack: Any, before: set[Any], *, wait: float) -> None:
    """The Slack notification the event worker posts to the local stand-in (SLACK_BOT_TOKEN is not set)."""
    from tasks.slack.local import plain_text

    posted = _wait_for_new(console, "the Slack notification", slack.messages, "file", before, wait=wait)
    if not posted:
        console.print(
            f"\nNo Slack notification yet: it will appear in {slack.root} (one JSON file per message, and "
            f"{slack.root / 'slack.log'}) once the event worker posts it."
        )
        return
    for message in posted:
        console.print(f"\n[bold magenta]SLACK to {message.get('channel')}[/] (local stand-in):")
        console.print(plain_text(str(message.get("text", ""))), markup=False)
        for line in _block_lines(message.get("blocks")):
            console.print(f"  {line}", markup=False, soft_wrap=True)
    console.print(
        f"\nSlack messages are in {slack.root} (SLACK_BOT_TOKEN is not set, so they are written there instead "
        "of posted; set it, and SLACK_DEFAULT_CHANNEL, to post them to your workspace)."
    )


def _block_lines(blocks: object) -> list[str]:
    """A terminal's view of Block Kit: each section's text and fields, each context's elements."""
    from tasks.slack.local import plain_text

    def text_of(item: object) -> str:
        raw = item.get("text") if isinstance(item, dict) else None
        return plain_text(str(raw)).replace("*", "").replace("\n", " ").strip() if raw else ""

    lines: list[str] = []
    for block in blocks if isinstance(blocks, list) else []:
        if not isinstance(block, dict):
            continue
        if block.get("type") == "section":
            parts = [text_of(block.get("text"))] + [text_of(f) for f in block.get("fields") or []]
        elif block.get("type") == "context":
            parts = [text_of(e) for e in block.get("elements") or []]
        else:
            continue
        line = "   ".join(p for p in parts if p)
        if line:
            lines.append(line)
    return lines


def _flush_prefect_logs() -> None:
    """Send buffered run logs to the server now, before anything stops it."""
    from prefect.logging.handlers import APILogHandler

    APILogHandler().flush()
