"""One Prefect task per Jobber action (``tasks.jobber.actions``), for flows to call.

Each task is the action with its first argument, the client, filled in from
``tasks.jobber.factory.get_jobber_client()``: ``close_job("<job id>")`` in a flow runs as a task named
"close job <job id>". Parameters, defaults and return types are the action's.

Retries: reads retry twice, and only on transient failures (`tasks.retry.retry_transient`: network, 5xx,
throttling that outlasted the client's own retries). Mutations never retry at the task level: repeating a
mutation Jobber may already have applied could duplicate it, and the client already retries the cases where
Jobber cannot have run it.
Nothing is cached: every run asks Jobber for the current state.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, Concatenate, ParamSpec, TypeVar

from prefect import Task, task
from prefect.cache_policies import NO_CACHE

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
from tasks.jobber.client import JobberClient
from tasks.retry import transient_retries

P = ParamSpec("P")
R = TypeVar("R")


def jobber_task(
    action: Callable[Concatenate[JobberClient, P], R], *, name: str, run_name: str, mutation: bool
) -> Task[P, R]:
    """Turn ``action(client, ...)`` into a Prefect task taking the same arguments minus the client.

    ``run_name`` is a ``task_run_name`` template over the action's parameters (``"close job {job_id}"``).
    """

    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        from tasks.jobber.factory import get_jobber_client  # lazy: importing this module builds nothing

        return action(get_jobber_client(), *args, **kwargs)

    # Prefect binds call arguments (and renders run_name) from the signature: show it the action's
    # parameters without the client.
    signature = inspect.signature(action)
    run.__signature__ = signature.replace(parameters=list(signature.parameters.values())[1:])  # type: ignore[attr-defined]
    run.__name__ = run.__qualname__ = action.__name__
    run.__doc__ = action.__doc__
    return task(
        name=f"jobber.{name}",
        task_run_name=run_name,
        **transient_retries(*(() if mutation else (5, 30))),
        cache_policy=NO_CACHE,
        tags=["jobber"],
    )(run)


# -- jobs
search_jobs = jobber_task(jobs.search_jobs, name="jobs.search", run_name="search jobs", mutation=False)
get_job = jobber_task(jobs.get_job, name="jobs.get", run_name="get job {job_id}", mutation=False)
create_job = jobber_task(
    jobs.create_job, name="jobs.create", run_name="create job on property {property_id}", mutation=True
)
update_job = jobber_task(jobs.update_job, name="jobs.update", run_name="update job {job_id}", mutation=True)
close_job = jobber_task(jobs.close_job, name="jobs.close", run_name="close job {job_id}", mutation=True)
reopen_job = jobber_task(jobs.reopen_job, name="jobs.reopen", run_name="reopen job {job_id}", mutation=True)
# -- visits
get_visit = jobber_task(visits.get_visit, name="visits.get", run_name="get visit {visit_id}", mutation=False)
create_visit = jobber_task(
    visits.create_visit, name="visits.create", run_name="create visit on job {job_id}", mutation=True
)
update_visit = jobber_task(visits.update_visit, name="visits.update", run_name="update visit {visit_id}", mutation=True)
delete_visit = jobber_task(visits.delete_visit, name="visits.delete", run_name="delete visit {visit_id}", mutation=True)
complete_visit = jobber_task(
    visits.complete_visit, name="visits.complete", run_name="complete visit {visit_id}", mutation=True
)
uncomplete_visit = jobber_task(
    visits.uncomplete_visit, name="visits.uncomplete", run_name="mark visit {visit_id} incomplete", mutation=True
)
add_visit_line_item = jobber_task(
    visits.add_visit_line_item,
    name="visits.add_line_item",
    run_name="add line item {name} to visit {visit_id}",
    mutation=True,
)
# -- clients
search_clients = jobber_task(clients.search_clients, name="clients.search", run_name="search clients", mutation=False)
get_client = jobber_task(clients.get_client, name="clients.get", run_name="get client {client_id}", mutation=False)
create_client = jobber_task(
    clients.create_client, name="clients.create", run_name="create client {first_name} {last_name}", mutation=True
)
update_client = jobber_task(
    clients.update_client, name="clients.update", run_name="update client {client_id}", mutation=True
)
archive_client = jobber_task(
    clients.archive_client, name="clients.archive", run_name="archive client {client_id}", mutation=True
)
# -- invoices
search_invoices = jobber_task(
    invoices.search_invoices, name="invoices.search", run_name="search invoices", mutation=False
)
get_invoice = jobber_task(
    invoices.get_invoice, name="invoices.get", run_name="get invoice {invoice_id}", mutation=False
)
update_invoice = jobber_task(
    invoices.update_invoice, name="invoices.update", run_name="update invoice {invoice_id}", mutation=True
)
# -- quotes
search_quotes = jobber_task(quotes.search_quotes, name="quotes.search", run_name="search quotes", mutation=False)
get_quote = jobber_task(quotes.get_quote, name="quotes.get", run_name="get quote {quote_id}", mutation=False)
create_quote = jobber_task(
    quotes.create_quote, name="quotes.create", run_name="create quote for client {client_id}", mutation=True
)
update_quote = jobber_task(quotes.update_quote, name="quotes.update", run_name="update quote {quote_id}", mutation=True)
close_quote = jobber_task(
    quotes.close_quote, name="quotes.close", run_name="close quote {quote_id} (not in Jobber's API)", mutation=True
)
create_quote_note = jobber_task(
    quotes.create_quote_note, name="quotes.create_note", run_name="add note to quote {quote_id}", mutation=True
)
update_quote_note = jobber_task(
    quotes.update_quote_note, name="quotes.update_note", run_name="update quote note {note_id}", mutation=True
)
# -- properties
search_properties = jobber_task(
    properties.search_properties, name="properties.search", run_name="search properties", mutation=False
)
get_property = jobber_task(
    properties.get_property, name="properties.get", run_name="get property {property_id}", mutation=False
)
create_property = jobber_task(
    properties.create_property,
    name="properties.create",
    run_name="create property for client {client_id}",
    mutation=True,
)
update_property = jobber_task(
    properties.update_property, name="properties.update", run_name="update property {property_id}", mutation=True
)
# -- tasks (Jobber's to-dos)
get_task = jobber_task(work_tasks.get_task, name="tasks.get", run_name="get task {task_id}", mutation=False)
create_task = jobber_task(work_tasks.create_task, name="tasks.create", run_name="create task {title}", mutation=True)
update_task = jobber_task(work_tasks.update_task, name="tasks.update", run_name="update task {task_id}", mutation=True)
delete_task = jobber_task(work_tasks.delete_task, name="tasks.delete", run_name="delete task {task_id}", mutation=True)
archive_task = jobber_task(
    work_tasks.archive_task,
    name="tasks.archive",
    run_name="archive task {task_id} (not in Jobber's API)",
    mutation=True,
)
# -- users
search_users = jobber_task(users.search_users, name="users.search", run_name="search users", mutation=False)
create_user = jobber_task(
    users.create_user,
    name="users.create",
    run_name="create user {first_name} {last_name} (not in Jobber's API)",
    mutation=True,
)
# -- expenses
get_expense = jobber_task(
    expenses.get_expense, name="expenses.get", run_name="get expense {expense_id}", mutation=False
)
create_expense = jobber_task(
    expenses.create_expense, name="expenses.create", run_name="create expense {title}", mutation=True
)
update_expense = jobber_task(
    expenses.update_expense, name="expenses.update", run_name="update expense {expense_id}", mutation=True
)
delete_expense = jobber_task(
    expenses.delete_expense, name="expenses.delete", run_name="delete expense {expense_id}", mutation=True
)
# -- requests
get_request = jobber_task(
    requests.get_request, name="requests.get", run_name="get request {request_id}", mutation=False
)
create_request = jobber_task(
    requests.create_request, name="requests.create", run_name="create request for client {client_id}", mutation=True
)
archive_request = jobber_task(
    requests.archive_request, name="requests.archive", run_name="archive request {request_id}", mutation=True
)
# -- raw: may be a mutation, so never retried at the task level
make_api_call = jobber_task(raw.make_api_call, name="raw.call", run_name="Jobber API call", mutation=True)

TASKS: dict[str, Task[..., Any]] = {
    t.name.removeprefix("jobber."): t for t in list(globals().values()) if isinstance(t, Task)
}
"""Action name (as in ``tasks.jobber.actions.ACTIONS``) -> its Prefect task."""
