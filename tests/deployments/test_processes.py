"""Processes started with deployments.processes stop with their parent: on Ctrl-C (SIGINT to the whole
foreground process group, as a terminal sends it), SIGTERM, SIGHUP and SIGKILL of the parent.

Each test starts a real parent (tests/deployments/spawning_parent.py) that starts sleeping children, signals
it, and polls /proc until no child is left. Timeouts are generous (a loaded 2-core machine); nothing sleeps
a fixed time."""

from __future__ import annotations

import json
import os
import selectors
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from deployments.processes import ChildProcesses, spawn, stop

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc; uses PR_SET_PDEATHSIG")

ROOT = Path(__file__).resolve().parents[2]
SLEEPER = [sys.executable, "-c", "import time; time.sleep(600)"]


def running(pid: int) -> bool:
    """True while `pid` exists and is not a zombie (read from /proc, independently of the module)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return stat[stat.rfind(")") + 2] not in "ZX"


def wait_until_gone(pids: list[int], timeout: float = 30.0) -> list[int]:
    """Poll until none of `pids` runs; returns those still running after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        left = [pid for pid in pids if running(pid)]
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.05)


def read_line(proc: subprocess.Popen[bytes], timeout: float = 90.0) -> dict[str, Any]:
    assert proc.stdout is not None
    selector = selectors.DefaultSelector()
    selector.register(proc.stdout, selectors.EVENT_READ)
    deadline = time.monotonic() + timeout
    buffer = b""
    while b"\n" not in buffer:
        remaining = deadline - time.monotonic()
        if remaining <= 0 or proc.poll() is not None and not selector.select(0):
            raise AssertionError(f"the parent did not report its children (exit code {proc.poll()})")
        if selector.select(min(remaining, 1.0)):
            chunk = os.read(proc.stdout.fileno(), 4096)
            if not chunk:
                raise AssertionError(f"the parent closed its output (exit code {proc.wait(30)})")
            buffer += chunk
    data: dict[str, Any] = json.loads(buffer.split(b"\n", 1)[0])
    return data


class Parent:
    def __init__(self, proc: subprocess.Popen[bytes], pids: dict[str, Any]) -> None:
        self.proc = proc
        self.children: list[int] = pids["children"]
        self.grandchildren: list[int] = pids["grandchildren"]

    @property
    def descendants(self) -> list[int]:
        return self.children + self.grandchildren


@pytest.fixture
def start_parent(tmp_path: Path) -> Iterator[Any]:
    started: list[Parent] = []

    def start(*args: str) -> Parent:
        # Its own session, as a shell gives a foreground job its own process group.
        proc = subprocess.Popen(
            [sys.executable, "-m", "tests.deployments.spawning_parent", "--work", str(tmp_path), *args],
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=(tmp_path / "parent.err").open("ab"),
            start_new_session=True,
        )
        parent = Parent(proc, read_line(proc))
        started.append(parent)
        assert all(running(pid) for pid in parent.descendants)
        return parent

    yield start
    for parent in started:  # whatever a failed test left behind
        for pid in [parent.proc.pid, *parent.descendants]:
            if running(pid):
                os.kill(pid, signal.SIGKILL)
        parent.proc.wait(timeout=30)
        if parent.proc.stdout is not None:
            parent.proc.stdout.close()


def test_ctrl_c_to_the_foreground_process_group_stops_every_child(start_parent: Any) -> None:
    parent = start_parent("--family")
    # The children are in sessions of their own: the terminal's SIGINT reaches only the parent...
    assert all(os.getpgid(pid) != parent.proc.pid for pid in parent.children)
    os.killpg(parent.proc.pid, signal.SIGINT)  # ...which is what a terminal does on Ctrl-C
    assert parent.proc.wait(timeout=60) != 0
    assert wait_until_gone(parent.descendants) == []


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_sigterm_and_sighup_stop_the_parent_cleanly_with_every_child(start_parent: Any, sig: signal.Signals) -> None:
    parent = start_parent("--family")
    os.kill(parent.proc.pid, sig)
    assert parent.proc.wait(timeout=60) == 128 + sig  # SystemExit(128 + signal): the `with` blocks ran
    assert wait_until_gone(parent.descendants) == []


