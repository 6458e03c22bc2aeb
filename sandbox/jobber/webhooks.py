"""Webhook delivery in Jobber's shape, from a background thread.

Each event is POSTed as ``{"data": {"webHookEvent": {topic, appId, accountId, itemId, occurredAt}}}``
with ``X-Jobber-Hmac-SHA256`` = base64(HMAC-SHA256(raw body, client secret)). Failed deliveries
(connection error or non-2xx) are retried with exponential backoff, then logged as failed. Chaos
settings (duplicates, delays, shuffling) are read from the live config at delivery time.
"""

from __future__ import annotations

import base64
import hashlib
import heapq
import hmac
import json
import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any

import httpx

from .config import SandboxConfig

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Jobber-Hmac-SHA256"
SHUFFLE_BATCH = 5
SHUFFLE_GATHER_S = 0.05


def sign(body: bytes, secret: str) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode("ascii")


@dataclass
class WebhookEvent:
    topic: str
    item_id: str
    account_id: str
    app_id: str
    occurred_at: str
    seq: int = 0

    def body(self, legacy_key: bool = False) -> bytes:
        when_key = "occuredAt" if legacy_key else "occurredAt"
        payload = {
            "data": {
                "webHookEvent": {
                    "topic": self.topic,
                    "appId": self.app_id,
                    "accountId": self.account_id,
                    "itemId": self.item_id,
                    when_key: self.occurred_at,
                }
            }
        }
        return json.dumps(payload, separators=(",", ":")).encode()


@dataclass
class WebhookLogEntry:
    topic: str
    item_id: str
    occurred_at: str
    url: str
    status_code: int | None
    attempts: int
    ok: bool
    duplicate: bool = False
    error: str | None = None
    delivered_at: float = field(default_factory=time.time)

    def as_dict(self) -> dict[str, Any]:
        """The entry as JSON: every field but ``delivered_at``, under its camelCase name."""
        return {_camel(f.name): getattr(self, f.name) for f in fields(self) if f.name != "delivered_at"}


def _camel(name: str) -> str:
    first, *rest = name.split("_")
    return first + "".join(part.capitalize() for part in rest)


@dataclass(order=True)
class _Job:
    due: float
    seq: int
    event: WebhookEvent = field(compare=False)
    url: str = field(compare=False)
    body: bytes = field(compare=False)
    attempt: int = field(compare=False, default=1)
    duplicate: bool = field(compare=False, default=False)


