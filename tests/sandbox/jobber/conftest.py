"""Fixtures for the Jobber sandbox tests: a running sandbox, a GraphQL helper and a webhook receiver."""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[3]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sandbox.jobber import SandboxConfig, SandboxServer  # noqa: E402

VERSION = "2025-04-16"


@dataclass
class Gql:
    """Posts GraphQL documents to a sandbox with a valid token."""

    sb: SandboxServer
    token: str
    version: str = VERSION

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}", "X-JOBBER-GRAPHQL-VERSION": self.version}

    def post(self, query: str, variables: dict[str, Any] | None = None) -> httpx.Response:
        return httpx.post(
            f"{self.sb.url}/api/graphql",
            json={"query": query, "variables": variables or {}},
            headers=self.headers(),
            timeout=30,
        )

    def __call__(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        resp = self.post(query, variables)
        assert resp.status_code == 200, resp.text
        body: dict[str, Any] = resp.json()
        return body


@pytest.fixture
def make_sandbox() -> Iterator[Callable[..., SandboxServer]]:
    started: list[SandboxServer] = []

    def make(**overrides: Any) -> SandboxServer:
        sb = SandboxServer(SandboxConfig(**overrides)).start()
        started.append(sb)
        return sb

    yield make
    for sb in started:
        sb.stop()


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxServer]:
    with SandboxServer(SandboxConfig(seed=42)) as sb:
        yield sb


@pytest.fixture
def gql(sandbox: SandboxServer) -> Gql:
    return Gql(sandbox, sandbox.issue_tokens()["access_token"])


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """A tiny HTTP server recording every POST; ``statuses`` are answered in order, then 200."""

    url: str = ""
    received: list[Received] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def next_status(self) -> int:
        with self.lock:
            return self.statuses.pop(0) if self.statuses else 200


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    rec = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server API
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length)
            status = rec.next_status()
            with rec.lock:
                rec.received.append(Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body))
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    rec.url = f"http://127.0.0.1:{server.server_address[1]}/webhooks/jobber"
    yield rec
    server.shutdown()
    server.server_close()
    thread.join(5)
