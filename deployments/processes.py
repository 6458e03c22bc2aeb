"""Child processes that stop with their parent: the demo's services, the gateway's relay, benchmarks.

Three ways a parent goes away, and what makes its children follow:

- **Ctrl-C.** A terminal sends SIGINT to its whole foreground process group. `spawn` starts every child
  in a session (and process group) of its own, so the signal reaches only the parent, which then stops
  its children in the order it chooses (`ChildProcesses` stops them newest first: the runner before the
  Prefect server it talks to).
- **SIGTERM, SIGHUP** (`kill`, a closed terminal, systemd). `handle_termination()` turns them into
  `SystemExit` in the parent, so the same `finally`/`with` blocks run as for Ctrl-C.
- **SIGKILL, or a crash** (nothing runs in the parent). On Linux `spawn` asks the kernel to send the
  child SIGTERM when its parent dies (`prctl(PR_SET_PDEATHSIG)`); each child then shuts down as on
  `stop` (and any child that itself uses `spawn` passes that on to its own children).

`stop` signals the child's whole process group (SIGTERM, then SIGKILL after `timeout`), so what the
child started in its own group (a server's workers, a runner's flow runs) stops with it.

Linux delivers the parent-death signal when the *thread* that forked the child exits, not the process. So
`spawn` forks from the main thread or, when called from any other thread, from one spawner thread that lives
as long as the process: a service restarted from a short-lived thread (a benchmark's chaos thread) used to
get SIGTERM when that thread ended, and exit 0 as if asked to stop.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import functools
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from types import FrameType, TracebackType

log = logging.getLogger(__name__)

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
# What stops a parent cleanly: SIGINT is Python's KeyboardInterrupt; the others become SystemExit.
TERMINATION_SIGNALS: tuple[signal.Signals, ...] = tuple(
    getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name)
)
_SHUTDOWN_SIGNALS: tuple[signal.Signals, ...] = (signal.SIGINT, *TERMINATION_SIGNALS)

_Prctl = Callable[[int, int, int, int, int], int]


@functools.cache
def _prctl() -> _Prctl | None:
    """libc's prctl, loaded once in the parent (never between fork and exec); None off Linux."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        function = libc.prctl
    except (OSError, AttributeError):  # pragma: no cover - a Linux without a usable libc
        return None
    function.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
    function.restype = ctypes.c_int
    prctl: _Prctl = function
    return prctl


def _die_with_parent() -> Callable[[], None] | None:
    """A preexec_fn asking the kernel for SIGTERM when this process dies (Linux), or None elsewhere.

    It runs in the child between fork and exec, so it only calls what was prepared before the fork."""
    prctl = _prctl()
    if prctl is None:
        return None
    parent = os.getpid()
    sigterm = int(signal.SIGTERM)

    def preexec() -> None:
        prctl(PR_SET_PDEATHSIG, sigterm, 0, 0, 0)
        if os.getppid() != parent:  # the parent died before the request took effect: nobody will tell us
            os.kill(os.getpid(), sigterm)

    return preexec


@functools.cache
def _spawner() -> ThreadPoolExecutor:
    """The one thread that forks children for every thread but the main one; it ends only with the
    interpreter (the executor is shut down at exit), so the kernel signals the children only then."""
    return ThreadPoolExecutor(max_workers=1, thread_name_prefix="jobberflow-spawner")


def spawn(
    cmd: list[str], *, env: dict[str, str] | None = None, log_path: Path | None = None, cwd: Path | None = None
) -> subprocess.Popen[bytes]:
    """Start `cmd` (in `cwd`, default ours) in a session and process group of its own that stops when this
    process dies (and not before, whichever thread calls this).

    Output goes to `log_path` (appended; its folder is created), or to this process's own stdout/stderr
    when None. Stdin is /dev/null: the child never reads from (or is stopped by) the terminal.
    """
    if _in_main_thread():
        return _fork(cmd, env=env, log_path=log_path, cwd=cwd)
    return _spawner().submit(_fork, cmd, env=env, log_path=log_path, cwd=cwd).result()


def _fork(
    cmd: list[str], *, env: dict[str, str] | None, log_path: Path | None, cwd: Path | None
) -> subprocess.Popen[bytes]:
    preexec = _die_with_parent()
    if log_path is None:
        return subprocess.Popen(  # noqa: S603 - the caller's command, not a shell
            cmd, env=env, cwd=cwd, stdin=subprocess.DEVNULL, start_new_session=True, preexec_fn=preexec
        )
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as out:
        return subprocess.Popen(  # noqa: S603 - the caller's command, not a shell
            cmd,
            env=env,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=preexec,
        )


def _signal_group(proc: subprocess.Popen[bytes], sig: signal.Signals) -> bool:
    """Send `sig` to the child's process group (to the child alone if it has no group of its own).

    False when nothing was left to signal. `spawn` makes the child its group's leader, so the group id is
    the child's pid; the kernel keeps that id reserved while any member of the group lives."""
    try:
        os.killpg(proc.pid, sig)
        return True
    except ProcessLookupError:
        pass
    except PermissionError:  # pragma: no cover - the id names someone else's group: never touch it
        return False
    if proc.poll() is None:  # not a group leader (not started by `spawn`): signal the child itself
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(sig)
            return True
    return False


