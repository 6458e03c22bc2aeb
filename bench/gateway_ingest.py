"""Benchmark: signed Jobber webhooks into the gateway (uvicorn + its real durable inbox), open loop.

    python bench/gateway_ingest.py                       # 1,000/s for 60 s, then a 10 s burst at 3x
    python bench/gateway_ingest.py --rate 500 --duration 20 --burst-seconds 5
    python bench/gateway_ingest.py --database-url postgresql://postgres@127.0.0.1:5432/bench_db

The gateway runs in its own process (uvicorn, httptools, uvloop; relay off) on a fresh SQLite file in
WAL mode with synchronous=FULL (or --database-url). The load generator runs in --procs processes; each
sends its share of a fixed schedule (request i is due at t0 + i/rate) over raw HTTP/1.1 keep-alive
connections, with every body signed in advance. Latency is measured from the SCHEDULED send time, so
a slow server (or a generator that falls behind) shows in the figures; the generator's own lag is
reported too.

Phases: warm-up (excluded from the figures), steady window (--duration at --rate), burst
(--burst-seconds at --burst-factor x rate), drain. The ledger must balance:
sent == acknowledged + rejected + failed (connection errors), and every acknowledged webhook must be
in the inbox afterwards; otherwise the run is VOID. Prints one summary line a figure and writes
bench/results/gateway_ingest-<time>.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tasks.jobber.webhooks import dedupe_key, sign  # noqa: E402

SECRET = "bench-client-secret"
TOPICS = ("JOB_CLOSED", "VISIT_COMPLETE", "INVOICE_CREATE", "CLIENT_UPDATE", "JOB_UPDATE")
ACCOUNT = "Z2lkOi8vSm9iYmVyL0FjY291bnQvMTIzNDU="
PATH = "/webhooks/jobber"


# -- the gateway process --------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def prepare_database(url: str) -> None:
    from tasks.store.migrate import upgrade_database

    upgrade_database(url)


class Gateway:
    """`python -m deployments.gateway.server` in a child process (its RSS is measured, not ours)."""

    def __init__(
        self, database_url: str, port: int, home: Path, *, workers: int = 1, prefect_url: str | None = None
    ) -> None:
        self.prefect_url = prefect_url  # None: relay off; else the relay runs (as shipped) against this URL
        self.database_url = database_url
        self.port = port
        self.home = home
        self.workers = workers
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60.0) -> None:
        env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "DATABASE_URL": self.database_url,
            "JOBBERFLOW_HOME": str(self.home),
            "JOBBER_CLIENT_SECRET": SECRET,
            "JOBBERFLOW_GATEWAY_RELAY": "on" if self.prefect_url else "off",
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "DO_NOT_TRACK": "1",
        }
        if self.prefect_url:
            env["PREFECT_API_URL"] = self.prefect_url
        env.pop("JOBBER_WEBHOOK_SECRET", None)
        args = [sys.executable, "-c", _SERVER_SNIPPET, str(self.port), str(self.workers)]
        from deployments.processes import spawn

        # its own process group, and it dies with this script (kill -9 included): deployments/processes.py
        self.proc = spawn(args, env=env, cwd=self.home)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the gateway exited with {self.proc.returncode}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                    sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: b\r\nConnection: close\r\n\r\n")
                    if sock.recv(64).startswith(b"HTTP/1.1 200"):
                        return
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError("the gateway did not start")

    def _pids(self) -> list[int]:
        if self.proc is None:
            return []
        pids = [self.proc.pid]
        try:  # uvicorn's worker processes, when --workers > 1
            children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text().split()
            pids += [int(c) for c in children]
        except OSError:
            pass
        return pids

    def peak_rss_mb(self) -> float | None:
        """VmHWM (peak resident set) of the gateway: the largest of its processes (workers: their sum too)."""
        peaks = []
        for pid in self._pids():
            try:
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith("VmHWM:"):
                        peaks.append(int(line.split()[1]) / 1024)
            except OSError:
                continue
        return sum(peaks) if peaks else None

    def cpu_seconds(self) -> float:
        """User + system CPU used so far by the gateway's processes."""
        tick = os.sysconf("SC_CLK_TCK")
        total = 0.0
        for pid in self._pids():
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                total += (int(fields[11]) + int(fields[12])) / tick
            except (OSError, IndexError, ValueError):
                continue
        return total

    def kill9(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def stop(self) -> None:
        """SIGTERM to the gateway's process group (its relay child too), SIGKILL after 20 s."""
        if self.proc is not None:
            from deployments.processes import stop

            stop(self.proc, timeout=20)


_SERVER_SNIPPET = """
import logging, sys
from deployments.gateway.server import run_gateway
run_gateway("127.0.0.1", int(sys.argv[1]), workers=int(sys.argv[2]), log_level="warning")
"""


def start_prefect_server(home: Path, timeout: float = 120.0) -> tuple[subprocess.Popen[bytes], str]:
    """A Prefect server on SQLite in its own process group (stopped with this script)."""
    import httpx

    from deployments.processes import spawn

    port = free_port()
    env = {**os.environ, "PREFECT_HOME": str(home / "prefect"), "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    args = [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1", "--port", str(port)]
    proc = spawn(args, env=env, log_path=home / "prefect.log")
    url = f"http://127.0.0.1:{port}/api"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/health", timeout=2).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            time.sleep(0.5)
    raise RuntimeError("the Prefect server did not start")


# -- requests -------------------------------------------------------------------------------------------


def build_request(run: str, index: int, port: int) -> tuple[bytes, str]:
    """The raw HTTP/1.1 request for webhook `index` (signed now, not during the run) and its dedupe key."""
    topic = TOPICS[index % len(TOPICS)]
    item = f"{run}-{index}"
    occurred = "2025-01-24T15:30:00-06:00"
    event = {"topic": topic, "appId": "bench-app", "accountId": ACCOUNT, "itemId": item, "occurredAt": occurred}
    body = json.dumps({"data": {"webHookEvent": event}}, separators=(",", ":")).encode()
    head = (
        f"POST {PATH} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
        f"X-Jobber-Hmac-SHA256: {sign(body, SECRET)}\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()
    return head + body, dedupe_key(ACCOUNT, topic, item, occurred)


# -- the open-loop generator (one process) --------------------------------------------------------------


class _Conn(asyncio.Protocol):
    """One keep-alive connection with at most one request in flight."""

    def __init__(self, pool: _Pool) -> None:
        self.pool = pool
        self.transport: Any = None
        self.buffer = bytearray()
        self.current: int | None = None
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def send(self, index: int) -> None:
        self.current = index
        self.transport.write(self.pool.requests[index])

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(self.buffer[:end]).decode("latin-1")
            length = 0
            close = False
            for line in head.split("\r\n")[1:]:
                name, _, value = line.partition(":")
                lname = name.strip().lower()
                if lname == "content-length":
                    length = int(value.strip())
                elif lname == "connection" and value.strip().lower() == "close":
                    close = True
            if len(self.buffer) < end + 4 + length:
                return
            status = int(head[9:12])
            del self.buffer[: end + 4 + length]
            index, self.current = self.current, None
            if index is not None:
                self.pool.done(self, index, status)
            if close:
                self.closed = True
                if self.transport is not None:
                    self.transport.close()
                return

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.current is not None:
            index, self.current = self.current, None
            self.pool.failed(self, index)
        self.pool.lost(self)


@dataclass
class _Pool:
    requests: list[bytes]
    port: int
    max_conns: int
    due: list[float]
    results: dict[int, tuple[int, float, float]] = field(default_factory=dict)  # index -> (status, latency, lag)
    idle: deque[_Conn] = field(default_factory=deque)
    waiting: deque[int] = field(default_factory=deque)
    open_conns: int = 0
    connecting: int = 0
    sent_at: dict[int, float] = field(default_factory=dict)

    def loop_time(self) -> float:
        return time.perf_counter()

    def submit(self, index: int) -> None:
        while self.idle:
            conn = self.idle.popleft()
            if not conn.closed:
                self._send(conn, index)
                return
        self.waiting.append(index)
        if self.open_conns + self.connecting < self.max_conns:
            self.connecting += 1
            asyncio.ensure_future(self._connect())

    def _send(self, conn: _Conn, index: int) -> None:
        self.sent_at[index] = self.loop_time()
        conn.send(index)

    async def _connect(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            _, conn = await loop.create_connection(lambda: _Conn(self), "127.0.0.1", self.port)
        except OSError:
            self.connecting -= 1
            # nobody can serve the waiting requests if no connection exists at all
            if self.open_conns + self.connecting == 0:
                while self.waiting:
                    self.failed(None, self.waiting.popleft())
            return
        self.connecting -= 1
        self.open_conns += 1
        self._next(conn)

    def _next(self, conn: _Conn) -> None:
        if conn.closed:
            return
        if self.waiting:
            self._send(conn, self.waiting.popleft())
        else:
            self.idle.append(conn)

    def done(self, conn: _Conn, index: int, status: int) -> None:
        now = self.loop_time()
        self.results[index] = (status, now - self.due[index], self.sent_at.get(index, now) - self.due[index])
        self._next(conn)

    def failed(self, conn: _Conn | None, index: int) -> None:
        now = self.loop_time()
        self.results[index] = (0, now - self.due[index], self.sent_at.get(index, now) - self.due[index])

    def lost(self, conn: _Conn) -> None:
        self.open_conns -= 1
        if self.waiting and self.open_conns + self.connecting < self.max_conns:
            self.connecting += 1
            asyncio.ensure_future(self._connect())


async def _generate(
    port: int, requests: list[bytes], offsets: list[float], t0: float, max_conns: int, drain_s: float
) -> dict[int, tuple[int, float, float]]:
    due = [t0 + off for off in offsets]
    pool = _Pool(requests=requests, port=port, max_conns=max_conns, due=due)
    i = 0
    n = len(requests)
    while i < n:
        now = time.perf_counter()
        while i < n and due[i] <= now:
            pool.submit(i)
            i += 1
        if i < n:
            await asyncio.sleep(max(0.0, min(due[i] - time.perf_counter(), 0.002)))
    deadline = time.perf_counter() + drain_s
    while len(pool.results) < n and time.perf_counter() < deadline:
        await asyncio.sleep(0.01)
    for index in range(n):  # never answered within the drain: failed
        if index not in pool.results:
            pool.results[index] = (0, time.perf_counter() - due[index], 0.0)
    return pool.results


def _worker(
    k: int,
    port: int,
    requests: list[bytes],
    offsets: list[float],
    t0_wall: float,
    max_conns: int,
    drain_s: float,
    out: Any,
) -> None:
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    # translate the shared wall-clock start into this process's perf_counter
    t0 = time.perf_counter() + (t0_wall - time.time())
    results = asyncio.run(_generate(port, requests, offsets, t0, max_conns, drain_s))
    out.put((k, [results[i] for i in range(len(requests))]))


def run_load(
    port: int,
    requests: list[bytes],
    offsets: list[float],
    *,
    procs: int,
    max_conns: int = 64,
    drain_s: float = 10.0,
    start_delay_s: float = 1.0,
) -> list[tuple[int, float, float]]:
    """Send `requests[i]` at `offsets[i]` seconds after a common start, from `procs` processes.

    Returns, per request, (HTTP status or 0 for a connection failure, latency from the scheduled time,
    how late the generator actually sent it).
    """
    ctx = mp.get_context("fork")
    out: Any = ctx.Queue()
    t0_wall = time.time() + start_delay_s
    shares = [list(range(k, len(requests), procs)) for k in range(procs)]
    workers = []
    for k, share in enumerate(shares):
        p = ctx.Process(
            target=_worker,
            args=(k, port, [requests[i] for i in share], [offsets[i] for i in share], t0_wall, max_conns, drain_s, out),
        )
        p.start()
        workers.append(p)
    results: list[tuple[int, float, float]] = [(0, 0.0, 0.0)] * len(requests)
    for _ in workers:
        k, chunk = out.get()
        for local, global_index in enumerate(shares[k]):
            results[global_index] = chunk[local]
    for p in workers:
        p.join()
    return results


# -- figures --------------------------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = min(len(ordered) - 1, max(0, int(round(q / 100 * (len(ordered) - 1)))))
    return ordered[k]


def summarize(name: str, latencies: list[float], lags: list[float], acked: int, seconds: float) -> dict[str, Any]:
    ms = [v * 1000 for v in latencies]
    return {
        "phase": name,
        "acknowledged": acked,
        "seconds": seconds,
        "throughput_per_s": acked / seconds if seconds else 0.0,
        "p50_ms": percentile(ms, 50),
        "p95_ms": percentile(ms, 95),
        "p99_ms": percentile(ms, 99),
        "max_ms": max(ms) if ms else float("nan"),
        "mean_ms": statistics.fmean(ms) if ms else float("nan"),
        "generator_lag_p99_ms": percentile([v * 1000 for v in lags], 99),
        "generator_lag_max_ms": max(v * 1000 for v in lags) if lags else float("nan"),
    }


def stored_keys(database_url: str) -> set[str]:
    from tasks.store.db import build_engine
    from tasks.store.inbox import stored_keys as keys

    engine = build_engine(database_url)
    try:
        return keys(engine)
    finally:
        engine.dispose()


def main() -> None:
    from deployments.processes import handle_termination

    handle_termination()  # SIGTERM / SIGHUP stop the gateway and Prefect through the same `finally` as Ctrl-C
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=1000.0, help="webhooks per second in the steady window")
    parser.add_argument("--duration", type=float, default=60.0, help="steady window, seconds")
    parser.add_argument("--warmup", type=float, default=5.0, help="warm-up at the steady rate, seconds")
    parser.add_argument("--burst-factor", type=float, default=3.0)
    parser.add_argument("--burst-seconds", type=float, default=10.0, help="0 to skip the burst")
    parser.add_argument("--procs", type=int, default=2, help="load generator processes")
    parser.add_argument("--max-conns", type=int, default=64, help="keep-alive connections per generator process")
    parser.add_argument("--workers", type=int, default=1, help="gateway worker processes (uvicorn --workers)")
    parser.add_argument("--database-url", default=None, help="default: a fresh SQLite file")
    parser.add_argument("--max-requests", type=int, default=200_000, help="safety bound on the request count")
    parser.add_argument(
        "--relay",
        choices=["off", "prefect-up", "prefect-down"],
        default="off",
        help="off: ingestion alone (a part, not the shipped gateway); prefect-up: the relay runs against a Prefect "
        "server this script starts (as shipped); prefect-down: the relay runs and Prefect is unreachable",
    )
    args = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="gateway-bench-"))
    database_url = args.database_url or f"sqlite:///{home / 'inbox.db'}"
    prepare_database(database_url)

    run = datetime.now(UTC).strftime("%H%M%S") + os.urandom(3).hex()
    phases = [("warmup", args.warmup, args.rate), ("steady", args.duration, args.rate)]
    if args.burst_seconds > 0:
        phases.append(("burst", args.burst_seconds, args.rate * args.burst_factor))
    offsets: list[float] = []
    phase_of: list[str] = []
    t = 0.0
    bounds: dict[str, tuple[float, float]] = {}
    for name, seconds, rate in phases:
        count = int(seconds * rate)
        bounds[name] = (t, t + seconds)
        offsets += [t + i / rate for i in range(count)]
        phase_of += [name] * count
        t += seconds
    if len(offsets) > args.max_requests:
        raise SystemExit(f"{len(offsets)} requests exceed --max-requests {args.max_requests}")

    port = free_port()
    built = [build_request(run, i, port) for i in range(len(offsets))]
    requests = [b for b, _ in built]
    keys = [k for _, k in built]

    prefect_url, prefect_proc = None, None
    if args.relay == "prefect-up":
        prefect_proc, prefect_url = start_prefect_server(home)
    elif args.relay == "prefect-down":
        prefect_url = f"http://127.0.0.1:{free_port()}/api"  # nothing listens there
    gateway = Gateway(database_url, port, home, workers=args.workers, prefect_url=prefect_url)
    gateway.start()
    try:
        cpu0, wall0 = gateway.cpu_seconds(), time.monotonic()
        results = run_load(port, requests, offsets, procs=args.procs, max_conns=args.max_conns)
        cpu = gateway.cpu_seconds() - cpu0
        wall = time.monotonic() - wall0
        rss = gateway.peak_rss_mb()
    finally:
        gateway.stop()
        if prefect_proc is not None:
            from deployments.processes import stop

            stop(prefect_proc, timeout=20)
    load_average = os.getloadavg()

    sent = len(results)
    acked = [i for i, r in enumerate(results) if r[0] == 200]
    rejected = sum(1 for r in results if r[0] not in (0, 200))
    failed = sum(1 for r in results if r[0] == 0)
    present = stored_keys(database_url)
    missing = [i for i in acked if keys[i] not in present]
    balanced = sent == len(acked) + rejected + failed and not missing

    figures = []
    for name in [p[0] for p in phases if p[0] != "warmup"]:
        idx = [i for i in range(sent) if phase_of[i] == name]
        ok = [i for i in idx if results[i][0] == 200]
        start, end = bounds[name]
        figures.append(summarize(name, [results[i][1] for i in ok], [results[i][2] for i in idx], len(ok), end - start))
    report = {
        "benchmark": "gateway_ingest" if args.relay == "off" else f"gateway_ingest (relay on, {args.relay})",
        "relay": args.relay,
        "when": datetime.now(UTC).isoformat(),
        "database": "sqlite (WAL, synchronous=FULL)" if args.database_url is None else "given URL",
        "rate": args.rate,
        "duration_s": args.duration,
        "burst_factor": args.burst_factor,
        "burst_seconds": args.burst_seconds,
        "generator_procs": args.procs,
        "cpus": os.cpu_count(),
        "ledger": {
            "sent": sent,
            "acknowledged": len(acked),
            "rejected": rejected,
            "failed_to_connect": failed,
            "acknowledged_missing_from_inbox": len(missing),
            "balanced": balanced,
        },
        "peak_rss_mb": rss,
        "gateway_workers": args.workers,
        "gateway_cpu_seconds": cpu,
        "gateway_cpu_ms_per_request": cpu * 1000 / max(1, sent),
        "gateway_cpu_share_of_one_core": cpu / wall if wall else None,
        "machine_load_average_1_5_15": load_average,
        "phases": figures,
    }
    from bench._common import save

    path = save("gateway_ingest", report)
    alone = " (ingestion alone: a part, not the shipped gateway)" if args.relay == "off" else ""
    print(f"relay: {args.relay}{alone}")
    print(
        f"ledger: sent={sent} acknowledged={len(acked)} rejected={rejected} failed={failed} "
        f"missing_from_inbox={len(missing)} -> {'BALANCED' if balanced else 'VOID'}"
    )
    for f in figures:
        print(
            f"{f['phase']}: {f['throughput_per_s']:.0f} acked/s over {f['seconds']:.0f} s; "
            f"p50 {f['p50_ms']:.1f} ms, p95 {f['p95_ms']:.1f} ms, p99 {f['p99_ms']:.1f} ms, max {f['max_ms']:.1f} ms; "
            f"generator lag p99 {f['generator_lag_p99_ms']:.1f} ms"
        )
    print(f"gateway peak RSS: {rss:.1f} MB" if rss is not None else "gateway peak RSS: unknown")
    print(
        f"gateway CPU: {cpu * 1000 / max(1, sent):.2f} ms/request, {cpu / wall:.0%} of one core; "
        f"machine load average {load_average[0]:.1f} on {os.cpu_count()} CPUs"
    )
    print(f"raw numbers: {path}")
    if not balanced:
        sys.exit(1)


if __name__ == "__main__":
    main()
