"""Seeded data: realistic, valid against the schema's enums, deterministic and fast at scale."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from graphql import GraphQLEnumType

from sandbox.jobber import SandboxConfig, SandboxStore
from sandbox.jobber.api import load_schema
from sandbox.jobber.models import Property


def _enum(name: str) -> set[str]:
    enum = load_schema().get_type(name)
    assert isinstance(enum, GraphQLEnumType)
    return set(enum.values)


def _fingerprint(store: SandboxStore) -> list[tuple[object, ...]]:
    clients = [(c.name, c.email, c.phone, c.client_properties[0].city) for c in store.clients]
    jobs = [
        (j.job_number, j.title, j.job_status, j.client.name if j.client else None, j.updated_at) for j in store.jobs
    ]
    invoices = [(i.invoice_number, i.invoice_status, i.total) for i in store.invoices]
    return [*clients, *jobs, *invoices]


def test_ten_thousand_of_each_seeds_fast() -> None:
    t0 = time.monotonic()
    store = SandboxStore(SandboxConfig(seed=3, clients=10_000, jobs=10_000, invoices=10_000))
    elapsed = time.monotonic() - t0
    counts = store.counts()
    assert (counts["clients"], counts["jobs"], counts["invoices"]) == (10_000, 10_000, 10_000)
    assert counts["visits"] >= 10_000 * 0.9
    assert elapsed < 30, elapsed


def test_same_seed_same_data_and_other_seed_other_data() -> None:
    anchor = datetime(2025, 6, 1, tzinfo=UTC)
    a = SandboxStore(SandboxConfig(seed=11, seed_anchor=anchor))
    b = SandboxStore(SandboxConfig(seed=11, seed_anchor=anchor))
    c = SandboxStore(SandboxConfig(seed=12, seed_anchor=anchor))
    assert _fingerprint(a) == _fingerprint(b)
    assert a.account_id == b.account_id and a.app_id == b.app_id
    assert _fingerprint(a) != _fingerprint(c)
    assert a.clients[0].name == c.clients[0].name == "John Smith"


def test_statuses_are_the_schemas_and_every_one_appears() -> None:
    store = SandboxStore(SandboxConfig(seed=5, clients=200, jobs=400, invoices=300, quotes=60))
    invoice_statuses = {i.invoice_status for i in store.invoices}
    quote_statuses = {q.quote_status for q in store.quotes}
    job_statuses = {j.job_status for j in store.jobs}
    visit_statuses = {v.visit_status for v in store.visits}
    assert invoice_statuses == _enum("InvoiceStatusTypeEnum")
    assert quote_statuses == _enum("QuoteStatusTypeEnum")
    assert job_statuses <= _enum("JobStatusTypeEnum") and {"archived", "active", "upcoming"} <= job_statuses
    assert visit_statuses <= _enum("VisitStatusTypeEnum") and "COMPLETED" in visit_statuses
    assert all(j.completed_at for j in store.jobs if j.job_status == "archived")


def test_seed_looks_like_a_real_home_service_business() -> None:
    store = SandboxStore(SandboxConfig(seed=9, clients=300, jobs=300))
    clients = store.clients
    phones = [p for c in clients for p in c.phones]
    assert any(c.is_company and c.company_name for c in clients)
    assert any(not c.phones for c in clients) and any(not c.emails for c in clients)
    assert any(p.sms_allowed for p in phones) and any(not p.sms_allowed for p in phones)
    assert any(p.number.startswith("+1 ") for p in phones) and any(p.number.startswith("(") for p in phones)
    cities = {p.city for p in store.rows(Property)}
    assert {"Austin", "Toronto", "Phoenix", "Honolulu"} <= cities
    assert len({p.timezone for p in store.rows(Property)}) >= 6
    canadian = next(p for p in store.rows(Property) if p.province == "ON")
    assert len(canadian.postal_code) == 7 and canadian.postal_code[3] == " "
    titles = {j.title for j in store.jobs}
    assert {"Water Heater Installation", "Drain Cleaning", "Gutter Cleaning"} <= titles
    assert all(1 <= len(j.visits) <= 3 for j in store.jobs if j.job_status != "unscheduled")
    assert [u.name["full"] for u in store.users][:2] == ["Mike Thompson", "Sarah Nguyen"]
    now = datetime.now(UTC)
    assert all(c.updated_at <= now for c in clients)
    span = max(c.created_at for c in clients) - min(c.created_at for c in clients)
    assert span.days > 200
