"""The `/jobber` slash command: parse Slack's form body, query the synced database, answer in Block Kit.

`/jobber clients [search]`, `/jobber jobs [search | #number | status]`, `/jobber invoices [status]`,
`/jobber help` (an unknown subcommand gets the help too). Answers are ephemeral (only the person who asked
sees them), list at most ten rows, newest first, and come from the synced copy of Jobber so they arrive well
within Slack's three seconds. The text is user input: it only ever reaches SQL as a bound parameter (LIKE
wildcards escaped) and every name is escaped for mrkdwn.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs

from sqlalchemy import ColumnElement, Engine, func, or_, select
from sqlalchemy.orm import Session

from tasks.slack.mrkdwn import escape, humanize, money, slack_date, truncate
from tasks.store.db import unit_of_work
from tasks.store.models import Client, Invoice, Job

LIMIT = 10
MAX_SEARCH = 100
_RESPONSE_URL = re.compile(r"^https://hooks\.slack\.com/(commands|actions)/[A-Za-z0-9_\-/]{1,300}$")

ACTIVE_JOB_STATUSES = (
    "active",
    "late",
    "today",
    "upcoming",
    "action_required",
    "on_hold",
    "unscheduled",
    "requires_invoicing",
    "expiring_within_30_days",
)
JOB_STATUS_FILTERS: dict[str, tuple[str, ...]] = {
    "active": ACTIVE_JOB_STATUSES,
    "open": ACTIVE_JOB_STATUSES,
    "closed": ("archived",),
    "completed": ("archived",),
    "archived": ("archived",),
    **{status: (status,) for status in ACTIVE_JOB_STATUSES if status != "active"},
}
UNPAID_INVOICE_STATUSES = ("awaiting_payment", "sent_not_due", "past_due")
INVOICE_STATUS_FILTERS: dict[str, tuple[str, ...]] = {
    **{status: (status,) for status in ("draft", *UNPAID_INVOICE_STATUSES, "paid", "bad_debt")},
    "overdue": ("past_due",),
    "unpaid": UNPAID_INVOICE_STATUSES,
    "outstanding": UNPAID_INVOICE_STATUSES,
}


@dataclass(frozen=True)
class SlashCommand:
    command: str
    text: str
    user_id: str = ""
    team_id: str = ""
    channel_id: str = ""
    response_url: str | None = None
    ssl_check: bool = False

    @property
    def subcommand(self) -> str:
        parts = self.text.split(maxsplit=1)
        return parts[0].lower() if parts else ""

    @property
    def argument(self) -> str:
        parts = self.text.split(maxsplit=1)
        return truncate(parts[1].strip(), MAX_SEARCH) if len(parts) > 1 else ""


def parse_slash_command(body: bytes) -> SlashCommand:
    """Slack's `application/x-www-form-urlencoded` body (only call this after the signature checked out)."""
    fields = parse_qs(body.decode("utf-8", errors="replace"), keep_blank_values=True, max_num_fields=100)

    def one(name: str) -> str:
        values = fields.get(name)
        return values[0] if values else ""

    return SlashCommand(
        command=one("command") or "/jobber",
        text=" ".join(one("text").split()),
        user_id=one("user_id"),
        team_id=one("team_id"),
        channel_id=one("channel_id"),
        response_url=one("response_url") or None,
        ssl_check=one("ssl_check") == "1",
    )


def is_slack_response_url(url: str) -> bool:
    """Only https://hooks.slack.com/commands/… (or /actions/…): no other host, port, user, query or fragment."""
    return bool(_RESPONSE_URL.fullmatch(url))


def _normalize(word: str) -> str:
    return re.sub(r"[\s\-]+", "_", word.strip().lower())


def _contains(column: Any, term: str) -> ColumnElement[bool]:
    """Case-insensitive substring match; `%` and `_` in the term are matched literally."""
    return func.lower(column).contains(term.lower(), autoescape=True)


# -- queries: keyword-only, take the session, return small frozen rows ------------------------------------


@dataclass(frozen=True)
class ClientRow:
    name: str
    company: str | None
    email: str | None
    phone: str | None
    created_at: datetime | None
    archived: bool


@dataclass(frozen=True)
class JobRow:
    number: int | None
    title: str
    status: str | None
    client_name: str | None
    total: float | None
    completed_at: datetime | None


@dataclass(frozen=True)
class InvoiceRow:
    number: str | None
    subject: str | None
    status: str | None
    client_name: str | None
    total: float | None
    balance: float | None
    due_at: datetime | None


