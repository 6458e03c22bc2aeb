"""A fast local Twilio-compatible Messages endpoint for end-to-end benchmarks (a thread in the bench process).

The official SDK (`twilio.rest.Client`, pointed here with TWILIO_BASE_URL) talks to it as to Twilio:

- `POST /2010-04-01/Accounts/{sid}/Messages.json` (form: To, From or MessagingServiceSid, Body, ...) ->
  201 with the message resource Twilio documents (`sid`, `status`, dates, ...);
- `GET  /2010-04-01/Accounts/{sid}/Messages.json?To=...&DateSent>=...&PageSize=...` -> a page, newest first
  (what the project's `find_sent` asks after an outcome it could not see);
- HTTP basic auth with the account SID and auth token, 401 otherwise; 404 for other paths.

Every accepted message is recorded with its arrival time (`time.time()`, the clock the bench's close
times use), To, Body and the sid it returned. Keep-alive (HTTP/1.1), no logging, no artificial delay.

Faults (chaos_soak): `faults`, when set, is asked once per valid send and names what goes wrong:
`"refuse"` (a 503 before accepting: no message exists), `"accept_then_drop"` (the message is created and
counted, then the connection is closed with no answer) or `"accept_then_5xx"` (created and counted, then a
500 comes back instead of the 201). `fault_counts` counts each.
"""

from __future__ import annotations

import base64
import json
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

from bench._common import HTTPServiceThread


@dataclass(frozen=True)
class AcceptedMessage:
    sid: str
    to: str
    sender: str | None
    body: str
    arrived: float  # time.time() when the POST was read, before the answer
    resource: dict[str, Any]


class FakeTwilioServer(HTTPServiceThread):
    """`with FakeTwilioServer(account_sid=..., auth_token=...) as twilio: ... twilio.messages`"""

    def __init__(self, *, account_sid: str, auth_token: str, host: str = "127.0.0.1", port: int = 0) -> None:
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.messages: list[AcceptedMessage] = []
        self.rejected = 0  # 401/404/400 answers (a misconfigured worker shows up here)
        self.list_requests = 0
        self.faults: Callable[[], str | None] | None = None
        self.fault_counts: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._expected_auth = "Basic " + base64.b64encode(f"{account_sid}:{auth_token}".encode()).decode()
        self._path = f"/2010-04-01/Accounts/{account_sid}/Messages.json"
        super().__init__(self._handler(), host=host, port=port, name="fake-twilio")

    def snapshot(self) -> list[AcceptedMessage]:
        with self._lock:
            return list(self.messages)

    def count(self) -> int:
        with self._lock:
            return len(self.messages)

    # -- the HTTP side ----------------------------------------------------------------------------
    def _accept(self, form: dict[str, list[str]], arrived: float) -> dict[str, Any]:
        now = datetime.now(UTC)
        stamp = format_datetime(now, usegmt=True)
        sid = "SM" + uuid.uuid4().hex
        service = form.get("MessagingServiceSid", [None])[0]
        sender = form.get("From", [None])[0]
        to = form.get("To", [""])[0]
        body = form.get("Body", [""])[0]
        resource = {
            "sid": sid,
            "account_sid": self.account_sid,
            "to": to,
            "from": sender,
            "messaging_service_sid": service,
            "body": body,
            "status": "accepted" if service else "queued",
            "direction": "outbound-api",
            "date_created": stamp,
            "date_updated": stamp,
            # Twilio sets date_sent once the carrier takes it; here at once, so the list filter can find it
            "date_sent": stamp,
            "num_segments": "1",
            "num_media": "0",
            "price": None,
            "price_unit": "USD",
            "error_code": None,
            "error_message": None,
            "api_version": "2010-04-01",
            "uri": f"/2010-04-01/Accounts/{self.account_sid}/Messages/{sid}.json",
            "subresource_uris": {"media": f"/2010-04-01/Accounts/{self.account_sid}/Messages/{sid}/Media.json"},
        }
        with self._lock:
            self.messages.append(AcceptedMessage(sid, to, sender, body, arrived, resource))
        return resource

    def _list(self, query: dict[str, list[str]]) -> list[dict[str, Any]]:
        with self._lock:
            self.list_requests += 1
            found = list(self.messages)
        if "To" in query:
            found = [m for m in found if m.to == query["To"][0]]
        after = query.get("DateSent>") or query.get("DateSent>=")
        if after:
            since = datetime.strptime(after[0][:19], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC)
            found = [m for m in found if parsedate_to_datetime(m.resource["date_sent"]) >= since]
        return [m.resource for m in reversed(found)]

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body go out as separate writes: no 40 ms delayed-ACK stall

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet
                pass

            def _reply(self, status: int, payload: dict[str, Any]) -> None:
                body = json.dumps(payload).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:
                    pass

            def _refuse(self, status: int, code: int, message: str) -> None:
                with fake._lock:
                    fake.rejected += 1
                self._reply(status, {"code": code, "message": message, "status": status})

            def _checked(self, path: str) -> bool:
                if self.headers.get("Authorization") != fake._expected_auth:
                    self._refuse(401, 20003, "Authenticate")
                    return False
                if path != fake._path:
                    self._refuse(404, 20404, "The requested resource was not found")
                    return False
                return True

            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                arrived = time.time()
                if not self._checked(urlsplit(self.path).path):
                    return
                form = parse_qs(raw.decode(), keep_blank_values=True)
                if (
                    not form.get("To")
                    or not form.get("Body")
                    or not (form.get("From") or form.get("MessagingServiceSid"))
                ):
                    self._refuse(400, 21604, "A 'To', 'Body' and 'From' (or 'MessagingServiceSid') are required")
                    return
                fault = fake.faults() if fake.faults is not None else None
                if fault is not None:
                    with fake._lock:
                        fake.fault_counts[fault] += 1
                if fault == "refuse":
                    self._reply(503, {"code": 20503, "message": "Service Unavailable", "status": 503})
                    return
                resource = fake._accept(form, arrived)
                if fault == "accept_then_drop":
                    self.close_connection = True  # the answer is lost: the client sees the connection close
                    return
                if fault == "accept_then_5xx":
                    self._reply(500, {"code": 20500, "message": "Internal Server Error", "status": 500})
                    return
                self._reply(201, resource)

            def do_GET(self) -> None:  # noqa: N802
                parts = urlsplit(self.path)
                if not self._checked(parts.path):
                    return
                query = parse_qs(parts.query)
                size = int(query.get("PageSize", ["50"])[0])
                page = fake._list(query)[:size]
                self._reply(
                    200,
                    {
                        "messages": page,
                        "page": 0,
                        "page_size": size,
                        "next_page_uri": None,
                        "first_page_uri": parts.path,
                        "previous_page_uri": None,
                        "uri": self.path,
                        "start": 0,
                        "end": max(len(page) - 1, 0),
                    },
                )

        return Handler
