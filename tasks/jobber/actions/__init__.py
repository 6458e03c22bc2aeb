"""Every action of Make.com's Jobber app as a plain typed function: ``action(client, ..., **options)``.

One module per Jobber resource. ``ACTIONS`` maps a stable name (``"jobs.close"``) to its function,
including the actions Jobber's API does not offer (they raise ``NotAvailableInJobberAPI`` with what to do
instead; their names are in ``NOT_AVAILABLE``). ``docs/jobber-actions.md`` has the full table.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tasks.jobber.actions import (
    clients,
    expenses,
    invoices,
    jobs,
    properties,
    quotes,
    raw,
    requests,
    users,
    visits,
    work_tasks,
)

ACTIONS: dict[str, Callable[..., Any]] = {
    "jobs.search": jobs.search_jobs,
    "jobs.get": jobs.get_job,
    "jobs.create": jobs.create_job,
    "jobs.update": jobs.update_job,
    "jobs.close": jobs.close_job,
    "jobs.reopen": jobs.reopen_job,
    "visits.get": visits.get_visit,
    "visits.create": visits.create_visit,
    "visits.update": visits.update_visit,
    "visits.delete": visits.delete_visit,
    "visits.complete": visits.complete_visit,
    "visits.uncomplete": visits.uncomplete_visit,
    "visits.add_line_item": visits.add_visit_line_item,
    "clients.search": clients.search_clients,
    "clients.get": clients.get_client,
    "clients.create": clients.create_client,
    "clients.update": clients.update_client,
    "clients.archive": clients.archive_client,
    "invoices.search": invoices.search_invoices,
    "invoices.get": invoices.get_invoice,
    "invoices.update": invoices.update_invoice,
    "quotes.search": quotes.search_quotes,
    "quotes.get": quotes.get_quote,
    "quotes.create": quotes.create_quote,
    "quotes.update": quotes.update_quote,
    "quotes.close": quotes.close_quote,
    "quotes.create_note": quotes.create_quote_note,
    "quotes.update_note": quotes.update_quote_note,
    "properties.search": properties.search_properties,
    "properties.get": properties.get_property,
    "properties.create": properties.create_property,
    "properties.update": properties.update_property,
    "tasks.get": work_tasks.get_task,
    "tasks.create": work_tasks.create_task,
    "tasks.update": work_tasks.update_task,
    "tasks.delete": work_tasks.delete_task,
    "tasks.archive": work_tasks.archive_task,
    "users.search": users.search_users,
    "users.create": users.create_user,
    "expenses.get": expenses.get_expense,
    "expenses.create": expenses.create_expense,
    "expenses.update": expenses.update_expense,
    "expenses.delete": expenses.delete_expense,
    "requests.get": requests.get_request,
    "requests.create": requests.create_request,
    "requests.archive": requests.archive_request,
    "raw.call": raw.make_api_call,
}
"""Action name -> function. The functions take a ``JobberClient`` first."""

NOT_AVAILABLE: frozenset[str] = frozenset({"quotes.close", "tasks.archive", "users.create"})
"""Make.com actions Jobber's GraphQL API cannot do; calling them raises ``NotAvailableInJobberAPI``."""

__all__ = [
    "ACTIONS",
    "NOT_AVAILABLE",
    "clients",
    "expenses",
    "invoices",
    "jobs",
    "properties",
    "quotes",
    "raw",
    "requests",
    "users",
    "visits",
    "work_tasks",
]
