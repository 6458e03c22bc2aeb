"""`jobberflow demo` never talks to a stale demo: what an earlier demo left running (recorded in
`<home>/demo.pid`) is stopped before a new one starts; a port held by anything else is refused, by name."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from deployments.processes import ChildProcesses, process_start_time, spawn, stop
from sandbox.demo import (
    PID_FILE,
    DemoPidFile,
    Port,
    _block_lines,
    ensure_ports_free,
    port_is_free,
    stop_previous_demo,
)
from tasks.errors import DemoError
from tests.deployments.test_processes import SLEEPER, running, start_parent, wait_until_gone  # noqa: F401 - fixture

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")


def test_a_leftover_process_recorded_in_the_pid_file_is_stopped(tmp_path: Path) -> None:
    # An earlier demo's child (in a group of its own, as the demo starts it) whose demo is gone.
    with ChildProcesses() as children:
        leftover = children.start("runner", SLEEPER)
        DemoPidFile(tmp_path).write(children)
        record = json.loads((tmp_path / PID_FILE).read_text())
        assert record["children"][0]["pid"] == leftover.pid and record["children"][0]["name"] == "runner"
        assert stop_previous_demo(tmp_path) == [f"runner (pid {leftover.pid})"]
        leftover.wait(timeout=30)  # reap it: this test process is its parent
        assert leftover.returncode == -signal.SIGTERM
        assert not (tmp_path / PID_FILE).exists()


def test_a_running_earlier_demo_is_asked_to_stop_and_takes_its_children_with_it(
    tmp_path: Path,
    start_parent: Any,  # noqa: F811 - the fixture imported above
) -> None:
    old = start_parent("--family", "--demo-home", str(tmp_path))
    stopped = stop_previous_demo(tmp_path)
    assert stopped[0] == f"the demo (pid {old.proc.pid})"
    assert old.proc.wait(timeout=60) == 128 + signal.SIGTERM  # it shut down cleanly, children first
    assert wait_until_gone(old.descendants) == []
    assert not (tmp_path / PID_FILE).exists()


def test_a_recorded_pid_now_used_by_another_process_is_left_alone(tmp_path: Path) -> None:
    stranger = spawn(SLEEPER)
    try:
        started = process_start_time(stranger.pid)
        assert started is not None
        record = {"demo": {"pid": 999_999_999}, "children": [{"pid": stranger.pid, "started": str(int(started) - 1)}]}
        (tmp_path / PID_FILE).write_text(json.dumps(record))
        assert stop_previous_demo(tmp_path) == []
        assert running(stranger.pid)
        assert not (tmp_path / PID_FILE).exists()
    finally:
        stop(stranger, timeout=30)


def test_a_damaged_pid_file_is_ignored(tmp_path: Path) -> None:
    (tmp_path / PID_FILE).write_text("{not json")
    assert stop_previous_demo(tmp_path) == []
    assert not (tmp_path / PID_FILE).exists()
    assert stop_previous_demo(tmp_path) == []  # no file at all


def test_the_pid_file_is_removed_only_by_its_own_demo(tmp_path: Path) -> None:
    pid_file = DemoPidFile(tmp_path)
    with ChildProcesses() as children:
        pid_file.write(children)
    pid_file.remove()
    assert not pid_file.path.exists()
    pid_file.path.write_text(json.dumps({"demo": {"pid": os.getpid() + 1}, "children": []}))
    pid_file.remove()  # a newer demo's file
    assert pid_file.path.exists()


def test_a_port_held_by_another_program_is_refused_with_its_number_and_holder() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        assert not port_is_free(port)
        with pytest.raises(DemoError) as info:
            ensure_ports_free([Port(port, "the Prefect server", "--prefect-port")], wait=0)
    message = str(info.value)
    assert f"port {port} (the Prefect server) is already in use" in message
    assert f"pid {os.getpid()}" in message  # who holds it
    assert f"lsof -i :{port}" in message and "jobberflow demo --prefect-port N" in message
    assert port_is_free(port)
    ensure_ports_free([Port(port, "the Prefect server", "--prefect-port")], wait=0)


def test_a_slack_message_is_shown_as_text() -> None:
    blocks = [
        {
            "type": "section",
            "text": {"type": "mrkdwn", "text": ":white_check_mark: *Job closed* <https://x/1|#1042 Heater>"},
        },
        {"type": "section", "fields": [{"type": "mrkdwn", "text": "*Client*\nJohn &amp; Ann"}]},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": "Completed today"}]},
        {"type": "divider"},
    ]
    assert _block_lines(blocks) == [
        ":white_check_mark: Job closed #1042 Heater",
        "Client John & Ann",
        "Completed today",
    ]


def test_the_demo_command_refuses_a_taken_port_before_starting_anything(tmp_path: Path) -> None:
    """`jobberflow demo` with its Prefect port taken says so (exit 1, no traceback) and starts nothing."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        env = {**os.environ, "JOBBERFLOW_HOME": str(tmp_path), "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
        result = subprocess.run(
            [sys.executable, "-m", "deployments.cli", "demo", "--once", "--prefect-port", str(port)],
            cwd=Path(__file__).resolve().parents[2],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert result.returncode == 1
    assert f"port {port} (the Prefect server) is already in use" in " ".join(result.stderr.split())
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "demo" / PID_FILE).exists()
