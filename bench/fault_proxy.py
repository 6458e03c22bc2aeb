"""A fault-injecting HTTP proxy in front of the Jobber sandbox (a thread in the bench process).

The stack's JOBBER_BASE_URL points here, so GraphQL calls and OAuth token refreshes go through it, while the
bench closes jobs on the sandbox directly and the sandbox sends its webhooks to the gateway directly (Jobber's
webhooks do not come from its API). The sandbox itself stays as it is: Jobber's trouble is played here.

- `error_rate`: that share of requests is answered by the proxy without reaching the sandbox, with one of
  429 (with Retry-After, as Jobber's request limit answers), 500, 502 or 503, in turn;
- `outage`: while set, every request fails: alternately a 503 and a connection closed with no answer.

`counts` keeps what was forwarded and each fault; `start()` / `stop()` run it.
"""

from __future__ import annotations

import itertools
import random
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler
from typing import Any

import httpx

from bench._common import HTTPServiceThread

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "content-encoding", "host"}


class FaultProxy(HTTPServiceThread):
    def __init__(self, upstream: str, *, error_rate: float = 0.0, seed: int = 7, host: str = "127.0.0.1") -> None:
        self.upstream = upstream.rstrip("/")
        self.error_rate = error_rate
        self.outage = threading.Event()
        self.counts: Counter[str] = Counter()
        self._random = random.Random(seed)  # noqa: S311 - fault injection, not security
        self._statuses = itertools.cycle((429, 500, 502, 503))
        self._outage_turn = itertools.cycle(("503", "drop"))
        self._lock = threading.Lock()
        self._http = httpx.Client(timeout=60, follow_redirects=False)
        super().__init__(self._handler(), host=host, port=0, name="fault-proxy")

    def stop(self) -> None:
        super().stop()
        self._http.close()

    def decide(self) -> str | None:
        """What happens to the next request: None (forwarded), "drop" or an HTTP status as text."""
        with self._lock:
            if self.outage.is_set():
                fault: str | None = f"outage_{next(self._outage_turn)}"
            elif self._random.random() < self.error_rate:
                fault = str(next(self._statuses))
            else:
                fault = None
            self.counts[fault or "forwarded"] += 1
        return fault

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet
                pass

            def _answer(self, status: int, body: bytes, headers: list[tuple[str, str]]) -> None:
                try:
                    self.send_response(status)
                    for name, value in headers:
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:
                    self.close_connection = True

            def _relay(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                fault = proxy.decide()
                if fault == "outage_drop":
                    self.close_connection = True  # no answer at all
                    return
                if fault is not None:
                    status = 503 if fault == "outage_503" else int(fault)
                    headers = [("Content-Type", "application/json")]
                    if status == 429:
                        headers.append(("Retry-After", "2"))
                    self._answer(status, b'{"message": "injected by the bench"}', headers)
                    return
                forward = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
                try:
                    response = proxy._http.request(
                        self.command, proxy.upstream + self.path, content=body, headers=forward
                    )
                except httpx.HTTPError:
                    with proxy._lock:
                        proxy.counts["upstream_error"] += 1
                    self._answer(502, b'{"message": "sandbox unreachable"}', [("Content-Type", "application/json")])
                    return
                headers = [(k, v) for k, v in response.headers.multi_items() if k.lower() not in HOP_BY_HOP]
                self._answer(response.status_code, response.content, headers)

            do_GET = do_POST = do_PUT = do_DELETE = _relay  # noqa: N815

        return Handler
