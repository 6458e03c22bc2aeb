"""The sandbox account: records, the changes Jobber users and API clients make, and their events.

One re-entrant lock guards all data. Every change bumps ``updated_at`` and emits the webhook
topics Jobber would send (see ``_emit``). Domain methods raise :class:`UserError` for invalid
input; the GraphQL layer turns that into ``userErrors`` and the action endpoints into HTTP 4xx.
"""

from __future__ import annotations

import logging
import random
import threading
from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .config import SandboxConfig
from .cost import LeakyBucket, RequestLimiter
from .ids import decode_id
from .models import (
    Account,
    Client,
    Email,
    Expense,
    Invoice,
    InvoiceLineItem,
    Job,
    LineItem,
    Payment,
    Phone,
    Property,
    Quote,
    QuoteLineItem,
    QuoteNote,
    Record,
    Request,
    Tag,
    Task,
    User,
    Visit,
    WebhookEndpoint,
)
from .oauth import TokenAuthority
from .seed import build_seed
from .webhooks import WebhookDispatcher, WebhookEvent, WebhookLogEntry

log = logging.getLogger(__name__)

R = TypeVar("R", bound=Record)

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
DESTROY_TOPICS = {
    "Client": "CLIENT_DESTROY",
    "Property": "PROPERTY_DESTROY",
    "Job": "JOB_DESTROY",
    "Visit": "VISIT_DESTROY",
    "Invoice": "INVOICE_DESTROY",
    "Quote": "QUOTE_DESTROY",
    "Request": "REQUEST_DESTROY",
    "PaymentRecord": "PAYMENT_DESTROY",
    "Expense": "EXPENSE_DESTROY",
}