@pytest.mark.parametrize("where", [[], ["--from-thread"]], ids=["main thread", "short-lived thread"])
def test_sigkill_of_the_parent_leaves_no_child(start_parent: Any, where: list[str]) -> None:
    parent = start_parent("--children", "3", *where)
    os.kill(parent.proc.pid, signal.SIGKILL)  # nothing runs in the parent: the kernel tells the children
    assert parent.proc.wait(timeout=60) == -signal.SIGKILL
    assert wait_until_gone(parent.children) == []


def test_spawn_starts_the_child_in_its_own_session(tmp_path: Path) -> None:
    proc = spawn([sys.executable, "-c", "print('hello', flush=True)"], log_path=tmp_path / "logs" / "child.log")
    try:
        assert proc.wait(timeout=60) == 0
        assert (tmp_path / "logs" / "child.log").read_text().strip() == "hello"
    finally:
        stop(proc)
    proc = spawn(SLEEPER)
    try:
        assert os.getsid(proc.pid) == proc.pid and os.getpgid(proc.pid) == proc.pid
    finally:
        stop(proc, timeout=30)
    assert proc.returncode == -signal.SIGTERM


def test_a_child_started_from_a_thread_outlives_that_thread(tmp_path: Path) -> None:
    """Linux sends the parent-death signal when the *thread* that forked the child ends: a service a
    benchmark's chaos thread restarted used to get SIGTERM (and exit 0) when that thread finished."""
    started: list[subprocess.Popen[bytes]] = []
    starter = threading.Thread(target=lambda: started.append(spawn(SLEEPER)), name="short-lived")
    starter.start()
    starter.join()
    proc = started[0]
    try:
        time.sleep(1.5)
        assert proc.poll() is None, f"the child died with the thread that started it (exit {proc.returncode})"
    finally:
        stop(proc, timeout=30)


def test_stop_kills_a_child_that_ignores_sigterm(tmp_path: Path) -> None:
    ready = tmp_path / "ready"
    code = (
        "import signal, time, pathlib; signal.signal(signal.SIGTERM, signal.SIG_IGN);"
        f"pathlib.Path({str(ready)!r}).touch(); time.sleep(600)"
    )
    proc = spawn([sys.executable, "-c", code])
    deadline = time.monotonic() + 60
    while not ready.exists():
        assert time.monotonic() < deadline and proc.poll() is None
        time.sleep(0.05)
    stop(proc, timeout=0.5)
    assert proc.returncode == -signal.SIGKILL
    assert not running(proc.pid)


def test_children_stop_newest_first(tmp_path: Path) -> None:
    record = tmp_path / "stopped.txt"
    ready = tmp_path / "ready"
    ready.mkdir()

    def child(name: str) -> list[str]:
        code = (
            "import signal, sys, time, pathlib\n"
            "def bye(*_):\n"
            f"    with open({str(record)!r}, 'a') as f: f.write({name!r} + '\\n')\n"
            "    sys.exit(0)\n"
            "signal.signal(signal.SIGTERM, bye)\n"
            f"pathlib.Path({str(ready / name)!r}).touch()\n"
            "time.sleep(600)\n"
        )
        return [sys.executable, "-c", code]

    with ChildProcesses() as children:
        for name in ("server", "gateway", "runner"):
            children.start(name, child(name))
        deadline = time.monotonic() + 60
        while len(list(ready.iterdir())) < 3:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        pids = [c.pid for c in children.children]
    assert record.read_text().split() == ["runner", "gateway", "server"]
    assert children.children == [] and wait_until_gone(pids) == []
