"""A tiny local stand-in for Twilio's Messages API, so tests drive the official SDK over real HTTP.

It answers `POST /2010-04-01/Accounts/{sid}/Messages.json` and `GET .../Messages.json` (with `To`,
`DateSent>` and `PageSize`) with the JSON shapes Twilio documents, checks HTTP basic auth, and can be
scripted to answer the next requests with an error, or to accept a message and then stall.
"""

from __future__ import annotations

import base64
import json
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class Scripted:
    """What to answer to the next POST: an error (status, code, headers), or accept then stall.

    With `accept=True` and an error status, the message is stored (Twilio accepted it) and the error is
    answered anyway, as when a 502/504 from Twilio's edge hides a message that was accepted.
    """

    status: int = 201
    code: int | None = None
    message: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    stall_s: float = 0.0
    accept: bool = False


class FakeTwilio:
    def __init__(self, *, account_sid: str, auth_token: str) -> None:
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.messages: list[dict[str, Any]] = []
        self.requests: list[tuple[str, str, dict[str, list[str]]]] = []
        self.script: list[Scripted] = []
        self.released = threading.Event()
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}"

    def __enter__(self) -> FakeTwilio:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.released.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    def add_message(self, **fields: Any) -> dict[str, Any]:
        """Store a message as Twilio would hold it (used to seed the list API)."""
        now = datetime.now(UTC)
        message = {
            "sid": "SM" + uuid.uuid4().hex,
            "account_sid": self.account_sid,
            "to": fields.get("to"),
            "from": fields.get("from"),
            "messaging_service_sid": fields.get("messaging_service_sid"),
            "body": fields.get("body"),
            "status": fields.get("status", "queued"),
            "direction": fields.get("direction", "outbound-api"),
            "date_created": format_datetime(fields.get("date_created", now), usegmt=True),
            "date_updated": format_datetime(now, usegmt=True),
            "date_sent": format_datetime(fields["date_sent"], usegmt=True) if fields.get("date_sent") else None,
            "num_segments": "1",
            "error_code": None,
            "error_message": None,
            "api_version": "2010-04-01",
            "uri": f"/2010-04-01/Accounts/{self.account_sid}/Messages/x.json",
        }
        with self._lock:
            self.messages.append(message)
        return message

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet
                pass

            def _reply(self, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None) -> None:
                body = json.dumps(payload).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    for name, value in (headers or {}).items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:
                    pass  # the client gave up (the stall test)

            def _authorised(self) -> bool:
                expected = base64.b64encode(f"{fake.account_sid}:{fake.auth_token}".encode()).decode()
                if self.headers.get("Authorization") != f"Basic {expected}":
                    self._reply(401, {"code": 20003, "message": "Authenticate", "status": 401})
                    return False
                return True

            def _path_ok(self, path: str) -> bool:
                if path != f"/2010-04-01/Accounts/{fake.account_sid}/Messages.json":
                    self._reply(404, {"code": 20404, "message": "Not found", "status": 404})
                    return False
                return True

            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length") or 0)
                form = parse_qs(self.rfile.read(length).decode(), keep_blank_values=True)
                path = urlsplit(self.path).path
                with fake._lock:
                    fake.requests.append(("POST", path, form))
                    scripted = fake.script.pop(0) if fake.script else Scripted()
                if not self._authorised() or not self._path_ok(path):
                    return
                if scripted.status >= 400:
                    if scripted.accept:
                        fake.add_message(
                            to=form["To"][0],
                            body=form["Body"][0],
                            **{"from": form.get("From", [None])[0]},
                            messaging_service_sid=form.get("MessagingServiceSid", [None])[0],
                        )
                    payload = {
                        "code": scripted.code,
                        "message": scripted.message,
                        "status": scripted.status,
                        "more_info": f"https://www.twilio.com/docs/errors/{scripted.code}",
                    }
                    self._reply(scripted.status, payload, scripted.headers)
                    return
                message = fake.add_message(
                    to=form["To"][0],
                    body=form["Body"][0],
                    **{"from": form.get("From", [None])[0]},
                    messaging_service_sid=form.get("MessagingServiceSid", [None])[0],
                    status="accepted" if "MessagingServiceSid" in form else "queued",
                )
                if scripted.stall_s:
                    fake.released.wait(scripted.stall_s)
                self._reply(201, message)

            def do_GET(self) -> None:  # noqa: N802
                parts = urlsplit(self.path)
                query = parse_qs(parts.query)
                with fake._lock:
                    fake.requests.append(("GET", parts.path, query))
                    messages = list(fake.messages)
                if not self._authorised() or not self._path_ok(parts.path):
                    return
                if "To" in query:
                    messages = [m for m in messages if m["to"] == query["To"][0]]
                if "DateSent>" in query:
                    after = datetime.strptime(query["DateSent>"][0], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
                    # Like Twilio: a message not sent yet has no DateSent and does not match.
                    messages = [m for m in messages if m["date_sent"] and _rfc2822(m["date_sent"]) >= after]
                size = int(query.get("PageSize", ["50"])[0])
                page = list(reversed(messages))[:size]  # newest first
                self._reply(
                    200,
                    {
                        "messages": page,
                        "page": 0,
                        "page_size": size,
                        "next_page_uri": None,
                        "first_page_uri": parts.path,
                        "uri": self.path,
                        "start": 0,
                        "end": len(page),
                    },
                )

        return Handler


def _rfc2822(value: str) -> datetime:
    from email.utils import parsedate_to_datetime

    return parsedate_to_datetime(value)