def find_clients(session: Session, *, search: str = "", limit: int = LIMIT) -> tuple[list[ClientRow], int]:
    """Newest clients first, or those whose name, company, email or phone contains `search`."""
    where: list[ColumnElement[bool]] = []
    if search:
        where.append(
            or_(
                _contains(Client.name, search),
                _contains(Client.company_name, search),
                _contains(Client.primary_email, search),
                _contains(Client.primary_phone, search),
            )
        )
    total = session.execute(select(func.count()).select_from(Client).where(*where)).scalar_one()
    rows = session.execute(
        select(Client)
        .where(*where)
        .order_by(Client.jobber_created_at.desc().nulls_last(), Client.id.desc())
        .limit(limit)
    ).scalars()
    return [
        ClientRow(
            name=c.name or c.company_name or "(no name)",
            company=c.company_name if c.company_name and c.company_name != c.name else None,
            email=c.primary_email,
            phone=c.primary_phone,
            created_at=c.jobber_created_at,
            archived=bool(c.is_archived),
        )
        for c in rows
    ], int(total)


def find_jobs(
    session: Session,
    *,
    search: str = "",
    statuses: Sequence[str] | None = None,
    job_number: int | None = None,
    limit: int = LIMIT,
) -> tuple[list[JobRow], int]:
    """Newest jobs first, filtered by status, job number, or a title / client name containing `search`."""
    where: list[ColumnElement[bool]] = []
    if statuses:
        where.append(Job.job_status.in_(list(statuses)))
    if job_number is not None:
        where.append(Job.job_number == job_number)
    if search:
        where.append(or_(_contains(Job.title, search), _contains(Client.name, search)))
    joined = select(Job, Client.name).outerjoin(Client, Client.id == Job.client_id).where(*where)
    total = session.execute(select(func.count()).select_from(joined.subquery())).scalar_one()
    rows = session.execute(
        joined.order_by(Job.jobber_created_at.desc().nulls_last(), Job.job_number.desc().nulls_last()).limit(limit)
    ).all()
    return [
        JobRow(j.job_number, j.title or "(untitled job)", j.job_status, name, j.total, j.completed_at)
        for j, name in rows
    ], int(total)


def find_invoices(
    session: Session, *, statuses: Sequence[str] | None = None, limit: int = LIMIT
) -> tuple[list[InvoiceRow], int]:
    """Newest invoices first, optionally only those in `statuses`."""
    where: list[ColumnElement[bool]] = []
    if statuses:
        where.append(Invoice.invoice_status.in_(list(statuses)))
    joined = select(Invoice, Client.name).outerjoin(Client, Client.id == Invoice.client_id).where(*where)
    total = session.execute(select(func.count()).select_from(joined.subquery())).scalar_one()
    rows = session.execute(
        joined.order_by(Invoice.jobber_created_at.desc().nulls_last(), Invoice.id.desc()).limit(limit)
    ).all()
    return [
        InvoiceRow(i.invoice_number, i.subject, i.invoice_status, name, i.total, i.balance, i.due_date)
        for i, name in rows
    ], int(total)


# -- Block Kit answers (pure) ------------------------------------------------------------------------------


def ephemeral(text: str, blocks: Sequence[dict[str, Any]] = ()) -> dict[str, Any]:
    """An answer only the person who asked sees (Slack refuses an empty `blocks`, so it is left out)."""
    answer: dict[str, Any] = {"response_type": "ephemeral", "text": text}
    if blocks:
        answer["blocks"] = list(blocks)
    return answer


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": truncate(text, 3000)}}


