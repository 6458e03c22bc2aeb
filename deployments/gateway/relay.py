"""The relay: inbox rows -> Prefect events, until Prefect has accepted every one of them.

Each row becomes event `jobber.<resource>.<action>` about resource `jobber.<resource>.<itemId>`, with
the account as a related resource and payload {topic, itemId, accountId, occurredAt, inboxId}
(tasks/events/names.py). The event id is uuid5 of the row's dedupe key, so a row sent twice (a crash between
Prefect's answer and our UPDATE, two relays) is one event in Prefect: its event store and its
triggers both ignore an id they have already seen.

Events go to the Prefect server's REST API (`POST /api/events`, answered 204 once the server has
taken them) through Prefect's own client, so PREFECT_API_URL, PREFECT_API_KEY and
PREFECT_API_AUTH_STRING apply as everywhere else. A row is marked relayed only after that 204. While
Prefect is down, rows stay in the inbox and the relay retries with capped exponential backoff
(tasks/retry.py), for as long as it takes: unavailability never drops a row.

A refusal is different from unavailability. When Prefect answers a batch with a permanent refusal
(`REJECTED_STATUSES`: 400, 413, 422: an event it will never take, say an invalid or oversize one), the
relay splits the batch in halves until it has isolated the refused rows (a poison row costs about
2 log2(batch) requests, once), relays the others, and sets the refused rows aside with Prefect's answer
as their reason (`relay_rejected_at`, `last_error`): logged once, counted in /healthz and /metrics, never
sent again unless released (`tasks.store.inbox.release_relay_rejections`). Other 4xx answers (401, 403,
404: credentials or PREFECT_API_URL are wrong) and 408/429 are not about an event: they are treated as
unavailability, so a configuration mistake never sets every row aside.

The events are the Prefect UI's feed of what Jobber sent (and what a contractor's own automations can
match); they trigger no work. The work is woken directly: before a batch is sent, the relay asks its
`Waker` (deployments/gateway/wakeup.py) to submit one background task run for the event worker when
the batch holds rows that cause work, so work never waits for the event feed, and a burst of webhooks
costs a handful of task runs.

The event's `occurred` is the moment of relaying (Prefect's triggers bucket events by `occurred`, and a
row relayed after an outage must still fire them); Jobber's own time is `payload.occurredAt`.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine

from deployments.gateway.wakeup import Waker
from tasks.errors import PrefectRejected, PrefectUnavailable, RelayNotConfigured
from tasks.events import account_related, event_name, event_payload, event_resource
from tasks.retry import Backoff
from tasks.settings import secret_text
from tasks.store import inbox

log = logging.getLogger(__name__)

# uuid5 namespace of relayed Jobber webhooks (fixed forever: changing it would re-fire every event).
EVENT_NAMESPACE = uuid.UUID("6f1c2a8e-3b7d-5c4e-9a10-2d8b7e5f4c31")


# Answers that say "this request can never succeed" (a malformed, invalid or oversize event), as opposed to
# "not now" (5xx, 408, 429) or "not you" (401, 403: credentials; 404: PREFECT_API_URL), which are retried.
REJECTED_STATUSES = frozenset({400, 413, 422})


def event_id(dedupe_key: str) -> uuid.UUID:
    """The Prefect event id of an inbox row: the same row always yields the same event."""
    return uuid.uuid5(EVENT_NAMESPACE, dedupe_key)


def build_event(entry: inbox.InboxEntry, *, occurred: datetime | None = None) -> dict[str, Any]:
    """The Prefect event (JSON) for one inbox row."""
    return {
        "id": str(event_id(entry.dedupe_key)),
        "occurred": (occurred or datetime.now(UTC)).isoformat(),
        "event": event_name(entry.topic),
        "resource": event_resource(entry.topic, entry.item_id),
        "related": account_related(entry.account_id),
        "payload": event_payload(
            topic=entry.topic,
            item_id=entry.item_id,
            account_id=entry.account_id,
            occurred_at=entry.occurred_at,
            inbox_id=entry.id,
        ),
    }


STALLED_EVENT = "jobberflow.events.stalled"


def stalled_event(waiting: int, *, occurred: datetime | None = None) -> dict[str, Any]:
    """The event that asks the jobber-events deployment to do the work no event worker took."""
    return {
        "id": str(uuid.uuid4()),
        "occurred": (occurred or datetime.now(UTC)).isoformat(),
        "event": STALLED_EVENT,
        "resource": {"prefect.resource.id": "jobberflow.relay", "prefect.resource.name": "jobberflow relay"},
        "payload": {"waiting": waiting},
    }


def resolve_api_url(api_url: str | None = None) -> str:
    """`api_url`, else Prefect's PREFECT_API_URL; RelayNotConfigured when neither is set."""
    if api_url:
        return api_url
    from prefect.settings import PREFECT_API_URL

    value = PREFECT_API_URL.value()
    if not value:
        raise RelayNotConfigured("PREFECT_API_URL is not set: webhooks wait in the inbox until it is")
    return str(value)


