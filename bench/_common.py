"""Shared bench plumbing: a sandbox in its own process, a token for it, results as JSON, HTTP stand-ins on a thread."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Self
from urllib.parse import parse_qs, urlparse

import httpx

from deployments.processes import spawn

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_sandbox(**options: Any) -> tuple[subprocess.Popen[bytes], str]:
    """`jobberflow sandbox serve` in a child process (so its memory is not counted as ours) that dies with us."""
    port = free_port()
    args = [sys.executable, "-m", "deployments.cli", "sandbox", "serve", "--port", str(port)]
    for key, value in options.items():
        args += [f"--{key.replace('_', '-')}", str(value)]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = spawn(args, env=env, log_path=Path(os.devnull))  # dies with the bench, SIGTERM and kill -9 included
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/sandbox/state", timeout=2).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            pass
        if proc.poll() is not None:
            raise RuntimeError("the sandbox exited")
        time.sleep(0.5)
    proc.kill()
    raise RuntimeError("the sandbox did not start")


def sandbox_token(url: str) -> str:
    """An access token through the sandbox's real OAuth flow."""
    redirect = "http://127.0.0.1/callback"
    consent = httpx.get(
        f"{url}/api/oauth/authorize",
        params={"response_type": "code", "client_id": "sandbox-client-id", "redirect_uri": redirect},
    )
    code = parse_qs(urlparse(consent.headers["location"]).query)["code"][0]
    tokens = httpx.post(
        f"{url}/api/oauth/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect,
            "client_id": "sandbox-client-id",
            "client_secret": "sandbox-client-secret",
        },
    ).json()
    return str(tokens["access_token"])


def save(name: str, payload: dict[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}-{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}.json"
    path.write_text(json.dumps(payload, indent=2, default=str), encoding="utf-8")
    return path


def peak_rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that went away (a worker killed mid-request, on purpose) is not worth a traceback."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class HTTPServiceThread:
    """An HTTP server on a daemon thread of this process (the Twilio stand-in, the Jobber fault proxy)."""

    def __init__(self, handler: type[BaseHTTPRequestHandler], *, host: str, port: int, name: str) -> None:
        self._server = _Server((host, port), handler)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.1}, name=name, daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> Self:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