def _context(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": truncate(text, 3000)}]}


def _line(head: str, *details: str | None) -> str:
    """A listing's line: the head, then under it the details there are, joined with middle dots."""
    detail = " · ".join(d for d in details if d)
    return head + (f"\n{detail}" if detail else "")


def _for_client(name: str | None) -> str:
    return f" for {escape(truncate(name, 100))}" if name else ""


def help_answer(command: str, *, note: str | None = None) -> dict[str, Any]:
    cmd = escape(command or "/jobber")
    lines = [
        f"`{cmd} clients [search]` newest clients, or those whose name, company, email or phone matches",
        f"`{cmd} jobs [search | #number | status]` newest jobs; status: active, late, today, upcoming, "
        "requires_invoicing, action_required, on_hold, unscheduled, closed",
        f"`{cmd} invoices [status]` newest invoices; status: draft, awaiting_payment, sent_not_due, "
        "past_due (overdue), paid, bad_debt, unpaid",
        f"`{cmd} help` this help",
    ]
    blocks = [_section(escape(note))] if note else []
    blocks += [
        _section("*Jobber in Slack*\n" + "\n".join(lines)),
        _context("Answers come from the synced copy of Jobber."),
    ]
    usage = f"Usage: {cmd} clients|jobs|invoices|help"
    return ephemeral(f"{escape(note)} {usage}" if note else usage, blocks)


def _listing(title: str, lines: list[str], total: int, empty: str) -> dict[str, Any]:
    if not lines:
        return ephemeral(escape(empty), [_section(escape(empty))])
    shown = f"Showing the {len(lines)} newest of {total}" if total > len(lines) else f"{total} found"
    blocks = [_section(f"*{title}*"), {"type": "divider"}, *(_section(line) for line in lines), _context(shown)]
    return ephemeral(f"{title}: {shown.lower()}", blocks)


def client_line(row: ClientRow) -> str:
    return _line(
        f"*{escape(truncate(row.name, 100))}*" + (" (archived)" if row.archived else ""),
        escape(truncate(row.company, 100)) if row.company else None,
        escape(row.email) if row.email else None,
        escape(row.phone) if row.phone else None,
        f"added {slack_date(row.created_at)}" if row.created_at else None,
    )


def job_line(row: JobRow) -> str:
    number = f"#{row.number} " if row.number is not None else ""
    return _line(
        f"*{escape(number + truncate(row.title, 100))}*" + _for_client(row.client_name),
        humanize(row.status) or None,
        money(row.total) or None,
        f"completed {slack_date(row.completed_at)}" if row.completed_at else None,
    )


def invoice_line(row: InvoiceRow) -> str:
    return _line(
        f"*Invoice #{escape(row.number or '?')}*" + _for_client(row.client_name),
        humanize(row.status) or None,
        money(row.total) or None,
        f"balance {money(row.balance)}" if row.balance else None,
        f"due {slack_date(row.due_at)}" if row.due_at and row.status != "paid" else None,
        escape(truncate(row.subject, 100)) if row.subject else None,
    )


def answer_command(session: Session, command: SlashCommand) -> dict[str, Any]:
    """The ephemeral Block Kit answer to one slash command, from the synced tables."""
    sub, arg = command.subcommand, command.argument
    if sub in ("clients", "client", "customers"):
        clients, total = find_clients(session, search=arg)
        title = f"Clients matching “{escape(arg)}”" if arg else "Newest clients"
        empty = f"No clients match “{arg}”." if arg else "No clients synced yet."
        return _listing(title, [client_line(c) for c in clients], total, empty)
    if sub in ("jobs", "job"):
        statuses = JOB_STATUS_FILTERS.get(_normalize(arg)) if arg else None
        number = re.fullmatch(r"#?(\d{1,9})", arg) if arg and statuses is None else None
        search = "" if statuses or number else arg
        jobs, total = find_jobs(
            session, statuses=statuses, job_number=int(number.group(1)) if number else None, search=search
        )
        title = (
            f"Jobs: {escape(humanize(_normalize(arg)))}"
            if statuses
            else (f"Jobs matching “{escape(arg)}”" if arg else "Newest jobs")
        )
        empty = f"No jobs match “{arg}”." if arg else "No jobs synced yet."
        return _listing(title, [job_line(j) for j in jobs], total, empty)
    if sub in ("invoices", "invoice"):
        statuses = INVOICE_STATUS_FILTERS.get(_normalize(arg)) if arg else None
        if arg and statuses is None and _normalize(arg) != "all":
            return help_answer(command.command, note=f"Unknown invoice status “{arg}”.")
        invoices, total = find_invoices(session, statuses=statuses)
        title = f"Invoices: {escape(humanize(_normalize(arg)))}" if statuses else "Newest invoices"
        empty = f"No {humanize(_normalize(arg))} invoices." if arg else "No invoices synced yet."
        return _listing(title, [invoice_line(i) for i in invoices], total, empty)
    if sub in ("", "help", "?"):
        return help_answer(command.command)
    return help_answer(command.command, note=f"Unknown command “{truncate(sub, 30)}”.")


def answer_from_database(engine: Engine, command: SlashCommand) -> dict[str, Any]:
    """`answer_command` in its own read-only unit of work (the gateway runs this in a worker thread)."""
    with unit_of_work(engine) as session:
        return answer_command(session, command)


def deferred_answer(answer: dict[str, Any]) -> dict[str, Any]:
    """An answer sent later through `response_url`: it replaces the "looking…" placeholder."""
    return {**answer, "replace_original": True}
