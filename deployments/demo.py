"""`jobberflow demo`: the embedded default on one machine.

Starts (or reuses) a Prefect server on SQLite, the Jobber sandbox, the gateway and the runner that serves
every deployment of prefect.yaml; connects to the sandbox through the real OAuth flow; runs the connection
check; then closes job #1042 in the sandbox as a person would. Jobber's signed JOB_CLOSED webhook goes to
the gateway, the gateway's relay turns it into a Prefect event, the event triggers the review-request
deployment, and the review request lands in the local outbox (no Twilio/SMTP credentials needed). Child
processes log to `<JOBBERFLOW_HOME>/logs/`; everything keeps running until Ctrl-C.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from rich.console import Console

SANDBOX_CLIENT_ID = "sandbox-client-id"
SANDBOX_CLIENT_SECRET = "sandbox-client-secret"  # noqa: S105 - the sandbox's well-known value


def _healthy(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code < 500
    except httpx.HTTPError:
        return False


def _wait_for(url: str, what: str, proc: subprocess.Popen[bytes] | None, log: Path, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _healthy(url):
            return
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{what} exited with code {proc.returncode}; see {log}")
        time.sleep(0.5)
    raise RuntimeError(f"{what} did not answer at {url} within {timeout:.0f} s; see {log}")


@contextmanager
def _service(
    cmd: list[str], *, health: str, what: str, log: Path, env: dict[str, str], reuse: bool = True
) -> Iterator[None]:
    """Start `cmd` (unless `reuse` and something already answers at `health`); stop it on exit."""
    if reuse and _healthy(health):
        yield
        return
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env)  # noqa: S603
    try:
        _wait_for(health, what, proc, log)
        yield
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()


DEMO_REVIEW_LINK = "https://g.page/r/evergreen-home-services/review"

# The demo sends at once and at any hour so a newcomer sees the message; prefect.yaml keeps the real defaults.
DEMO_OVERRIDES = {
    "review-request": {"settings": {"review_link": DEMO_REVIEW_LINK, "delay_minutes": 0, "quiet_hours_enabled": False}},
    "review-poll": {"settings": {"review_link": DEMO_REVIEW_LINK, "delay_minutes": 0, "quiet_hours_enabled": False}},
}


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
    home = (Path(os.environ.get("JOBBERFLOW_HOME", "data")) / "demo").resolve()
    _fresh_start(home)
    extra = demo_environment(home=home, prefect_port=prefect_port, sandbox_port=sandbox_port, gateway_port=gateway_port)
    # The flow below runs in this process: it must see the same settings as the children.
    os.environ.update(extra)
    os.environ["JOBBERFLOW_HOME"] = str(home)
    env = {**os.environ}
    logs = home / "logs"
    prefect_cmd = [
        sys.executable,
        "-m",
        "prefect",
        "server",
        "start",
        "--host",
        "127.0.0.1",
        "--port",
        str(prefect_port),
    ]
    gateway_url = extra["PUBLIC_URL"]
    sandbox_cmd = [
        sys.executable,
        "-m",
        "deployments.cli",
        "sandbox",
        "serve",
        "--port",
        str(sandbox_port),
        "--webhook-url",
        f"{gateway_url}/webhooks/jobber",
    ]
    gateway_cmd = [sys.executable, "-m", "deployments.cli", "gateway", "--port", str(gateway_port)]
    runner_cmd = [sys.executable, "-m", "deployments.cli", "serve"]
    services = []
    try:
        with console.status("Starting the Prefect server (SQLite), the Jobber sandbox and the gateway..."):
            for cmd, health, what, log in (
                (sandbox_cmd, f"{extra['JOBBER_BASE_URL']}/sandbox/state", "the Jobber sandbox", "sandbox.log"),
                (prefect_cmd, f"{extra['PREFECT_API_URL']}/health", "the Prefect server", "prefect-server.log"),
                (gateway_cmd, f"{gateway_url}/healthz", "the gateway", "gateway.log"),
            ):
                service = _service(cmd, health=health, what=what, log=logs / log, env=env)
                service.__enter__()
                services.append(service)
        _connect_and_check(console, extra)
        with console.status("Starting the runner (it serves every deployment of prefect.yaml)..."):
            runner = _service(
                runner_cmd,
                health=f"{extra['PREFECT_API_URL']}/health",
                what="the runner",
                log=logs / "runner.log",
                env=env,
                reuse=False,
            )
            runner.__enter__()
            services.append(runner)
            _wait_for_deployments(extra["PREFECT_API_URL"], "review-request", timeout=120)
        _close_a_job_and_show_the_review_request(console, extra, home)
        _second_terminal(console, extra, home)
        if once:
            return
        console.print("\nEverything is running. Press [bold]Ctrl-C[/] to stop.")
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        console.print("Stopping.")
    finally:
        for service in reversed(services):
            service.__exit__(None, None, None)


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


def _wait_for_deployments(api_url: str, name: str, *, timeout: float) -> None:
    """The runner registers its deployments (and their event triggers) shortly after it starts."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            found = httpx.post(
                f"{api_url}/deployments/filter", json={"deployments": {"name": {"any_": [name]}}}, timeout=5
            ).json()
            if found:
                time.sleep(3)  # its automation is created right after the deployment
                return
        except (httpx.HTTPError, ValueError):
            pass
        time.sleep(1)
    raise RuntimeError(f"the runner did not register the {name!r} deployment within {timeout:.0f} s")


def _close_a_job_and_show_the_review_request(console: Console, extra: dict[str, str], home: Path) -> None:
    from tasks.delivery.outbox import OutboxChannel

    outbox = OutboxChannel(root=home / "outbox")
    before = {m.get("id") for m in outbox.messages()}
    job = httpx.get(f"{extra['JOBBER_BASE_URL']}/sandbox/jobs", params={"status": "active"}, timeout=10).json()
    jobs = job.get("jobs", job) if isinstance(job, dict) else job
    target = next((j for j in jobs if str(j.get("jobNumber") or j.get("job_number")) == "1042"), None)
    if target is None:
        console.print("Job #1042 is already closed in this sandbox; close another with `jobberflow sandbox close-job`.")
        return
    console.print("\nClosing job [bold]#1042 Water Heater Installation[/] for John Smith in the Jobber sandbox...")
    httpx.post(f"{extra['JOBBER_BASE_URL']}/sandbox/actions/close_job", json={"job_number": 1042}, timeout=30)
    console.print("Jobber -> signed JOB_CLOSED webhook -> gateway -> Prefect event -> review-request flow run")
    deadline = time.monotonic() + 120
    with console.status("Waiting for the review request to reach the outbox..."):
        while time.monotonic() < deadline:
            new = [m for m in outbox.messages() if m.get("id") not in before]
            if new:
                break
            time.sleep(1)
        else:
            console.print("No message yet: look at the flow runs in the Prefect UI and at data/logs/runner.log.")
            return
    for message in new:
        console.print(f"\n[bold green]{message.get('channel', '').upper()} to {message.get('to')}[/]:")
        if message.get("subject"):
            console.print(f"Subject: {message['subject']}")
        console.print(message.get("body", ""))
    console.print(
        f"\nThe message is in {outbox.root} (no Twilio/SMTP credentials are set, so nothing left the "
        "machine). The decision table is the 'review-request-decisions' artifact of the run."
    )


def _flush_prefect_logs() -> None:
    """Send buffered run logs to the server now, before anything stops it."""
    from prefect.logging.handlers import APILogHandler

    APILogHandler().flush()
