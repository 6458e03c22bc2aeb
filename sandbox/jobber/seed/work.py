"""Seeding the work: jobs and visits, invoices and payments, quotes, and a few requests, tasks and expenses."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta
from typing import Any, TypeVar

from ..models import (
    Client,
    Expense,
    Invoice,
    InvoiceLineItem,
    Job,
    LineItem,
    Payment,
    Quote,
    QuoteLineItem,
    QuoteNote,
    Request,
    Task,
    Visit,
)
from .generator import Gen, SeedData
from .vocabulary import (
    INVOICE_CUM,
    INVOICE_STATUSES,
    JOB_STATUS_WEIGHTS,
    JOB_TITLES,
    PAYMENT_KINDS,
    QUOTE_CUM,
    QUOTE_STATUSES,
    REQUEST_STATUSES,
)

L = TypeVar("L", bound=LineItem)


def _whole_price(
    data: SeedData, cls: type[L], pk: int, name: str, description: str, price: float, created: datetime, **extra: Any
) -> L:
    """The one line item a seeded job, invoice or quote has: its whole price, once."""
    item = cls(
        pk=pk,
        name=name,
        description=description,
        quantity=1.0,
        unit_price=price,
        created_at=created,
        updated_at=created,
        **extra,
    )
    data.line_items.append(item)
    return item


def seed_jobs(g: Gen, data: SeedData, active_clients: list[Client]) -> None:
    """Jobs with visits timed by status around the anchor; job #1042 is John Smith's water heater."""
    cfg, rng = g.cfg, g.rng
    technicians = data.users
    statuses = [s for s, _ in JOB_STATUS_WEIGHTS]
    job_cum = list(itertools.accumulate(w for _, w in JOB_STATUS_WEIGHTS))
    visit_pk = li_pk = 0
    for j in range(max(cfg.jobs, 1)):
        if j == 0:
            client, (title, price), status = data.clients[0], JOB_TITLES[0], "active"
        else:
            client = rng.choice(active_clients) if rng.random() < 0.95 else rng.choice(data.clients)
            title, price = rng.choice(JOB_TITLES[1:]) if rng.random() < 0.9 else JOB_TITLES[0]
            status = rng.choices(statuses, cum_weights=job_cum)[0]
        prop = rng.choice(client.client_properties)
        created = max(g.past(330, 3), client.created_at)
        total = round(price * rng.uniform(0.8, 1.35), 2) if j else 1850.0
        job = Job(
            pk=j + 1,
            job_number=1042 + j,
            title=title,
            job_status=status,
            client=client,
            property_=prop,
            total=total,
            created_at=created,
            updated_at=g.after(created),
            instructions=rng.choice(
                (
                    None,
                    "Gate code 4321",
                    "Dog in backyard - friendly",
                    "Park on street",
                    "Call on arrival",
                    "Use side entrance",
                )
            ),
        )
        li_pk += 1
        job.line_items.append(
            _whole_price(data, LineItem, li_pk, title, f"{title} - labour and materials", total, created)
        )
        n_visits = (
            0 if status == "unscheduled" else (1 if j == 0 else rng.choices((1, 2, 3), cum_weights=(60, 88, 100))[0])
        )
        # Visit timing relative to the anchor by status.
        for v in range(n_visits):
            if j == 0:
                start = g.anchor + timedelta(days=1, hours=15)
            elif status in ("archived", "requires_invoicing", "late", "action_required"):
                start = created + timedelta(days=rng.randint(1, 20) + 7 * v, hours=rng.randint(13, 22))
                if start > g.anchor - timedelta(hours=2):
                    start = g.anchor - timedelta(days=rng.randint(1, 5), hours=rng.randint(0, 8))
            elif status == "today":
                start = g.anchor + timedelta(hours=rng.randint(13, 22))
            elif status in ("upcoming", "expiring_within_30_days"):
                start = g.anchor + timedelta(days=rng.randint(1, 45) + 7 * v, hours=rng.randint(13, 22))
            else:  # active / on_hold: some past, some future
                start = g.anchor + timedelta(days=rng.randint(-20, 30) + 7 * v, hours=rng.randint(13, 22))
            end = start + timedelta(hours=rng.choice((1, 2, 2, 3, 4)))
            done = status in ("archived", "requires_invoicing") or (
                status in ("active", "on_hold", "action_required") and end < g.anchor and rng.random() < 0.6
            )
            visit_pk += 1
            assigned = (
                [technicians[0]]
                if j == 0
                else rng.sample(technicians, min(len(technicians), rng.choices((1, 2), cum_weights=(80, 100))[0]))
            )
            visit = Visit(
                pk=visit_pk,
                job=job,
                title=title,
                assigned_users=assigned,
                start_at=start,
                end_at=end,
                completed_at=(end + timedelta(minutes=rng.randint(0, 50))) if done else None,
                completed_by=assigned[0].name["full"] if done else None,
                created_at=created,
                updated_at=job.updated_at,
            )
            job.visits.append(visit)
            data.visits.append(visit)
        if job.visits:
            job.start_at = job.visits[0].start_at
            job.end_at = job.visits[-1].end_at
        if status == "archived":
            last_end = max((v.completed_at for v in job.visits if v.completed_at), default=created)
            job.completed_at = min(last_end + timedelta(hours=2), g.anchor - timedelta(minutes=5))
            job.updated_at = max(job.updated_at, job.completed_at)
        for visit in job.visits:
            visit.updated_at = max(visit.updated_at, visit.completed_at or visit.created_at)
            visit.updated_at = min(visit.updated_at, g.anchor - timedelta(minutes=1))
        client.jobs.append(job)
        prop.jobs.append(job)
        data.jobs.append(job)