def _proc_stat(pid: int | str) -> list[str] | None:
    """/proc/<pid>/stat after the command name: [state, ppid, pgrp, ...]; None when gone or not Linux."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return None
    return raw[raw.rfind(")") + 2 :].split()


def is_running(pid: int) -> bool:
    """True while `pid` exists and is not a zombie (an exited process nobody has reaped yet)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # it exists, under another user
    stat = _proc_stat(pid)
    return stat is None or stat[0] not in ("Z", "X")


def process_start_time(pid: int) -> str | None:
    """When `pid` started, in clock ticks since boot (Linux), to tell a process from a later one that was
    given the same pid; None when unknown."""
    stat = _proc_stat(pid)
    return stat[19] if stat is not None and len(stat) > 19 else None


def _group_alive(pgid: int) -> bool:
    """True while a process of group `pgid` runs. Zombies do not count: an orphan whose reaper (pid 1 in
    some containers) never reaps it would otherwise look alive for ever."""
    try:
        os.killpg(pgid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    if not os.path.isdir("/proc/self"):  # not Linux: the kernel's answer is all we have
        return True
    wanted = str(pgid)
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            stat = _proc_stat(entry.name)
            if stat is not None and len(stat) > 2 and stat[2] == wanted and stat[0] not in ("Z", "X"):
                return True
    return False


def stop(proc: subprocess.Popen[bytes], *, timeout: float = 10.0, hurry: Callable[[], bool] | None = None) -> None:
    """SIGTERM to the child's process group; SIGKILL to what is left of it after `timeout` seconds (at
    once when `hurry()` becomes true, e.g. after a second Ctrl-C). Returns when the child is reaped."""
    deadline = time.monotonic() + timeout
    _signal_group(proc, signal.SIGTERM)
    while time.monotonic() < deadline and not (hurry is not None and hurry()):
        if proc.poll() is not None and not _group_alive(proc.pid):
            return
        time.sleep(0.1)
    if proc.poll() is None or _group_alive(proc.pid):
        log.warning("process %s did not stop within %.0f s of SIGTERM; killing it", proc.pid, timeout)
        _signal_group(proc, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=10)


def _in_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


def _raise_system_exit(signum: int, _frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


class _RestoreHandlers(contextlib.AbstractContextManager[None]):
    def __init__(self, previous: dict[signal.Signals, object]) -> None:
        self.previous = previous

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)  # type: ignore[arg-type]


def handle_termination(signals: Iterable[signal.Signals] = TERMINATION_SIGNALS) -> _RestoreHandlers:
    """From now on SIGTERM and SIGHUP raise `SystemExit(128 + signal)` in the main thread, so they stop
    the process through the same `finally` and `with` blocks as Ctrl-C's KeyboardInterrupt.

    Call it from the main thread. Use the result as a context manager to restore the previous handlers
    on exit (`with handle_termination(): ...`), or ignore it to keep them for the life of the process."""
    previous: dict[signal.Signals, object] = {}
    if not _in_main_thread():
        raise RuntimeError("handle_termination() must be called from the main thread")
    for sig in signals:
        previous[sig] = signal.signal(sig, _raise_system_exit)
    return _RestoreHandlers(previous)


@dataclass
class Child:
    name: str
    proc: subprocess.Popen[bytes]
    log_path: Path | None = None

    @property
    def pid(self) -> int:
        return self.proc.pid


class ChildProcesses:
    """Owns the children it starts; `close()` (or leaving the `with` block, however that happens) stops
    them newest first.

    While it stops them, Ctrl-C, SIGTERM and SIGHUP no longer interrupt the shutdown half-way: a second
    one means "hurry" (the remaining children get SIGKILL instead of their `stop_timeout`)."""

    def __init__(self, *, stop_timeout: float = 10.0) -> None:
        self.stop_timeout = stop_timeout
        self.children: list[Child] = []
        self._hurry = False

    def start(
        self, name: str, cmd: list[str], *, env: dict[str, str] | None = None, log_path: Path | None = None
    ) -> subprocess.Popen[bytes]:
        proc = spawn(cmd, env=env, log_path=log_path)
        self.children.append(Child(name, proc, log_path))
        return proc

    def __enter__(self) -> ChildProcesses:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        with self._shielded():
            while self.children:
                child = self.children[-1]
                stop(child.proc, timeout=0 if self._hurry else self.stop_timeout, hurry=lambda: self._hurry)
                self.children.pop()

    @contextlib.contextmanager
    def _shielded(self) -> Iterator[None]:
        if not _in_main_thread():
            yield
            return

        def hurry(_signum: int, _frame: FrameType | None) -> None:
            self._hurry = True

        previous = {sig: signal.signal(sig, hurry) for sig in _SHUTDOWN_SIGNALS}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
