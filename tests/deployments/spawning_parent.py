"""A parent process for the process tests: starts children with `deployments.processes`, prints their pids
as one JSON line, then waits to be stopped (Ctrl-C, SIGTERM, SIGHUP or SIGKILL, sent by the test).

    python -m tests.deployments.spawning_parent [--children N] [--family] [--demo-home DIR] [--from-thread]

--family adds a child that starts a grandchild in its own process group (stopping the child's group must
stop it too); --demo-home records the children in DIR/demo.pid, as `jobberflow demo` does; --from-thread
starts the sleepers from a thread that ends straight after (as a benchmark's chaos thread restarts services).
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
import time
from pathlib import Path

from deployments.processes import ChildProcesses, handle_termination

SLEEPER = [sys.executable, "-c", "import time; time.sleep(600)"]


def family(pid_file: Path) -> list[str]:
    code = (
        "import subprocess, sys, time, pathlib;"
        "p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)']);"
        f"pathlib.Path({str(pid_file)!r}).write_text(str(p.pid));"
        "time.sleep(600)"
    )
    return [sys.executable, "-c", code]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--children", type=int, default=2)
    parser.add_argument("--family", action="store_true")
    parser.add_argument("--demo-home", type=Path)
    parser.add_argument("--from-thread", action="store_true")
    parser.add_argument("--work", type=Path, required=True)
    args = parser.parse_args()
    # As a terminal's foreground job has it, even when the test runner was started with SIGINT ignored
    # (a background job of a non-interactive shell), which Python would otherwise keep.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    with handle_termination(), ChildProcesses(stop_timeout=10) as children:

        def start_sleepers() -> None:
            for n in range(args.children):
                children.start(f"sleeper-{n}", SLEEPER)

        if args.from_thread:
            starter = threading.Thread(target=start_sleepers, name="short-lived")
            starter.start()
            starter.join()
            time.sleep(1.0)  # the kernel would signal the children now if they died with that thread
        else:
            start_sleepers()
        grandchildren = []
        if args.family:
            pid_file = args.work / "grandchild.pid"
            children.start("family", family(pid_file))
            deadline = time.monotonic() + 60
            while not pid_file.exists() or not pid_file.read_text().strip():
                if time.monotonic() > deadline:
                    raise SystemExit("the family child did not report its grandchild")
                time.sleep(0.05)
            grandchildren.append(int(pid_file.read_text()))
        if args.demo_home is not None:
            from sandbox.demo import DemoPidFile

            DemoPidFile(args.demo_home).write(children)
        line = {"children": [c.pid for c in children.children], "grandchildren": grandchildren}
        sys.stdout.write(json.dumps(line) + "\n")
        sys.stdout.flush()
        while True:
            time.sleep(1)


if __name__ == "__main__":
    main()
