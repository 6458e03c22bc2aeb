"""The store's core: the tables, lookups, the lock, the app's connection, webhook events, settings, counters.

Every resource module (clients, jobs, invoices, ...) is a mixin over :class:`StoreCore`; ``SandboxStore``
puts them together. One re-entrant lock guards all data: a change takes it, edits records, releases it,
then emits its webhook topics (``_emit``), so deliveries never run under the lock.
"""

from __future__ import annotations

import random
import threading
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

from ..config import SandboxConfig
from ..cost import LeakyBucket, RequestLimiter
from ..ids import decode_id
from ..models import (
    Account,
    Client,
    Expense,
    Invoice,
    InvoiceLineItem,
    Job,
    Payment,
    Property,
    Quote,
    QuoteLineItem,
    Record,
    Request,
    Stamped,
    Task,
    User,
    Visit,
    WebhookEndpoint,
)
from ..oauth import TokenAuthority
from ..seed import build_seed
from ..webhooks import WebhookDispatcher, WebhookEvent, WebhookLogEntry
from .values import UserError, find_zone, now_s
from .views import brief

R = TypeVar("R", bound=Record)
S = TypeVar("S", bound=Stamped)
P = TypeVar("P", InvoiceLineItem, QuoteLineItem)


# Settings that POST /sandbox/config (and SandboxStore.configure) may change at run time.
LIVE_SETTINGS = frozenset(
    {
        "webhook_url",
        "webhook_duplicate_rate",
        "webhook_delay_s",
        "webhook_shuffle",
        "webhook_legacy_occured_at",
        "bucket_max",
        "restore_rate",
        "request_limit",
        "request_window_s",
        "retry_after",
        "access_token_ttl_s",
        "max_page_size",
        "webhook_max_attempts",
        "webhook_retry_backoff_s",
    }
)


@dataclass
class SandboxStats:
    graphql_requests: int = 0
    throttled: int = 0
    max_cost_exceeded: int = 0
    rate_limited_429: int = 0
    unauthorized: int = 0
    mutations: int = 0
    token_refreshes: int = 0
    refresh_token_reuse: int = 0
    webhooks_emitted: int = 0
    points_charged: int = 0  # actualQueryCost summed over every GraphQL request (benchmarks: points per job)
    queries_by_root_field: Counter[str] = field(default_factory=Counter)
    mutations_by_root_field: Counter[str] = field(default_factory=Counter)

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["queries_by_root_field"] = dict(self.queries_by_root_field)
        out["mutations_by_root_field"] = dict(self.mutations_by_root_field)
        return out