def seed_invoices(g: Gen, data: SeedData) -> None:
    """Invoices, preferring finished jobs, every status at least once; paid ones with their payment."""
    cfg, rng = g.cfg, g.rng
    finished = [jb for jb in data.jobs if jb.job_status in ("archived", "requires_invoicing") and jb.pk != 1]
    pool = finished or data.jobs
    pay_pk = 0
    for n in range(max(cfg.invoices, 0)):
        job = pool[n % len(pool)] if n < len(pool) else rng.choice(data.jobs)
        status = (
            INVOICE_STATUSES[n]
            if n < len(INVOICE_STATUSES)
            else rng.choices(INVOICE_STATUSES, cum_weights=INVOICE_CUM)[0]
        )
        base = job.completed_at or job.end_at or job.created_at
        created = min(base + timedelta(hours=rng.randint(1, 72)), g.anchor - timedelta(minutes=30))
        issued = None if status == "draft" else created
        due: datetime | None = None
        if issued is not None:
            due = issued + timedelta(days=30)
            if status == "past_due" and due > g.anchor:
                issued = g.anchor - timedelta(days=rng.randint(35, 90))
                due = issued + timedelta(days=30)
                created = min(created, issued)
            if status == "sent_not_due" and due <= g.anchor:
                issued = g.anchor - timedelta(days=rng.randint(1, 20))
                due = issued + timedelta(days=30)
                created = min(created, issued)
        subtotal = job.total
        inv = Invoice(
            pk=n + 1,
            invoice_number=str(2001 + n),
            invoice_status=status,
            subject=f"For Services Rendered - {job.title}",
            client=job.client,
            property_=job.property_,
            jobs=[job],
            subtotal=subtotal,
            tax_amount=round(subtotal * 0.0825, 2),
            issued_date=issued,
            due_date=due,
            created_at=created,
            updated_at=g.after(created),
        )
        description = f"{job.title} - labour and materials"
        inv.line_items.append(
            _whole_price(data, InvoiceLineItem, n + 1, job.title or "Services", description, subtotal, created)
        )
        if status == "paid":
            pay_pk += 1
            paid_at = g.after(created)
            pay = Payment(
                pk=pay_pk,
                kind=rng.choice(PAYMENT_KINDS),
                invoice=inv,
                amount=inv.total,
                entry_date=paid_at,
                created_at=paid_at,
            )
            inv.payment_records.append(pay)
            inv.received_date = paid_at
            inv.updated_at = max(inv.updated_at, paid_at)
            data.payments.append(pay)
        job.invoices.append(inv)
        if job.client is not None:
            job.client.invoices.append(inv)
        data.invoices.append(inv)