_tls: dict[str, ssl.SSLContext] = {}


def _tls_context() -> ssl.SSLContext:
    """Prefect's client builds a TLS context per client (tens of ms of CPU): build ours once."""
    context = _tls.get("default")
    if context is None:
        from prefect.settings import PREFECT_API_SSL_CERT_FILE, PREFECT_API_TLS_INSECURE_SKIP_VERIFY

        if PREFECT_API_TLS_INSECURE_SKIP_VERIFY.value():
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        else:
            import certifi

            context = ssl.create_default_context(cafile=PREFECT_API_SSL_CERT_FILE.value() or certifi.where())
        _tls["default"] = context
    return context


def prefect_client(api_url: str | None = None, *, timeout_s: float = 10.0) -> Any:
    """A SyncPrefectClient for `api_url` (default PREFECT_API_URL) with the configured credentials.

    A fresh client does not retry connection errors (Prefect's client only does once it has connected),
    so an unreachable server costs one quick failure, and the relay's own backoff takes over.
    """
    from prefect.client.orchestration import SyncPrefectClient
    from prefect.settings import PREFECT_API_AUTH_STRING, PREFECT_API_KEY

    url = resolve_api_url(api_url)
    auth = PREFECT_API_AUTH_STRING.value()
    key = PREFECT_API_KEY.value()
    settings: dict[str, Any] = {"timeout": timeout_s, "verify": _tls_context()}
    return SyncPrefectClient(
        url,
        auth_string=secret_text(auth),
        api_key=secret_text(key),
        httpx_settings=settings,
    )


def _send(client: Any, events: Sequence[dict[str, Any]]) -> None:
    import httpx

    try:
        client.request("POST", "/events", json=list(events))
    except httpx.HTTPStatusError as exc:
        status = exc.response.status_code
        if status in REJECTED_STATUSES:
            detail = " ".join(exc.response.text.split())[:300]
            raise PrefectRejected(status, detail) from exc
        raise PrefectUnavailable(f"Prefect answered HTTP {status}") from exc
    except httpx.HTTPError as exc:
        raise PrefectUnavailable(f"Prefect unreachable: {type(exc).__name__}") from exc


def _send_isolating(
    client: Any,
    batch: Sequence[tuple[inbox.InboxEntry, dict[str, Any]]],
    accepted: list[int],
    rejected: dict[int, str],
) -> None:
    """Send `batch`; when Prefect refuses it for good, split it in halves until the refused rows are isolated.

    Appends to `accepted` the ids Prefect took and to `rejected` each refused row's reason. Raises
    PrefectUnavailable (what was accepted before stays in `accepted`).
    """
    try:
        _send(client, [event for _, event in batch])
    except PrefectRejected as exc:
        if len(batch) == 1:
            rejected[batch[0][0].id] = exc.reason
            return
        middle = len(batch) // 2
        _send_isolating(client, batch[:middle], accepted, rejected)
        _send_isolating(client, batch[middle:], accepted, rejected)
        return
    accepted.extend(entry.id for entry, _ in batch)