class StoreCore:
    """The tables and what every resource needs: lookups, the lock, webhook events, settings, counters."""

    def __init__(self, cfg: SandboxConfig | None = None) -> None:
        self.cfg = cfg or SandboxConfig()
        self.lock = threading.RLock()
        self.stats = SandboxStats()
        self._stats_lock = threading.Lock()
        self.versions_seen: Counter[str] = Counter()
        self.events: list[WebhookEvent] = []
        self.webhook_log: list[WebhookLogEntry] = []
        self.disconnected = False
        seed = build_seed(self.cfg)
        self.account: Account = seed.account
        self.app_id = seed.app_id
        self.account_id = self.cfg.account_id or self.account.id
        self.tables: dict[str, dict[int, Record]] = {}
        for rows in (
            [seed.account],
            seed.users,
            seed.tags,
            seed.clients,
            seed.emails,
            seed.phones,
            seed.properties,
            seed.jobs,
            seed.visits,
            seed.line_items,
            seed.invoices,
            seed.payments,
            seed.quotes,
            seed.quote_notes,
            seed.requests,
            seed.tasks,
            seed.expenses,
        ):
            for rec in rows:
                self._table(rec).setdefault(rec.pk, rec)
        self.table("WebhookEndpoint")
        self._next_pk = {name: (max(rows) if rows else 0) for name, rows in self.tables.items()}
        self.bucket = LeakyBucket(self.cfg.bucket_max, self.cfg.restore_rate)
        self.limiter = RequestLimiter(self.cfg.request_limit, self.cfg.request_window_s)
        self.tokens = TokenAuthority(self)
        self.webhooks = WebhookDispatcher(self.cfg, self.webhook_log)
        self._event_seq = 0

    def bump(self, counter: str, n: int = 1) -> None:
        """Increment one of the integer counters in ``stats`` (thread-safe)."""
        with self._stats_lock:
            setattr(self.stats, counter, getattr(self.stats, counter) + n)

    # -- tables ---------------------------------------------------------------------------------
    @staticmethod
    def _gid(rec: Record | type[Record]) -> str:
        return rec.GID_TYPE or rec.TYPENAME

    def _table(self, rec: Record) -> dict[int, Record]:
        return self.tables.setdefault(self._gid(rec), {})

    def table(self, gid_type: str) -> dict[int, Record]:
        return self.tables.setdefault(gid_type, {})

    def rows(self, cls: type[R]) -> list[R]:
        with self.lock:
            return list(self.table(self._gid(cls)).values())  # type: ignore[arg-type]

    def _add(self, rec: R) -> R:
        self._table(rec)[rec.pk] = rec
        return rec

    def _create(self, cls: type[R], now: datetime | None = None, /, **fields: Any) -> R:
        """A new record of that type under the next key of its table (or under ``pk``, a key taken before the
        other fields were read). A ``Stamped`` record is created and last updated ``now`` (default: this second)."""
        if issubclass(cls, Stamped):
            stamp = now or now_s()
            fields.update(created_at=stamp, updated_at=stamp)
        pk = fields.pop("pk", None) or self._new_pk(cls)
        return self._add(cls(pk=pk, **fields))

    def _new_pk(self, cls: type[Record]) -> int:
        name = self._gid(cls)
        self._next_pk[name] = self._next_pk.get(name, 0) + 1
        return self._next_pk[name]

    def _new_priced_item(
        self, cls: type[P], attrs: dict[str, Any], quantity: float, unit_price: Any, now: datetime, **extra: Any
    ) -> P:
        """An invoice's or a quote's line item from its input attributes (``extra``: the kind's own fields)."""
        return self._create(
            cls,
            now,
            name=attrs["name"],
            description=attrs.get("description") or "",
            quantity=quantity,
            unit_price=float(unit_price or 0),
            taxable=attrs.get("taxable") is not False,
            category=attrs.get("category") or "SERVICE",
            **extra,
        )

    def get(self, encoded_id: Any, cls: type[R]) -> R | None:
        """The record of that type for an EncodedId, or None (unknown, deleted, wrong type, malformed)."""
        decoded = decode_id(encoded_id)
        if decoded is None or decoded[0] != self._gid(cls):
            return None
        with self.lock:
            rec = self.table(decoded[0]).get(decoded[1])
        return rec if isinstance(rec, cls) else None

    def get_any(self, encoded_id: Any) -> Record | None:
        decoded = decode_id(encoded_id)
        if decoded is None:
            return None
        with self.lock:
            return self.table(decoded[0]).get(decoded[1])

    def _require(self, encoded_id: Any, cls: type[R], path: str, label: str | None = None) -> R:
        rec = self.get(encoded_id, cls)
        if rec is None:
            raise UserError(f"{label or cls.TYPENAME} not found", [path])
        return rec

    @contextmanager
    def _change(self, encoded_id: Any, cls: type[S], path: str, *topics: str, label: str | None = None) -> Iterator[S]:
        """One record changes: found under the lock (else UserError), edited by the ``with`` body, stamped
        ``updated_at``; its webhook ``topics`` go out once the lock is released (none if the body raises)."""
        with self.lock:
            rec = self._require(encoded_id, cls, path, label)
            yield rec
            rec.updated_at = now_s()
        self._emit_topics(rec, *topics)

    def _find_job(self, job_id: Any = None, job_number: Any = None) -> Job:
        if job_id:
            return self._require(job_id, Job, "jobId", "Job")
        if job_number is not None:
            try:
                number = int(job_number)
            except (TypeError, ValueError) as exc:
                raise UserError("Job not found", ["job_number"]) from exc
            for job in self.jobs:
                if job.job_number == number:
                    return job
            raise UserError("Job not found", ["job_number"])
        raise UserError("jobId is required", ["jobId"])

    def _users(self, ids: Iterable[Any] | None, path: list[str]) -> list[User]:
        out = []
        for uid in ids or []:
            user = self.get(uid, User)
            if user is None:
                raise UserError("User not found", path)
            out.append(user)
        return out

    @property
    def owner(self) -> User:
        users = self.rows(User)
        return next((u for u in users if u.is_account_owner), users[0])

    @property
    def owner_id(self) -> str:
        return self.owner.id

    @property
    def clients(self) -> list[Client]:
        return self.rows(Client)

    @property
    def jobs(self) -> list[Job]:
        return self.rows(Job)

    @property
    def invoices(self) -> list[Invoice]:
        return self.rows(Invoice)

    @property
    def quotes(self) -> list[Quote]:
        return self.rows(Quote)

    @property
    def visits(self) -> list[Visit]:
        return self.rows(Visit)

    @property
    def users(self) -> list[User]:
        return self.rows(User)

    @property
    def properties(self) -> list[Property]:
        return self.rows(Property)

    @property
    def payments(self) -> list[Payment]:
        return self.rows(Payment)

    @property
    def requests(self) -> list[Request]:
        return self.rows(Request)

    @property
    def tasks(self) -> list[Task]:
        return self.rows(Task)

    @property
    def expenses(self) -> list[Expense]:
        return self.rows(Expense)

    # -- events ---------------------------------------------------------------------------------
    def issue_tokens(self) -> dict[str, str]:
        """Tokens for the account without the OAuth dance (also reconnects after a disconnect)."""
        self.disconnected = False
        return self.tokens.issue()

    def disconnect(self) -> None:
        """The account disconnects the app: every token dies and APP_DISCONNECT is sent."""
        self.tokens.revoke_all()
        self.disconnected = True
        self._emit("APP_DISCONNECT", self.account_id)

    def on_app_connect(self) -> None:
        self.disconnected = False
        self._emit("APP_CONNECT", self.account_id)

    def occurred_at(self, when: datetime | None = None) -> str:
        when = when or now_s()
        zone = find_zone(self.cfg.account_timezone)
        return (when.astimezone(zone) if zone else when.astimezone(UTC)).isoformat()

    def _emit(self, topic: str, item: Record | str) -> None:
        item_id = item if isinstance(item, str) else item.id
        with self.lock:
            self._event_seq += 1
            event = WebhookEvent(
                topic=topic,
                item_id=item_id,
                account_id=self.account_id,
                app_id=self.app_id,
                occurred_at=self.occurred_at(),
                seq=self._event_seq,
            )
            self.events.append(event)
            self.bump("webhooks_emitted")
            urls: list[str] = []
            if self.cfg.webhook_url:
                urls.append(self.cfg.webhook_url)
            for ep in self.table("WebhookEndpoint").values():
                if isinstance(ep, WebhookEndpoint) and ep.topic == topic and ep.url not in urls:
                    urls.append(ep.url)
        for url in urls:
            self.webhooks.submit(event, url)

    def _emit_each(self, topic: str, items: Iterable[Record]) -> None:
        for item in items:
            self._emit(topic, item)

    def _emit_topics(self, item: Record, *topics: str) -> None:
        for topic in topics:
            self._emit(topic, item)

    def flush_webhooks(self, timeout: float = 10.0) -> bool:
        """Block until every queued webhook delivery (including retries) has finished."""
        return self.webhooks.flush(timeout)

    def close(self) -> None:
        self.webhooks.close()

    # -- configuration and inspection -----------------------------------------------------------
    def configure(self, **changes: Any) -> dict[str, Any]:
        unknown = set(changes) - LIVE_SETTINGS
        if unknown:
            raise UserError(f"Unknown or read-only settings: {', '.join(sorted(unknown))}")
        with self.lock:
            for key, value in changes.items():
                if key == "webhook_delay_s" and value is not None:
                    value = (
                        (float(value[0]), float(value[1]))
                        if isinstance(value, list | tuple)
                        else (float(value), float(value))
                    )
                setattr(self.cfg, key, value)
            self.bucket.reconfigure(self.cfg.bucket_max, self.cfg.restore_rate)
            self.limiter.limit = self.cfg.request_limit
            self.limiter.window_s = self.cfg.request_window_s
        return {key: getattr(self.cfg, key) for key in sorted(LIVE_SETTINGS)}

    def counts(self) -> dict[str, int]:
        with self.lock:
            names = {
                "Client": "clients",
                "Property": "properties",
                "Job": "jobs",
                "Visit": "visits",
                "Invoice": "invoices",
                "PaymentRecord": "payments",
                "Quote": "quotes",
                "Request": "requests",
                "Task": "tasks",
                "Expense": "expenses",
                "User": "users",
                "WebhookEndpoint": "webhook_endpoints",
            }
            return {label: len(self.table(gid)) for gid, label in names.items()}

    def state(self) -> dict[str, Any]:
        return {
            "account": {"id": self.account_id, "name": self.account.name, "appId": self.app_id},
            "counts": self.counts(),
            "webhook_url": self.cfg.webhook_url,
            "webhooks": {
                "emitted": len(self.events),
                "pending": self.webhooks.pending,
                "delivered": sum(1 for e in self.webhook_log if e.ok),
                "failed": sum(1 for e in self.webhook_log if not e.ok),
            },
            "settings": {key: getattr(self.cfg, key) for key in sorted(LIVE_SETTINGS)},
            "throttle": self.bucket.throttle_status(),
            "stats": self.stats.as_dict(),
            "versions_seen": dict(self.versions_seen),
            "disconnected": self.disconnected,
        }

    def list_jobs(self, status: str | None = None, limit: int = 200) -> list[dict[str, Any]]:
        with self.lock:
            jobs = [j for j in self.jobs if status is None or j.job_status == status]
            jobs.sort(key=lambda j: j.job_number)
            return [brief(j) for j in jobs[:limit]]

    # -- benchmarks -----------------------------------------------------------------------------
    def touch_random(self, n: int, seed: int | None = None, emit: bool = False) -> list[str]:
        """Bump updatedAt on n random clients/jobs/invoices (optionally sending *_UPDATE webhooks)."""
        rng = random.Random(seed)
        touched: list[Record] = []
        with self.lock:
            pool: list[Client | Job | Invoice] = [*self.clients, *self.jobs, *self.invoices]
            now = now_s()
            for rec in rng.sample(pool, min(n, len(pool))):
                rec.updated_at = now
                touched.append(rec)
        if emit:
            for item in touched:
                self._emit(f"{item.TYPENAME.upper()}_UPDATE", item)
        return [r.id for r in touched]