class UserError(Exception):
    def __init__(self, message: str, path: Iterable[str] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.path = list(path)


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


def now_s() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def iso(dt: datetime | None) -> str | None:
    if dt is None:
        return None
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_dt(value: Any) -> datetime | None:
    """Parse an ISO 8601 date or date-time (``Z`` allowed); naive values are taken as UTC."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError as exc:
        raise UserError(f"Invalid date-time: {value!r}") from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _zone(name: str) -> ZoneInfo | None:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


class SandboxStore:
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

    def _new_pk(self, cls: type[Record]) -> int:
        name = self._gid(cls)
        self._next_pk[name] = self._next_pk.get(name, 0) + 1
        return self._next_pk[name]

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

    # -- auth -----------------------------------------------------------------------------------
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

    # -- events ---------------------------------------------------------------------------------
    def occurred_at(self, when: datetime | None = None) -> str:
        when = when or now_s()
        zone = _zone(self.cfg.account_timezone)
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

    # -- clients --------------------------------------------------------------------------------
    def _add_email(self, client: Client, address: str, primary: bool = True, description: str = "MAIN") -> Email:
        if primary:
            for e in client.emails:
                e.primary = False
        email = self._add(
            Email(
                pk=self._new_pk(Email),
                address=address,
                primary=primary,
                description=description or "MAIN",
                client=client,
            )
        )
        client.emails.append(email)
        return email

    def _add_phone(
        self,
        client: Client,
        number: str,
        sms_allowed: bool = True,
        primary: bool = True,
        description: str = "MOBILE",
    ) -> Phone:
        if primary:
            for p in client.phones:
                p.primary = False
        phone = self._add(
            Phone(
                pk=self._new_pk(Phone),
                number=number,
                sms_allowed=sms_allowed,
                primary=primary,
                description=description or "MOBILE",
                client=client,
            )
        )
        client.phones.append(phone)
        return phone

    def _add_property(self, client: Client, address: dict[str, Any], name: str | None = None) -> Property:
        now = now_s()
        prop = self._add(
            Property(
                pk=self._new_pk(Property),
                client=client,
                name=name,
                street1=address.get("street1") or "",
                street2=address.get("street2") or "",
                city=address.get("city") or "",
                province=address.get("province") or "",
                postal_code=address.get("postalCode") or "",
                country=address.get("country") or "",
                created_at=now,
                updated_at=now,
            )
        )
        client.client_properties.append(prop)
        return prop

    def _tag(self, label: str) -> Tag:
        for t in self.table("Tag").values():
            if isinstance(t, Tag) and t.label == label:
                return t
        return self._add(Tag(pk=self._new_pk(Tag), label=label))

    def client_create(self, attrs: dict[str, Any]) -> Client:
        first = (attrs.get("firstName") or "").strip()
        last = (attrs.get("lastName") or "").strip()
        company = (attrs.get("companyName") or "").strip() or None
        if not (first or last or company):
            raise UserError("Client must have a first name, last name or company name", ["input"])
        with self.lock:
            now = now_s()
            client = self._add(
                Client(
                    pk=self._new_pk(Client),
                    first_name=first,
                    last_name=last,
                    company_name=company,
                    is_company=bool(attrs.get("isCompany")) or (company is not None and not (first or last)),
                    title=attrs.get("title"),
                    created_at=now,
                    updated_at=now,
                )
            )
            for flag in (
                "receivesReviewRequests",
                "receivesReminders",
                "receivesFollowUps",
                "receivesQuoteFollowUps",
                "receivesInvoiceFollowUps",
            ):
                if attrs.get(flag) is not None:
                    setattr(client, _snake(flag), bool(attrs[flag]))
            for i, e in enumerate(attrs.get("emails") or []):
                if e.get("address"):
                    self._add_email(
                        client, e["address"], bool(e.get("primary", i == 0)), e.get("description") or "MAIN"
                    )
            for i, p in enumerate(attrs.get("phones") or []):
                if p.get("number"):
                    self._add_phone(
                        client,
                        p["number"],
                        bool(p.get("smsAllowed", True)),
                        bool(p.get("primary", i == 0)),
                        p.get("description") or "MOBILE",
                    )
            if attrs.get("billingAddress"):
                client.billing_address = _client_address(attrs["billingAddress"])
            props = [
                self._add_property(client, pa.get("address") or {}, pa.get("name"))
                for pa in attrs.get("properties") or []
            ]
        self._emit("CLIENT_CREATE", client)
        for prop in props:
            self._emit("PROPERTY_CREATE", prop)
        return client

    def client_edit(self, client_id: Any, attrs: dict[str, Any]) -> Client:
        with self.lock:
            client = self._require(client_id, Client, "clientId")
            for key in ("firstName", "lastName", "companyName", "title"):
                if key in attrs and attrs[key] is not None:
                    setattr(client, _snake(key), attrs[key])
            if attrs.get("isCompany") is not None:
                client.is_company = bool(attrs["isCompany"])
            for flag in (
                "receivesReviewRequests",
                "receivesReminders",
                "receivesFollowUps",
                "receivesQuoteFollowUps",
                "receivesInvoiceFollowUps",
            ):
                if attrs.get(flag) is not None:
                    setattr(client, _snake(flag), bool(attrs[flag]))
            for e in attrs.get("emailsToAdd") or []:
                if e.get("address"):
                    self._add_email(
                        client,
                        e["address"],
                        bool(e.get("primary", not client.emails)),
                        e.get("description") or "MAIN",
                    )
            for e in attrs.get("emailsToEdit") or []:
                email = self.get(e.get("id"), Email)
                if email is None or email.client is not client:
                    raise UserError("Email not found", ["input", "emailsToEdit", "id"])
                email.address = e.get("address") or email.address
                if e.get("primary"):
                    for other in client.emails:
                        other.primary = other is email
            for eid in attrs.get("emailsToDelete") or []:
                email = self.get(eid, Email)
                if email is None or email.client is not client:
                    raise UserError("Email not found", ["input", "emailsToDelete"])
                client.emails.remove(email)
                self.table("Email").pop(email.pk, None)
            for p in attrs.get("phonesToAdd") or []:
                if p.get("number"):
                    self._add_phone(
                        client,
                        p["number"],
                        bool(p.get("smsAllowed", True)),
                        bool(p.get("primary", not client.phones)),
                        p.get("description") or "MOBILE",
                    )
            for p in attrs.get("phonesToEdit") or []:
                phone = self.get(p.get("id"), Phone)
                if phone is None or phone.client is not client:
                    raise UserError("Phone number not found", ["input", "phonesToEdit", "id"])
                phone.number = p.get("number") or phone.number
                if p.get("smsAllowed") is not None:
                    phone.sms_allowed = bool(p["smsAllowed"])
                if p.get("primary"):
                    for other_phone in client.phones:
                        other_phone.primary = other_phone is phone
            for pid in attrs.get("phonesToDelete") or []:
                phone = self.get(pid, Phone)
                if phone is None or phone.client is not client:
                    raise UserError("Phone number not found", ["input", "phonesToDelete"])
                client.phones.remove(phone)
                self.table("ClientPhoneNumber").pop(phone.pk, None)
            for label in attrs.get("tagsToAdd") or []:
                tag = self._tag(label)
                if tag not in client.tags:
                    client.tags.append(tag)
            for label in attrs.get("tagsToDelete") or []:
                client.tags = [t for t in client.tags if t.label != label]
            if attrs.get("billingAddress"):
                client.billing_address = _client_address(attrs["billingAddress"], client.billing_address)
            client.updated_at = now_s()
        self._emit("CLIENT_UPDATE", client)
        return client

    def client_archive(self, client_id: Any) -> Client:
        with self.lock:
            client = self._require(client_id, Client, "clientId")
            client.is_archived = True
            client.updated_at = now_s()
        self._emit("CLIENT_UPDATE", client)
        return client

    def update_client(
        self,
        client_id: Any,
        first_name: str | None = None,
        last_name: str | None = None,
        company_name: str | None = None,
        email: str | None = None,
        phone: str | None = None,
        sms_allowed: bool | None = None,
        receives_review_requests: bool | None = None,
        is_archived: bool | None = None,
    ) -> Client:
        """A person edits a client in Jobber (email/phone replace the primary ones)."""
        with self.lock:
            client = self._require(client_id, Client, "client_id")
            if first_name is not None:
                client.first_name = first_name
            if last_name is not None:
                client.last_name = last_name
            if company_name is not None:
                client.company_name = company_name or None
            if email is not None:
                primary = next((e for e in client.emails if e.primary), None)
                if primary:
                    primary.address = email
                else:
                    self._add_email(client, email)
            if phone is not None:
                prim = next((p for p in client.phones if p.primary), None)
                if prim:
                    prim.number = phone
                else:
                    self._add_phone(client, phone, True if sms_allowed is None else sms_allowed)
            if sms_allowed is not None:
                for p in client.phones:
                    if p.primary:
                        p.sms_allowed = sms_allowed
            if receives_review_requests is not None:
                client.receives_review_requests = receives_review_requests
            if is_archived is not None:
                client.is_archived = is_archived
            client.updated_at = now_s()
        self._emit("CLIENT_UPDATE", client)
        return client

    def create_client(
        self,
        first_name: str,
        last_name: str,
        email: str | None = None,
        phone: str | None = None,
        sms_allowed: bool = True,
        company_name: str | None = None,
        address: dict[str, Any] | None = None,
    ) -> Client:
        """A person creates a client in Jobber (with one property when an address is given)."""
        attrs: dict[str, Any] = {"firstName": first_name, "lastName": last_name, "companyName": company_name}
        if email:
            attrs["emails"] = [{"address": email, "primary": True, "description": "MAIN"}]
        if phone:
            attrs["phones"] = [{"number": phone, "primary": True, "smsAllowed": sms_allowed, "description": "MOBILE"}]
        if address:
            attrs["properties"] = [{"address": address}]
        return self.client_create(attrs)

    # -- properties -----------------------------------------------------------------------------
    def property_create(self, client_id: Any, properties: list[dict[str, Any]]) -> tuple[Client, list[Property]]:
        with self.lock:
            client = self._require(client_id, Client, "clientId")
            if not properties:
                raise UserError("At least one property is required", ["input", "properties"])
            created = [self._add_property(client, p.get("address") or {}, p.get("name")) for p in properties]
            client.updated_at = now_s()
        for prop in created:
            self._emit("PROPERTY_CREATE", prop)
        return client, created

    def property_edit(self, property_id: Any, attrs: dict[str, Any]) -> Property:
        with self.lock:
            prop = self._require(property_id, Property, "propertyId")
            address = attrs.get("address") or {}
            for key in ("street1", "street2", "city", "province", "postalCode", "country"):
                if address.get(key) is not None:
                    setattr(prop, _snake(key), address[key])
            if attrs.get("name") is not None:
                prop.name = attrs["name"]
            prop.updated_at = now_s()
        self._emit("PROPERTY_UPDATE", prop)
        return prop

    # -- jobs -----------------------------------------------------------------------------------
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

    def _new_visit(
        self,
        job: Job,
        title: str | None,
        start: datetime | None,
        end: datetime | None,
        users: list[User],
        instructions: str | None = None,
    ) -> Visit:
        now = now_s()
        visit = self._add(
            Visit(
                pk=self._new_pk(Visit),
                job=job,
                title=title or job.title,
                instructions=instructions,
                assigned_users=list(users),
                start_at=start,
                end_at=end,
                created_at=now,
                updated_at=now,
            )
        )
        job.visits.append(visit)
        self._recompute_schedule(job)
        return visit

    @staticmethod
    def _recompute_schedule(job: Job) -> None:
        starts = [v.start_at for v in job.visits if v.start_at]
        ends = [v.end_at or v.start_at for v in job.visits if v.start_at]
        job.start_at = min(starts) if starts else None
        job.end_at = max(e for e in ends if e) if ends else None

    def _users(self, ids: Iterable[Any] | None, path: list[str]) -> list[User]:
        out = []
        for uid in ids or []:
            user = self.get(uid, User)
            if user is None:
                raise UserError("User not found", path)
            out.append(user)
        return out

    def job_create(self, attrs: dict[str, Any]) -> Job:
        with self.lock:
            prop = self._require(attrs.get("propertyId"), Property, "propertyId")
            if prop.client is None:
                raise UserError("Property has no client", ["input", "propertyId"])
            number = attrs.get("jobNumber")
            if number is not None and any(j.job_number == number for j in self.jobs):
                raise UserError("Job number has already been taken", ["input", "jobNumber"])
            if number is None:
                number = max((j.job_number for j in self.jobs), default=1041) + 1
            items = []
            now = now_s()
            for li in attrs.get("lineItems") or []:
                items.append(
                    self._add(
                        LineItem(
                            pk=self._new_pk(LineItem),
                            name=li.get("name") or "",
                            description=li.get("description") or "",
                            quantity=float(li.get("quantity") or 0),
                            unit_price=float(li.get("unitPrice") or 0),
                            taxable=bool(li.get("taxable", True)),
                            created_at=now,
                            updated_at=now,
                        )
                    )
                )
            invoicing = attrs.get("invoicing") or {}
            job = self._add(
                Job(
                    pk=self._new_pk(Job),
                    job_number=int(number),
                    title=attrs.get("title"),
                    job_status="unscheduled",
                    client=prop.client,
                    property_=prop,
                    instructions=attrs.get("instructions"),
                    line_items=items,
                    total=round(sum(i.total_price for i in items), 2),
                    billing_type=invoicing.get("invoicingType") or "FIXED_PRICE",
                    allow_review_request=attrs.get("allowReviewRequest", True) is not False,
                    salesperson=self.get(attrs.get("salespersonId"), User),
                    created_at=now,
                    updated_at=now,
                )
            )
            scheduling = attrs.get("scheduling") or {}
            timeframe = attrs.get("timeframe") or {}
            users = self._users(scheduling.get("assignedTo"), ["input", "scheduling", "assignedTo"])
            new_visits: list[Visit] = []
            if scheduling.get("createVisits"):
                start = parse_dt(timeframe.get("startAt")) or now + timedelta(days=1)
                start = _at_time(start, scheduling.get("startTime"), prop.timezone) or start
                end = _at_time(start, scheduling.get("endTime"), prop.timezone) or start + timedelta(hours=2)
                new_visits.append(self._new_visit(job, job.title, start, end, users))
            job.job_status = _job_status_for(job)
            prop.client.jobs.append(job)
            prop.jobs.append(job)
            prop.client.updated_at = now
        self._emit("JOB_CREATE", job)
        for visit in new_visits:
            self._emit("VISIT_CREATE", visit)
        return job

    def job_edit(self, job_id: Any, attrs: dict[str, Any]) -> Job:
        with self.lock:
            job = self._require(job_id, Job, "jobId")
            number = attrs.get("jobNumber")
            if number is not None and any(j.job_number == number and j is not job for j in self.jobs):
                raise UserError("Job number has already been taken", ["input", "jobNumber"])
            if number is not None:
                job.job_number = int(number)
            for key in ("title", "instructions"):
                if attrs.get(key) is not None:
                    setattr(job, key, attrs[key])
            if attrs.get("allowReviewRequest") is not None:
                job.allow_review_request = bool(attrs["allowReviewRequest"])
            if attrs.get("salespersonId"):
                job.salesperson = self._require(attrs["salespersonId"], User, "salespersonId")
            if attrs.get("visitTitles"):
                for v in job.visits:
                    v.title = attrs["visitTitles"]
            job.updated_at = now_s()
        self._emit("JOB_UPDATE", job)
        return job

    def job_close(
        self,
        job_id: Any = None,
        modify_incomplete_visits_by: str = "COMPLETE_ALL",
        completed_on: Any = None,
        job_number: Any = None,
    ) -> Job:
        """Close (archive) a job. COMPLETE_ALL (the person action's default) completes open visits;
        the API's DESTROY_ALL / COMPLETE_PAST_DESTROY_FUTURE behave as their names say."""
        topics: list[tuple[str, Record | str]] = []
        with self.lock:
            job = self._find_job(job_id, job_number)
            if job.job_status == "archived":
                raise UserError("Job is already closed", ["jobId"])
            now = now_s()
            completed = parse_dt(completed_on) or now
            if completed > now:
                completed = now
            for visit in list(job.visits):
                if visit.completed_at is not None:
                    continue
                future = visit.start_at is not None and visit.start_at > now
                if modify_incomplete_visits_by == "DESTROY_ALL" or (
                    modify_incomplete_visits_by == "COMPLETE_PAST_DESTROY_FUTURE" and future
                ):
                    self._detach(visit)
                    topics.append(("VISIT_DESTROY", visit.id))
                else:
                    visit.completed_at = now
                    visit.completed_by = (
                        visit.assigned_users[0].name["full"] if visit.assigned_users else self.owner.name["full"]
                    )
                    visit.updated_at = now
                    topics.append(("VISIT_COMPLETE", visit))
                    topics.append(("VISIT_UPDATE", visit))
            self._recompute_schedule(job)
            job.job_status = "archived"
            job.completed_at = completed
            job.updated_at = now
        for topic, item in topics:
            self._emit(topic, item)
        self._emit("JOB_CLOSED", job)
        self._emit("JOB_UPDATE", job)
        return job

    def close_job(self, job_id: Any = None, job_number: Any = None) -> Job:
        return self.job_close(job_id, "COMPLETE_ALL", job_number=job_number)

    def job_reopen(self, job_id: Any = None, job_number: Any = None) -> Job:
        with self.lock:
            job = self._find_job(job_id, job_number)
            if job.job_status != "archived":
                raise UserError("Job is not closed", ["jobId"])
            job.completed_at = None
            job.job_status = _job_status_for(job)
            job.updated_at = now_s()
        self._emit("JOB_UPDATE", job)
        return job

    reopen_job = job_reopen

    # -- visits ---------------------------------------------------------------------------------
    def visit_create(self, job_id: Any, visits: list[dict[str, Any]]) -> tuple[Job, list[Visit]]:
        with self.lock:
            job = self._require(job_id, Job, "jobId")
            if not visits:
                raise UserError("At least one visit is required", ["input", "visits"])
            created = []
            for i, attrs in enumerate(visits):
                schedule = attrs.get("schedule") or {}
                start = _local_dt(schedule.get("startAt"))
                end = _local_dt(schedule.get("endAt")) or (start + timedelta(hours=2) if start else None)
                users = self._users(
                    schedule.get("teamMemberIdsToAssign"),
                    ["input", "visits", str(i), "schedule", "teamMemberIdsToAssign"],
                )
                created.append(self._new_visit(job, attrs.get("title"), start, end, users, attrs.get("instructions")))
            if job.job_status not in ("archived",):
                job.job_status = _job_status_for(job)
            job.updated_at = now_s()
        for visit in created:
            self._emit("VISIT_CREATE", visit)
        self._emit("JOB_UPDATE", job)
        return job, created

    def visit_edit(self, visit_id: Any, attrs: dict[str, Any]) -> Visit:
        with self.lock:
            visit = self._require(visit_id, Visit, "id", "Visit")
            for key in ("title", "instructions"):
                if attrs.get(key) is not None:
                    setattr(visit, key, attrs[key])
            visit.updated_at = now_s()
        self._emit("VISIT_UPDATE", visit)
        return visit

    def visit_delete(self, visit_ids: list[Any]) -> list[Visit]:
        with self.lock:
            visits = [self._require(v, Visit, "visitIds", "Visit") for v in visit_ids]
            for visit in visits:
                job = visit.job
                self._detach(visit)
                if job is not None:
                    job.updated_at = now_s()
        for visit in visits:
            self._emit("VISIT_DESTROY", visit.id)
        return visits

    def visit_complete(self, visit_id: Any, completed_at: Any = None) -> Visit:
        job_became_invoiceable = False
        with self.lock:
            visit = self._require(visit_id, Visit, "visitId", "Visit")
            if visit.completed_at is not None:
                raise UserError("Visit is already complete", ["visitId"])
            now = now_s()
            visit.completed_at = min(parse_dt(completed_at) or now, now)
            visit.completed_by = (
                visit.assigned_users[0].name["full"] if visit.assigned_users else self.owner.name["full"]
            )
            visit.updated_at = now
            job = visit.job
            if job is not None and job.job_status != "archived" and all(v.completed_at for v in job.visits):
                job.job_status = "requires_invoicing"
                job.updated_at = now
                job_became_invoiceable = True
        self._emit("VISIT_COMPLETE", visit)
        self._emit("VISIT_UPDATE", visit)
        if job_became_invoiceable and visit.job is not None:
            self._emit("JOB_UPDATE", visit.job)
        return visit

    complete_visit = visit_complete

    def visit_uncomplete(self, visit_id: Any) -> Visit:
        with self.lock:
            visit = self._require(visit_id, Visit, "visitId", "Visit")
            if visit.completed_at is None:
                raise UserError("Visit is not complete", ["visitId"])
            visit.completed_at = None
            visit.completed_by = None
            visit.updated_at = now_s()
            if visit.job is not None and visit.job.job_status == "requires_invoicing":
                visit.job.job_status = _job_status_for(visit.job)
        self._emit("VISIT_UPDATE", visit)
        return visit

    def visit_create_line_items(self, visit_id: Any, line_items: list[dict[str, Any]]) -> Visit:
        with self.lock:
            visit = self._require(visit_id, Visit, "visitId", "Visit")
            if not line_items:
                raise UserError("At least one line item is required", ["input", "lineItems"])
            now = now_s()
            for li in line_items:
                if not li.get("name"):
                    raise UserError("Line item name can't be blank", ["input", "lineItems", "name"])
                item = self._add(
                    LineItem(
                        pk=self._new_pk(LineItem),
                        name=li["name"],
                        description=li.get("description") or "",
                        quantity=float(li.get("quantity") or 0),
                        unit_price=float(li.get("unitPrice") or 0),
                        taxable=bool(li.get("taxable", True)),
                        created_at=now,
                        updated_at=now,
                    )
                )
                visit.line_items.append(item)
                if visit.job is not None:
                    visit.job.line_items.append(item)
                    visit.job.total = round(visit.job.total + item.total_price, 2)
            visit.updated_at = now
        self._emit("VISIT_UPDATE", visit)
        return visit

    # -- invoices and payments ------------------------------------------------------------------
    def invoice_create(self, attrs: dict[str, Any]) -> Invoice:
        with self.lock:
            client = self._require(attrs.get("clientId"), Client, "clientId")
            job_ids = list(attrs.get("jobIds") or [])
            if attrs.get("jobId"):
                job_ids.insert(0, attrs["jobId"])
            jobs = [self._require(j, Job, "jobIds", "Job") for j in job_ids]
            prop = self.get(attrs.get("propertyId"), Property) if attrs.get("propertyId") else None
            lines = attrs.get("lineItems")
            if lines is None:
                raise UserError("Line items are required", ["input", "lineItems"])
            subtotal = 0.0
            for li in lines:
                if not li.get("name"):
                    raise UserError("Line item name can't be blank", ["input", "lineItems", "name"])
                if li.get("quantity") is not None and li.get("unitPrice") is not None:
                    subtotal += float(li["quantity"]) * float(li["unitPrice"])
                else:
                    subtotal += float(li.get("cost") or li.get("unitPrice") or 0)
            if not lines and jobs:
                subtotal = sum(j.uninvoiced_total or j.total for j in jobs)
            now = now_s()
            issued = parse_dt(attrs.get("issuedDate")) or now
            due_details = attrs.get("dueDetails") or {}
            due = parse_dt(due_details.get("dueDate")) or issued + timedelta(
                days=int(due_details.get("invoiceNet") or 30)
            )
            invoice = self._add(
                Invoice(
                    pk=self._new_pk(Invoice),
                    invoice_number=attrs.get("invoiceNumber") or str(self._next_invoice_number()),
                    invoice_status="awaiting_payment" if attrs.get("markSent") else "draft",
                    subject=attrs.get("subject") or "For Services Rendered",
                    message=attrs.get("message"),
                    client=client,
                    property_=prop or (jobs[0].property_ if jobs else None),
                    jobs=jobs,
                    subtotal=round(subtotal, 2),
                    issued_date=issued,
                    due_date=due,
                    created_at=now,
                    updated_at=now,
                )
            )
            for li in lines:
                qty = float(li["quantity"]) if li.get("quantity") is not None else 1.0
                price = li.get("unitPrice") if li.get("unitPrice") is not None else li.get("cost")
                invoice.line_items.append(
                    self._add(
                        InvoiceLineItem(
                            pk=self._new_pk(InvoiceLineItem),
                            name=li["name"],
                            description=li.get("description") or "",
                            quantity=qty,
                            unit_price=float(price or 0),
                            taxable=li.get("taxable") is not False,
                            category=li.get("category") or "SERVICE",
                            date=parse_dt(li.get("date")),
                            created_at=now,
                            updated_at=now,
                        )
                    )
                )
            client.invoices.append(invoice)
            for job in jobs:
                job.invoices.append(invoice)
                if job.job_status == "requires_invoicing":
                    job.job_status = _job_status_for(job)
        self._emit("INVOICE_CREATE", invoice)
        return invoice

    def _next_invoice_number(self) -> int:
        numbers = [int(i.invoice_number) for i in self.invoices if i.invoice_number.isdigit()]
        return max(numbers, default=2000) + 1

    def create_invoice(self, job_id: Any = None, job_number: Any = None) -> Invoice:
        """A person creates and sends an invoice for a job's uninvoiced total."""
        with self.lock:
            job = self._find_job(job_id, job_number)
            if job.client is None:
                raise UserError("Job has no client", ["job_id"])
            amount = job.uninvoiced_total or job.total
            invoice = self.invoice_create(
                {
                    "clientId": job.client.id,
                    "jobIds": [job.id],
                    "subject": f"For Services Rendered - {job.title}",
                    "markSent": True,
                    "lineItems": [{"name": job.title or "Services", "quantity": 1, "unitPrice": amount}],
                }
            )
            invoice.tax_amount = round(invoice.subtotal * 0.0825, 2)
        return invoice

    def invoice_edit(self, invoice_id: Any, attrs: dict[str, Any]) -> Invoice:
        with self.lock:
            invoice = self._require(invoice_id, Invoice, "invoiceId")
            for key in ("subject", "message", "invoiceNumber"):
                if attrs.get(key) is not None:
                    setattr(invoice, _snake(key), attrs[key])
            if attrs.get("issuedDate"):
                invoice.issued_date = parse_dt(attrs["issuedDate"])
            due = (attrs.get("dueDetails") or {}).get("dueDate") or attrs.get("dueDate")
            if due:
                invoice.due_date = parse_dt(due)
            invoice.updated_at = now_s()
        self._emit("INVOICE_UPDATE", invoice)
        return invoice

    def mark_invoice_paid(
        self, invoice_id: Any, amount: float | None = None, kind: str = "CreditCardPaymentRecord"
    ) -> Invoice:
        """A payment is recorded for the balance: status paid, INVOICE_UPDATE + PAYMENT_CREATE."""
        with self.lock:
            invoice = self._require(invoice_id, Invoice, "invoice_id", "Invoice")
            if invoice.invoice_status == "paid":
                raise UserError("Invoice is already paid", ["invoice_id"])
            now = now_s()
            pay = self._add(
                Payment(
                    pk=self._new_pk(Payment),
                    kind=kind,
                    invoice=invoice,
                    amount=round(amount if amount is not None else invoice.balance, 2),
                    entry_date=now,
                    created_at=now,
                )
            )
            invoice.payment_records.append(pay)
            if invoice.balance <= 0.005:
                invoice.invoice_status = "paid"
                invoice.received_date = now
            if invoice.issued_date is None:
                invoice.issued_date = now
            invoice.updated_at = now
        self._emit("PAYMENT_CREATE", pay)
        self._emit("INVOICE_UPDATE", invoice)
        return invoice

    def mark_invoice_unpaid(self, invoice_id: Any) -> Invoice:
        """Payments are removed (PAYMENT_DESTROY) and the invoice is awaiting payment again."""
        with self.lock:
            invoice = self._require(invoice_id, Invoice, "invoice_id", "Invoice")
            removed = list(invoice.payment_records)
            for pay in removed:
                self.table("PaymentRecord").pop(pay.pk, None)
            invoice.payment_records.clear()
            invoice.invoice_status = "awaiting_payment"
            invoice.received_date = None
            invoice.updated_at = now_s()
        for pay in removed:
            self._emit("PAYMENT_DESTROY", pay.id)
        self._emit("INVOICE_UPDATE", invoice)
        return invoice

    # -- quotes ---------------------------------------------------------------------------------
    def quote_create(self, attrs: dict[str, Any]) -> Quote:
        with self.lock:
            client = self._require(attrs.get("clientId"), Client, "clientId")
            prop = self._require(attrs.get("propertyId"), Property, "propertyId")
            if prop.client is not client:
                raise UserError("Property does not belong to the client", ["attributes", "propertyId"])
            lines = attrs.get("lineItems") or []
            subtotal = 0.0
            for li in lines:
                if not li.get("name"):
                    raise UserError("Line item name can't be blank", ["attributes", "lineItems", "name"])
                if li.get("totalPrice") is not None:
                    subtotal += float(li["totalPrice"])
                else:
                    subtotal += float(li.get("quantity") or 1) * float(li.get("unitPrice") or 0)
            number = attrs.get("quoteNumber")
            if number is None:
                number = max((int(q.quote_number) for q in self.quotes if q.quote_number.isdigit()), default=300) + 1
            now = now_s()
            sent = attrs.get("transitionQuoteTo") == "AWAITING_RESPONSE"
            quote = self._add(
                Quote(
                    pk=self._new_pk(Quote),
                    quote_number=str(number),
                    quote_status="awaiting_response" if sent else "draft",
                    title=attrs.get("title"),
                    message=attrs.get("message"),
                    client=client,
                    property_=prop,
                    subtotal=round(subtotal, 2),
                    sent_at=now if sent else None,
                    created_at=now,
                    updated_at=now,
                    transitioned_at=now,
                )
            )
            for order, li in enumerate(lines):
                qty = float(li["quantity"]) if li.get("quantity") is not None else 1.0
                price = li.get("unitPrice")
                if price is None and li.get("totalPrice") is not None:
                    price = float(li["totalPrice"]) / qty if qty else 0.0
                quote.line_items.append(
                    self._add(
                        QuoteLineItem(
                            pk=self._new_pk(QuoteLineItem),
                            name=li["name"],
                            description=li.get("description") or "",
                            quantity=qty,
                            unit_price=float(price or 0),
                            taxable=li.get("taxable") is not False,
                            category=li.get("category") or "SERVICE",
                            optional=bool(li.get("optional")),
                            recommended=li.get("recommended"),
                            text_only=bool(li.get("textOnly")),
                            unit_cost=li.get("unitCost"),
                            sort_order=order,
                            created_at=now,
                            updated_at=now,
                        )
                    )
                )
            client.quotes.append(quote)
            prop.quotes.append(quote)
        self._emit("QUOTE_CREATE", quote)
        if sent:
            self._emit("QUOTE_SENT", quote)
        return quote

    def quote_edit(self, quote_id: Any, attrs: dict[str, Any]) -> Quote:
        topics = ["QUOTE_UPDATE"]
        with self.lock:
            quote = self._require(quote_id, Quote, "quoteId")
            for key in ("title", "message", "quoteNumber"):
                if attrs.get(key) is not None:
                    setattr(quote, _snake(key), str(attrs[key]) if key == "quoteNumber" else attrs[key])
            if attrs.get("sentAt"):
                quote.sent_at = parse_dt(attrs["sentAt"])
                if quote.quote_status == "draft":
                    quote.quote_status = "awaiting_response"
                    topics.append("QUOTE_SENT")
            quote.updated_at = now_s()
        for topic in topics:
            self._emit(topic, quote)
        return quote

    def send_quote(self, quote_id: Any) -> Quote:
        with self.lock:
            quote = self._require(quote_id, Quote, "quote_id", "Quote")
            now = now_s()
            quote.sent_at = now
            if quote.quote_status in ("draft", "changes_requested"):
                quote.quote_status = "awaiting_response"
            quote.transitioned_at = now
            quote.updated_at = now
        self._emit("QUOTE_SENT", quote)
        self._emit("QUOTE_UPDATE", quote)
        return quote

    def approve_quote(self, quote_id: Any) -> Quote:
        with self.lock:
            quote = self._require(quote_id, Quote, "quote_id", "Quote")
            if quote.quote_status in ("approved", "converted"):
                raise UserError("Quote is already approved", ["quote_id"])
            now = now_s()
            quote.quote_status = "approved"
            quote.approved_at = now
            quote.transitioned_at = now
            quote.sent_at = quote.sent_at or now
            quote.updated_at = now
        self._emit("QUOTE_APPROVED", quote)
        self._emit("QUOTE_UPDATE", quote)
        return quote

    def quote_create_note(self, quote_id: Any, attrs: dict[str, Any]) -> tuple[Quote, QuoteNote]:
        with self.lock:
            quote = self._require(quote_id, Quote, "quoteId")
            if not (attrs.get("message") or "").strip():
                raise UserError("Message can't be blank", ["input", "message"])
            now = now_s()
            note = self._add(
                QuoteNote(
                    pk=self._new_pk(QuoteNote),
                    quote=quote,
                    message=attrs["message"],
                    pinned=bool(attrs.get("pinned")),
                    created_at=now,
                )
            )
            quote.notes.append(note)
            quote.updated_at = now
        self._emit("QUOTE_UPDATE", quote)
        return quote, note

    def quote_edit_note(self, attrs: dict[str, Any]) -> tuple[Quote, QuoteNote]:
        with self.lock:
            note = self._require(attrs.get("noteId"), QuoteNote, "noteId", "Note")
            if attrs.get("message") is not None:
                if not attrs["message"].strip():
                    raise UserError("Message can't be blank", ["input", "message"])
                note.message = attrs["message"]
            if attrs.get("pinned") is not None:
                note.pinned = bool(attrs["pinned"])
            now = now_s()
            note.last_edited_at = now
            quote = note.quote
            if quote is None:
                raise UserError("Note not found", ["input", "noteId"])
            quote.updated_at = now
        self._emit("QUOTE_UPDATE", quote)
        return quote, note

    # -- requests, tasks, expenses, users, webhooks ---------------------------------------------
    def request_create(self, attrs: dict[str, Any]) -> Request:
        with self.lock:
            client = self._require(attrs.get("clientId"), Client, "clientId")
            prop = None
            if attrs.get("propertyId"):
                prop = self._require(attrs["propertyId"], Property, "propertyId")
            now = now_s()
            req = self._add(
                Request(
                    pk=self._new_pk(Request),
                    title=attrs.get("title"),
                    client=client,
                    property_=prop,
                    contact_name=client.name,
                    email=client.email,
                    phone=client.phone,
                    created_at=now,
                    updated_at=now,
                )
            )
            client.requests.append(req)
            if prop is not None:
                prop.requests.append(req)
        self._emit("REQUEST_CREATE", req)
        return req

    def request_archive(self, request_id: Any) -> Request:
        with self.lock:
            req = self._require(request_id, Request, "requestId")
            req.request_status = "archived"
            req.updated_at = now_s()
        self._emit("REQUEST_UPDATE", req)
        return req

    def task_create(self, attrs: dict[str, Any], client_id: Any = None, property_id: Any = None) -> Task:
        with self.lock:
            if not (attrs.get("title") or "").strip():
                raise UserError("Title can't be blank", ["input", "title"])
            client = self._require(client_id, Client, "clientId") if client_id else None
            prop = self._require(property_id, Property, "propertyId") if property_id else None
            now = now_s()
            task = self._add(
                Task(
                    pk=self._new_pk(Task),
                    title=attrs["title"],
                    instructions=attrs.get("instructions"),
                    client=client,
                    property_=prop,
                    start_at=parse_dt(attrs.get("startAt")),
                    end_at=parse_dt(attrs.get("endAt")),
                    all_day=bool(attrs.get("allDay")),
                    assigned_users=self._users(attrs.get("assignedTo"), ["input", "assignedTo"]),
                    created_at=now,
                    updated_at=now,
                )
            )
        return task

    def task_edit(self, task_id: Any, attrs: dict[str, Any]) -> Task:
        with self.lock:
            task = self._require(task_id, Task, "taskId")
            for key in ("title", "instructions"):
                if attrs.get(key) is not None:
                    setattr(task, key, attrs[key])
            for key in ("startAt", "endAt"):
                if attrs.get(key) is not None:
                    setattr(task, _snake(key), parse_dt(attrs[key]))
            if attrs.get("allDay") is not None:
                task.all_day = bool(attrs["allDay"])
            if attrs.get("assignedTo") is not None:
                task.assigned_users = self._users(attrs["assignedTo"], ["input", "assignedTo"])
            if attrs.get("clientId"):
                task.client = self._require(attrs["clientId"], Client, "clientId")
            if attrs.get("propertyId"):
                task.property_ = self._require(attrs["propertyId"], Property, "propertyId")
            task.updated_at = now_s()
        return task

    def task_delete(self, task_ids: list[Any]) -> list[Task]:
        with self.lock:
            tasks = [self._require(t, Task, "taskIds", "Task") for t in task_ids]
            for task in tasks:
                self.table("Task").pop(task.pk, None)
        return tasks

    def expense_create(self, attrs: dict[str, Any]) -> Expense:
        with self.lock:
            if not (attrs.get("title") or "").strip():
                raise UserError("Title can't be blank", ["input", "title"])
            job = self._require(attrs["linkedJobId"], Job, "linkedJobId") if attrs.get("linkedJobId") else None
            reimb = (
                self._require(attrs["reimbursableToId"], User, "reimbursableToId")
                if attrs.get("reimbursableToId")
                else None
            )
            now = now_s()
            exp = self._add(
                Expense(
                    pk=self._new_pk(Expense),
                    title=attrs["title"],
                    description=attrs.get("description"),
                    date=parse_dt(attrs.get("date")) or now,
                    total=attrs.get("total"),
                    linked_job=job,
                    entered_by=self.owner,
                    reimbursable_to=reimb,
                    created_at=now,
                    updated_at=now,
                )
            )
            if job is not None:
                job.expenses.append(exp)
        self._emit("EXPENSE_CREATE", exp)
        return exp

    def expense_edit(self, expense_id: Any, attrs: dict[str, Any]) -> Expense:
        with self.lock:
            exp = self._require(expense_id, Expense, "expenseId")
            for key in ("title", "description", "total"):
                if attrs.get(key) is not None:
                    setattr(exp, key, attrs[key])
            if attrs.get("date"):
                exp.date = parse_dt(attrs["date"]) or exp.date
            if attrs.get("linkedJobId"):
                job = self._require(attrs["linkedJobId"], Job, "linkedJobId")
                if exp.linked_job is not None and exp in exp.linked_job.expenses:
                    exp.linked_job.expenses.remove(exp)
                exp.linked_job = job
                job.expenses.append(exp)
            if attrs.get("reimbursableToId"):
                exp.reimbursable_to = self._require(attrs["reimbursableToId"], User, "reimbursableToId")
            exp.updated_at = now_s()
        self._emit("EXPENSE_UPDATE", exp)
        return exp

    def expense_delete(self, expense_id: Any) -> Expense:
        with self.lock:
            exp = self._require(expense_id, Expense, "expenseId")
            self._detach(exp)
        self._emit("EXPENSE_DESTROY", exp.id)
        return exp

    def user_edit(self, user_id: Any, attrs: dict[str, Any]) -> User:
        with self.lock:
            user = self._require(user_id, User, "userId")
            name = (attrs.get("name") or "").strip()
            if "name" in attrs and not name:
                raise UserError("Name can't be blank", ["input", "name"])
            if name:
                first, _, last = name.partition(" ")
                user.first, user.last = first, last
            user.updated_at = now_s()
        self._emit("USER_UPDATE", user)
        return user

    def webhook_endpoint_create(self, topic: str, url: str) -> WebhookEndpoint:
        if not url.startswith(("http://", "https://")):
            raise UserError("Url is invalid", ["input", "url"])
        with self.lock:
            now = now_s()
            return self._add(
                WebhookEndpoint(pk=self._new_pk(WebhookEndpoint), topic=topic, url=url, created_at=now, updated_at=now)
            )

    # -- destroy --------------------------------------------------------------------------------
    def _detach(self, rec: Record) -> None:
        self._table(rec).pop(rec.pk, None)
        if isinstance(rec, Visit) and rec.job is not None:
            rec.job.visits = [v for v in rec.job.visits if v is not rec]
            self._recompute_schedule(rec.job)
        elif isinstance(rec, Job):
            for visit in list(rec.visits):
                self.table("Visit").pop(visit.pk, None)
            if rec.client is not None:
                rec.client.jobs = [j for j in rec.client.jobs if j is not rec]
            if rec.property_ is not None:
                rec.property_.jobs = [j for j in rec.property_.jobs if j is not rec]
            for inv in rec.invoices:
                inv.jobs = [j for j in inv.jobs if j is not rec]
        elif isinstance(rec, Invoice):
            if rec.client is not None:
                rec.client.invoices = [i for i in rec.client.invoices if i is not rec]
            for job in rec.jobs:
                job.invoices = [i for i in job.invoices if i is not rec]
            for pay in rec.payment_records:
                self.table("PaymentRecord").pop(pay.pk, None)
        elif isinstance(rec, Payment) and rec.invoice is not None:
            rec.invoice.payment_records = [p for p in rec.invoice.payment_records if p is not rec]
        elif isinstance(rec, Quote):
            if rec.client is not None:
                rec.client.quotes = [q for q in rec.client.quotes if q is not rec]
            if rec.property_ is not None:
                rec.property_.quotes = [q for q in rec.property_.quotes if q is not rec]
        elif isinstance(rec, Property) and rec.client is not None:
            rec.client.client_properties = [p for p in rec.client.client_properties if p is not rec]
        elif isinstance(rec, Request) and rec.client is not None:
            rec.client.requests = [r for r in rec.client.requests if r is not rec]
        elif isinstance(rec, Expense) and rec.linked_job is not None:
            rec.linked_job.expenses = [e for e in rec.linked_job.expenses if e is not rec]
        elif isinstance(rec, Client):
            for prop in list(rec.client_properties):
                self.table("Property").pop(prop.pk, None)
            for job in list(rec.jobs):
                self._detach(job)
            for inv in list(rec.invoices):
                self._detach(inv)
            for quote in list(rec.quotes):
                self._detach(quote)

    def destroy(self, item_id: Any) -> dict[str, Any]:
        """A person deletes a record in Jobber: it disappears and the *_DESTROY webhook is sent."""
        with self.lock:
            rec = self.get_any(item_id)
            if rec is None:
                raise UserError("Item not found", ["item_id"])
            gid = self._gid(rec)
            topic = DESTROY_TOPICS.get(gid)
            if topic is None:
                raise UserError(f"{rec.TYPENAME} records cannot be destroyed here", ["item_id"])
            summary = brief(rec)
            self._detach(rec)
        self._emit(topic, rec.id)
        return {"destroyed": summary, "topic": topic}

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


# -- helpers ------------------------------------------------------------------------------------
_SNAKE_CACHE: dict[str, str] = {}


def _snake(name: str) -> str:
    out = _SNAKE_CACHE.get(name)
    if out is None:
        out = "".join("_" + c.lower() if c.isupper() else c for c in name).lstrip("_")
        _SNAKE_CACHE[name] = out
    return out


def _client_address(attrs: dict[str, Any], current: dict[str, str] | None = None) -> dict[str, str]:
    out = dict(current or {})
    for key in ("street1", "street2", "city", "province", "postalCode", "country"):
        if attrs.get(key) is not None:
            out[key] = attrs[key]
    for key in ("street1", "street2", "city", "province", "postalCode", "country", "latitude", "longitude"):
        out.setdefault(key, "")
    out["street"] = ", ".join(s for s in (out["street1"], out["street2"]) if s)
    return out


def _local_dt(attrs: dict[str, Any] | None) -> datetime | None:
    """LocalDateTimeAttributes {date, time, timezone} -> aware UTC datetime."""
    if not attrs or not attrs.get("date"):
        return None
    text = f"{attrs['date']}T{attrs.get('time') or '09:00:00'}"
    try:
        naive = datetime.fromisoformat(text)
    except ValueError as exc:
        raise UserError(f"Invalid date/time: {text}", ["schedule"]) from exc
    zone = _zone(attrs.get("timezone") or "UTC") or UTC
    return naive.replace(tzinfo=naive.tzinfo or zone).astimezone(UTC).replace(microsecond=0)


def _at_time(day: datetime, time_text: Any, tz: str) -> datetime | None:
    if not time_text:
        return None
    zone = _zone(tz) or UTC
    try:
        naive = datetime.fromisoformat(f"{day.astimezone(zone).date().isoformat()}T{time_text}")
    except ValueError:
        return None
    return naive.replace(tzinfo=naive.tzinfo or zone).astimezone(UTC).replace(microsecond=0)


def _job_status_for(job: Job) -> str:
    if job.completed_at is not None:
        return "archived"
    if not job.visits:
        return "unscheduled"
    if all(v.completed_at for v in job.visits):
        return "requires_invoicing"
    now = now_s()
    open_visits = [v for v in job.visits if not v.completed_at]
    if any(v.start_at and (v.end_at or v.start_at) < now for v in open_visits):
        return "late"
    if any(v.start_at and v.start_at.date() == now.date() for v in open_visits):
        return "today"
    if all(v.start_at and v.start_at > now for v in open_visits) and not any(v.completed_at for v in job.visits):
        return "upcoming"
    return "active"


def brief(rec: Record | None) -> dict[str, Any]:
    """A short JSON view of a record (for the /sandbox endpoints)."""
    if rec is None:
        return {}
    out: dict[str, Any] = {"__typename": rec.typename, "id": rec.id}
    if isinstance(rec, Client):
        out.update(
            name=rec.name,
            firstName=rec.first_name,
            lastName=rec.last_name,
            companyName=rec.company_name,
            email=rec.email,
            phone=rec.phone,
            smsAllowed=next((p.sms_allowed for p in rec.phones if p.primary), None),
            isArchived=rec.is_archived,
            updatedAt=iso(rec.updated_at),
        )
    elif isinstance(rec, Job):
        out.update(
            jobNumber=rec.job_number,
            title=rec.title,
            jobStatus=rec.job_status,
            client=rec.client.name if rec.client else None,
            clientId=rec.client.id if rec.client else None,
            total=rec.total,
            completedAt=iso(rec.completed_at),
            updatedAt=iso(rec.updated_at),
            visits=[
                {
                    "id": v.id,
                    "isComplete": v.is_complete,
                    "assignedUsers": [u.name["full"] for u in v.assigned_users],
                }
                for v in rec.visits
            ],
        )
    elif isinstance(rec, Visit):
        out.update(
            title=rec.title,
            visitStatus=rec.visit_status,
            isComplete=rec.is_complete,
            completedAt=iso(rec.completed_at),
            startAt=iso(rec.start_at),
            jobId=rec.job.id if rec.job else None,
            jobNumber=rec.job.job_number if rec.job else None,
            assignedUsers=[u.name["full"] for u in rec.assigned_users],
        )
    elif isinstance(rec, Invoice):
        out.update(
            invoiceNumber=rec.invoice_number,
            invoiceStatus=rec.invoice_status,
            total=rec.total,
            invoiceBalance=rec.balance,
            paymentsTotal=rec.payments_total,
            client=rec.client.name if rec.client else None,
            jobIds=[j.id for j in rec.jobs],
            paymentIds=[p.id for p in rec.payment_records],
            updatedAt=iso(rec.updated_at),
        )
    elif isinstance(rec, Quote):
        out.update(
            quoteNumber=rec.quote_number,
            quoteStatus=rec.quote_status,
            title=rec.title,
            total=rec.total,
            client=rec.client.name if rec.client else None,
            sentAt=iso(rec.sent_at),
            updatedAt=iso(rec.updated_at),
        )
    elif isinstance(rec, Property):
        out.update(
            street=rec.street,
            city=rec.city,
            province=rec.province,
            postalCode=rec.postal_code,
            country=rec.country,
            clientId=rec.client.id if rec.client else None,
        )
    elif isinstance(rec, Payment):
        out.update(
            amount=rec.amount,
            invoiceId=rec.invoice.id if rec.invoice else None,
            entryDate=iso(rec.entry_date),
        )
    elif isinstance(rec, User):
        out.update(name=rec.name["full"], email=rec.email_raw, timezone=rec.timezone)
    elif isinstance(rec, Request | Task | Expense):
        out.update(title=rec.title, updatedAt=iso(rec.updated_at))
    return out