def _settle(engine: Engine, entries: Sequence[inbox.InboxEntry], accepted: list[int], rejected: dict[int, str]) -> None:
    """Record what Prefect took and what it refused for good, in one transaction; log each refusal once."""
    with engine.begin() as conn:
        inbox.mark_relayed(conn, ids=accepted)
        inbox.set_aside_rejected(conn, reasons=rejected)
    for entry in entries:
        if entry.id in rejected:
            log.warning(
                "Inbox row %d (%s %s) set aside: %s. It no longer holds up the relay; "
                "release it with tasks.store.inbox.release_relay_rejections once fixed",
                entry.id,
                entry.topic,
                entry.item_id,
                rejected[entry.id],
            )


def relay_once(
    engine: Engine,
    *,
    api_url: str | None = None,
    client: Any = None,
    batch_size: int = 200,
    max_batches: int | None = None,
    on_rows: Callable[[list[inbox.InboxEntry]], None] | None = None,
    on_rejected: Callable[[int], None] | None = None,
) -> int:
    """Send every unrelayed inbox row to Prefect now; the number of rows Prefect accepted.

    `on_rows` sees each batch before it is sent (the relay wakes the event worker there, so the work never
    waits for the event feed). Rows are marked relayed batch by batch, each only after Prefect accepted it.
    Rows Prefect refuses for good are isolated and set aside (`on_rejected(count)` hears of them); the
    others of their batch are relayed. When Prefect is unavailable, the rows not yet accepted get
    `relay_attempts + 1` and `last_error`, and PrefectUnavailable is raised.
    """
    owned = client is None
    sent = 0
    batches = 0
    try:
        while max_batches is None or batches < max_batches:
            with engine.connect() as conn:
                entries = inbox.fetch_unrelayed(conn, limit=batch_size)
            if not entries:
                break
            if on_rows is not None:
                on_rows(entries)
            if client is None:  # only now: an idle relay costs one SELECT, not a client
                client = prefect_client(api_url)
                client.__enter__()
            batches += 1
            now = datetime.now(UTC)
            accepted: list[int] = []
            rejected: dict[int, str] = {}
            try:
                _send_isolating(client, [(e, build_event(e, occurred=now)) for e in entries], accepted, rejected)
            except PrefectUnavailable as exc:
                _settle(engine, entries, accepted, rejected)
                done = set(accepted) | set(rejected)
                with engine.begin() as conn:
                    inbox.record_relay_failure(conn, ids=[e.id for e in entries if e.id not in done], error=str(exc))
                if rejected and on_rejected is not None:
                    on_rejected(len(rejected))
                raise
            _settle(engine, entries, accepted, rejected)
            if rejected and on_rejected is not None:
                on_rejected(len(rejected))
            sent += len(accepted)
            if len(entries) < batch_size:
                break
    finally:
        if owned and client is not None:
            client.__exit__(None, None, None)
    return sent


@dataclass
class RelayStatus:
    """What /healthz and /metrics report about the relay."""

    running: bool = False
    relayed: int = 0
    consecutive_failures: int = 0
    last_error: str | None = None
    last_success_at: datetime | None = None
    wakeups: int = 0
    last_wakeup_error: str | None = None
    rejected: int = 0  # rows this relay set aside because Prefect refused their events for good


