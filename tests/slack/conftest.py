"""Fixtures for the Slack tests: a local HTTP endpoint that answers like Slack's Web API, so the real
slack-sdk WebClient is driven end to end; a migrated engine on both databases; a sandbox of our own."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from sqlalchemy import Engine


@dataclass
class SlackCall:
    method: str
    body: dict[str, Any]
    authorization: str
    at: float


@dataclass
class FakeSlack:
    """Records every Web API call. `script` is answered in order, then `{"ok": true}`:
    ("429", seconds) -> HTTP 429 with Retry-After; ("500",) -> HTTP 500; ("error", code) -> ok:false."""

    url: str = ""
    calls: list[SlackCall] = field(default_factory=list)
    script: list[tuple[Any, ...]] = field(default_factory=list)
    down: bool = False  # every call answers HTTP 503 (an outage)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def posts(self) -> list[dict[str, Any]]:
        """The messages Slack accepted."""
        return [c.body for c in self.calls if c.method == "chat.postMessage" and c.body.get("_accepted")]

    def next_answer(self) -> tuple[Any, ...]:
        with self.lock:
            if self.down:
                return ("503",)
            return self.script.pop(0) if self.script else ("ok",)


@pytest.fixture
def fake_slack() -> Iterator[FakeSlack]:
    fake = FakeSlack()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server API
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            try:
                parsed = json.loads(body or b"{}")
            except json.JSONDecodeError:
                parsed = {"_raw": body.decode()}
            method = self.path.rsplit("/", 1)[-1]
            answer = fake.next_answer()
            status, payload, headers = 200, {"ok": True, "channel": parsed.get("channel"), "ts": "1.0"}, {}
            if answer[0] == "429":
                status, payload, headers = 429, {"ok": False, "error": "ratelimited"}, {"Retry-After": str(answer[1])}
            elif answer[0] in ("500", "503"):
                status, payload = int(answer[0]), {}
            elif answer[0] == "error":
                payload = {"ok": False, "error": answer[1]}
            parsed["_accepted"] = status == 200 and payload.get("ok") is True
            with fake.lock:
                fake.calls.append(SlackCall(method, parsed, self.headers.get("Authorization", ""), time.monotonic()))
            data = b"upstream error" if status >= 500 else json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json" if status < 500 else "text/plain")
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    fake.url = f"http://127.0.0.1:{server.server_address[1]}/api/"
    yield fake
    server.shutdown()
    server.server_close()
    thread.join(5)


@pytest.fixture
def engine(db_url: str) -> Engine:
    from tasks.store.db import get_engine

    return get_engine(db_url)


@pytest.fixture(scope="module")
def own_sandbox() -> Iterator[Any]:
    """A small sandbox these tests may change (close jobs, pay invoices)."""
    from sandbox.jobber import SandboxConfig, SandboxServer

    with SandboxServer(SandboxConfig(seed=11, clients=8, jobs=10, invoices=8, quotes=6)) as server:
        yield server
