"""`jobberflow demo`: the embedded default on one machine.

Starts (or reuses) a Prefect server on SQLite and the Jobber sandbox, connects to the sandbox through the
real OAuth flow, runs the first flow against it, and leaves everything running so the run and its artifact
can be looked at in the Prefect UI. Child processes log to `<JOBBERFLOW_HOME>/logs/`.
"""

from __future__ import annotations

import os
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
def _service(cmd: list[str], *, health: str, what: str, log: Path, env: dict[str, str]) -> Iterator[None]:
    """Start `cmd` unless something already answers at `health`; stop it on exit."""
    if _healthy(health):
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


def demo_environment(*, home: Path, prefect_port: int, sandbox_port: int) -> dict[str, str]:
    """Environment variables of the embedded default (also applied to this process)."""
    return {
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


def run_demo(*, once: bool, prefect_port: int, sandbox_port: int, console: Console) -> None:
    home = Path(os.environ.get("JOBBERFLOW_HOME", "data")).resolve()
    extra = demo_environment(home=home, prefect_port=prefect_port, sandbox_port=sandbox_port)
    # The flow below runs in this process: it must see the same settings as the children.
    os.environ.update(extra)
    os.environ.setdefault("JOBBERFLOW_HOME", str(home))
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
    sandbox_cmd = [sys.executable, "-m", "deployments.cli", "sandbox", "serve", "--port", str(sandbox_port)]
    with console.status("Starting the Prefect server (SQLite) and the Jobber sandbox..."):
        services = [
            _service(
                sandbox_cmd,
                health=f"{extra['JOBBER_BASE_URL']}/sandbox/state",
                what="the Jobber sandbox",
                log=logs / "sandbox.log",
                env=env,
            ),
            _service(
                prefect_cmd,
                health=f"{extra['PREFECT_API_URL']}/health",
                what="the Prefect server",
                log=logs / "prefect-server.log",
                env=env,
            ),
        ]
        for service in services:
            service.__enter__()
    try:
        _first_run(console, extra)
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


def _first_run(console: Console, extra: dict[str, str]) -> None:
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


def _flush_prefect_logs() -> None:
    """Send buffered run logs to the server now, before anything stops it."""
    from prefect.logging.handlers import APILogHandler

    APILogHandler().flush()