class Relay:
    """The background relay of one gateway process: `await relay.run()` until `relay.stop()`."""

    def __init__(
        self,
        engine: Engine,
        *,
        api_url: str | None = None,
        batch_size: int = 200,
        idle_s: float = 0.1,
        base_backoff_s: float = 1.0,
        max_backoff_s: float = 60.0,
        on_sent: Any = None,
        on_rejected: Callable[[int], None] | None = None,
        waker: Waker | None = None,
    ) -> None:
        self.engine = engine
        self.waker = waker
        if waker is not None and waker.on_stalled is None:
            waker.on_stalled = self.report_stalled
        self.api_url = api_url
        self.batch_size = batch_size
        self.idle_s = idle_s
        self.max_backoff_s = max_backoff_s
        # 1 s, 2, 4 ... 60 s between failed turns, jittered over the upper half (one relay: no herd to spread)
        self.backoff = Backoff(base=base_backoff_s, cap=max_backoff_s, floor=0.5)
        self.status = RelayStatus()
        self._on_sent = on_sent
        self._on_rejected = on_rejected
        self._stop = asyncio.Event()

    def stop(self) -> None:
        self._stop.set()

    def _once(self) -> int:
        arrived: list[bool] = []

        def wake(entries: list[inbox.InboxEntry]) -> None:
            if any(e.work_state == "pending" for e in entries):
                arrived.append(True)
                self._poke(work_arrived=True)

        try:
            return relay_once(
                self.engine,
                api_url=self.api_url,
                batch_size=self.batch_size,
                max_batches=20,
                on_rows=wake,
                on_rejected=self._rejected,
            )
        finally:
            if not arrived:
                self._poke(work_arrived=False)

    def _rejected(self, count: int) -> None:
        self.status.rejected += count
        if self._on_rejected is not None:
            self._on_rejected(count)

    def report_stalled(self, waiting: int) -> None:
        """Emit `jobberflow.events.stalled`: its trigger starts a jobber-events deployment run (prefect.yaml)."""
        with prefect_client(self.api_url) as client:
            _send(client, [stalled_event(waiting)])

    def _poke(self, *, work_arrived: bool) -> None:
        """Wake the event worker when work waits (deployments/gateway/wakeup.py); never fails the relay."""
        if self.waker is None:
            return
        try:
            if self.waker.poke(work_arrived=work_arrived):
                self.status.wakeups += 1
        except Exception as exc:  # noqa: BLE001 - Prefect down: the rows stay pending, the next turn retries
            self.status.last_wakeup_error = f"{type(exc).__name__}: {exc}"[:300]
            log.debug("wake-up failed", exc_info=True)

    async def run(self) -> None:
        self.status.running = True
        try:
            while not self._stop.is_set():
                try:
                    sent = await asyncio.to_thread(self._once)
                except RelayNotConfigured as exc:
                    self._failed(str(exc), level=logging.INFO if self.status.consecutive_failures else logging.WARNING)
                    delay = self.max_backoff_s
                except PrefectUnavailable as exc:
                    self._failed(str(exc))
                    delay = self.backoff.seconds(self.status.consecutive_failures)
                except Exception as exc:  # noqa: BLE001 - the relay must outlive a database hiccup
                    self._failed(f"{type(exc).__name__}")
                    log.debug("relay error", exc_info=True)
                    delay = self.backoff.seconds(self.status.consecutive_failures)
                else:
                    if sent:
                        self.status.relayed += sent
                        self.status.last_success_at = datetime.now(UTC)
                        if self._on_sent is not None:
                            self._on_sent(sent)
                    if self.status.consecutive_failures:
                        log.info("Relay to Prefect recovered")
                    self.status.consecutive_failures = 0
                    self.status.last_error = None
                    delay = 0.0 if sent >= self.batch_size else self.idle_s
                if delay:
                    try:
                        await asyncio.wait_for(self._stop.wait(), timeout=delay)
                    except TimeoutError:
                        pass
        finally:
            self.status.running = False

    def _failed(self, message: str, level: int = logging.WARNING) -> None:
        self.status.consecutive_failures += 1
        self.status.last_error = message
        # log the first failure and then every tenth, not every retry
        if self.status.consecutive_failures == 1 or self.status.consecutive_failures % 10 == 0:
            log.log(level, "Relay to Prefect failing (%d in a row): %s", self.status.consecutive_failures, message)


__all__ = [
    "EVENT_NAMESPACE",
    "REJECTED_STATUSES",
    "Relay",
    "RelayStatus",
    "build_event",
    "event_id",
    "prefect_client",
    "relay_once",
    "resolve_api_url",
]