class WebhookDispatcher:
    """A heap of due deliveries served by `cfg.webhook_senders` daemon threads (started on first use). One
    sender delivers in order; several deliver concurrently, as Jobber does under load (bench/)."""

    def __init__(
        self, cfg: SandboxConfig, log_list: list[WebhookLogEntry], secret: Callable[[], str] | None = None
    ) -> None:
        self.cfg = cfg
        self.log = log_list
        self._secret = secret or (lambda: self.cfg.client_secret)
        self._rng = random.Random(cfg.seed + 7)
        self._heap: list[_Job] = []
        self._cv = threading.Condition()
        self._pending = 0
        self._seq = 0
        self._stop = False
        self._threads: list[threading.Thread] = []
        self._client: httpx.Client | None = None
        self._rng_lock = threading.Lock()

    # -- producer side --------------------------------------------------------------------------
    def submit(self, event: WebhookEvent, url: str) -> None:
        body = event.body(self.cfg.webhook_legacy_occured_at)
        lo, hi = self.cfg.webhook_delay_s
        delay = self._rng.uniform(min(lo, hi), max(lo, hi)) if hi > 0 or lo > 0 else 0.0
        with self._cv:
            if self._stop:
                return
            self._ensure_thread()
            self._push(_Job(time.monotonic() + delay, 0, event, url, body))

    def _push(self, job: _Job) -> None:
        self._seq += 1
        job.seq = self._seq
        self._pending += 1
        heapq.heappush(self._heap, job)
        self._cv.notify_all()

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every queued delivery (with retries and duplicates) is finished."""
        deadline = time.monotonic() + timeout
        with self._cv:
            while self._pending > 0:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cv.wait(left)
        return True

    @property
    def pending(self) -> int:
        with self._cv:
            return self._pending

    def close(self, timeout: float = 5.0) -> None:
        with self._cv:
            self._stop = True
            self._cv.notify_all()
            threads = list(self._threads)
        for thread in threads:
            thread.join(timeout)
        if self._client is not None:
            self._client.close()

    # -- worker side ----------------------------------------------------------------------------
    def _ensure_thread(self) -> None:
        self._threads = [t for t in self._threads if t.is_alive()]
        if self._client is None:
            limits = httpx.Limits(max_connections=max(1, self.cfg.webhook_senders) * 2)
            self._client = httpx.Client(timeout=self.cfg.webhook_timeout_s, limits=limits)
        while len(self._threads) < max(1, self.cfg.webhook_senders):
            thread = threading.Thread(target=self._run, name=f"sandbox-webhooks-{len(self._threads)}", daemon=True)
            self._threads.append(thread)
            thread.start()

    def _take_batch(self) -> list[_Job] | None:
        with self._cv:
            while True:
                if self._stop:
                    return None
                if not self._heap:
                    self._cv.wait()
                    continue
                wait = self._heap[0].due - time.monotonic()
                if wait > 0:
                    self._cv.wait(wait)
                    continue
                break
            if self.cfg.webhook_shuffle:
                self._cv.wait(SHUFFLE_GATHER_S)  # let a burst accumulate
            now = time.monotonic()
            batch = [heapq.heappop(self._heap)]
            limit = SHUFFLE_BATCH if self.cfg.webhook_shuffle else 1
            while self._heap and len(batch) < limit and self._heap[0].due <= now:
                batch.append(heapq.heappop(self._heap))
        if len(batch) > 1:
            with self._rng_lock:
                self._rng.shuffle(batch)
        return batch

    def _run(self) -> None:
        while True:
            batch = self._take_batch()
            if batch is None:
                break
            for job in batch:
                try:
                    self._deliver(job)
                except Exception:  # never let the worker die
                    log.exception("webhook delivery crashed")
                    self._finish(job, None, "internal error", ok=False)

    def _deliver(self, job: _Job) -> None:
        headers = {"Content-Type": "application/json", SIGNATURE_HEADER: sign(job.body, self._secret())}
        status: int | None = None
        error: str | None = None
        client = self._client or httpx.Client(timeout=self.cfg.webhook_timeout_s)
        self._client = client
        try:
            resp = client.post(job.url, content=job.body, headers=headers)
            status = resp.status_code
            if not 200 <= status < 300:
                error = f"HTTP {status}"
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"
        if error is None:
            self._finish(job, status, None, ok=True)
            with self._rng_lock:
                duplicate = not job.duplicate and self._rng.random() < self.cfg.webhook_duplicate_rate
            if duplicate:
                dup = _Job(time.monotonic(), 0, job.event, job.url, job.body, duplicate=True)
                with self._cv:
                    self._push(dup)
            return
        if job.attempt < self.cfg.webhook_max_attempts:
            log.info("webhook %s to %s failed (%s); retry %d", job.event.topic, job.url, error, job.attempt)
            retry = _Job(
                time.monotonic() + self.cfg.webhook_retry_backoff_s * (2 ** (job.attempt - 1)),
                0,
                job.event,
                job.url,
                job.body,
                attempt=job.attempt + 1,
                duplicate=job.duplicate,
            )
            with self._cv:
                self._pending -= 1
                self._push(retry)
            return
        log.warning("webhook %s to %s failed after %d attempts: %s", job.event.topic, job.url, job.attempt, error)
        self._finish(job, status, error, ok=False)

    def _finish(self, job: _Job, status: int | None, error: str | None, ok: bool) -> None:
        entry = WebhookLogEntry(
            topic=job.event.topic,
            item_id=job.event.item_id,
            occurred_at=job.event.occurred_at,
            url=job.url,
            status_code=status,
            attempts=job.attempt,
            ok=ok,
            duplicate=job.duplicate,
            error=error,
        )
        with self._cv:
            self.log.append(entry)
            self._pending -= 1
            self._cv.notify_all()