def seed_quotes(g: Gen, data: SeedData, active_clients: list[Client]) -> None:
    """Quotes, every status at least once, some with a note."""
    cfg, rng = g.cfg, g.rng
    note_pk = 0
    for n in range(max(cfg.quotes, 0)):
        client = data.clients[0] if n == 0 else rng.choice(active_clients)
        prop = rng.choice(client.client_properties)
        title, price = rng.choice(JOB_TITLES)
        status = QUOTE_STATUSES[n] if n < len(QUOTE_STATUSES) else rng.choices(QUOTE_STATUSES, cum_weights=QUOTE_CUM)[0]
        created = max(g.past(300, 1), client.created_at)
        sent = None if status == "draft" else g.after(created)
        q = Quote(
            pk=n + 1,
            quote_number=str(301 + n),
            quote_status=status,
            title=title,
            client=client,
            property_=prop,
            subtotal=round(price * rng.uniform(0.9, 1.6), 2),
            sent_at=sent,
            created_at=created,
            updated_at=g.after(sent or created),
            transitioned_at=sent or created,
        )
        q.tax_amount = round(q.subtotal * 0.0825, 2)
        if status in ("approved", "converted"):
            q.approved_at = g.after(sent or created)
            q.updated_at = max(q.updated_at, q.approved_at)
        if status == "converted":
            q.converted_at = q.approved_at
        if status == "changes_requested":
            q.changes_requested_at = g.after(sent or created)
        if rng.random() < 0.3:
            note_pk += 1
            note = QuoteNote(pk=note_pk, quote=q, message="Client asked about financing options.", created_at=created)
            q.notes.append(note)
            data.quote_notes.append(note)
        q.line_items.append(
            _whole_price(data, QuoteLineItem, n + 1, title, f"{title} - estimate", q.subtotal, created, sort_order=0)
        )
        client.quotes.append(q)
        prop.quotes.append(q)
        data.quotes.append(q)


def seed_requests_tasks_expenses(g: Gen, data: SeedData, active_clients: list[Client]) -> None:
    """A handful of each, proportional to the account."""
    cfg, rng = g.cfg, g.rng
    technicians = data.users
    for n in range(max(3, cfg.quotes // 2)):
        client = rng.choice(active_clients)
        created = max(g.past(200), client.created_at)
        req = Request(
            pk=n + 1,
            title=rng.choice(JOB_TITLES)[0],
            client=client,
            property_=client.client_properties[0],
            request_status=REQUEST_STATUSES[n % len(REQUEST_STATUSES)],
            source="ONLINE_BOOKING",
            contact_name=f"{client.first_name} {client.last_name}",
            email=client.email,
            phone=client.phone,
            created_at=created,
            updated_at=g.after(created),
        )
        client.requests.append(req)
        client.client_properties[0].requests.append(req)
        data.requests.append(req)
    for n in range(max(3, cfg.jobs // 20)):
        created = g.past(120)
        start = g.anchor + timedelta(days=rng.randint(-10, 20), hours=rng.randint(13, 22))
        data.tasks.append(
            Task(
                pk=n + 1,
                title=rng.choice(
                    (
                        "Order parts",
                        "Call supplier",
                        "Pick up permit",
                        "Truck maintenance",
                        "Follow up on estimate",
                    )
                ),
                assigned_users=[rng.choice(technicians)],
                start_at=start,
                end_at=start + timedelta(hours=1),
                is_complete=start < g.anchor and rng.random() < 0.7,
                created_at=created,
                updated_at=g.after(created),
            )
        )
    for n in range(max(3, cfg.jobs // 10)):
        job = rng.choice(data.jobs)
        created = max(g.past(200), job.created_at)
        exp = Expense(
            pk=n + 1,
            title=rng.choice(
                (
                    "Copper fittings",
                    "PEX pipe",
                    "Fuel",
                    "Mulch (3 yd)",
                    "Filters",
                    "Dump fee",
                    "Caulk and sealant",
                )
            ),
            date=created,
            total=round(rng.uniform(12, 480), 2),
            linked_job=job,
            entered_by=rng.choice(technicians),
            created_at=created,
            updated_at=g.after(created),
        )
        job.expenses.append(exp)
        data.expenses.append(exp)
