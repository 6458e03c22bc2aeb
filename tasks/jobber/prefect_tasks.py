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

from tasks.jobber import actions
from tasks.jobber.actions import ACTIONS
from tasks.jobber.client import JobberClient
from tasks.retry import transient_retries

P = ParamSpec("P")
R = TypeVar("R")


def jobber_task(
    action: Callable[Concatenate[JobberClient, P], R], *, name: str, run_name: str, mutation: bool
) -> Task[P, R]:
    """Turn ``action(client, ...)`` into a Prefect task taking the same arguments minus the client.

    ``run_name`` is a ``task_run_name`` template over the action's parameters (``"close job {job_id}"``):
    its named ones only, since Prefect binds the keyword options (``**changes: Unpack[...]``) as one dict.
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
        **({"retries": 0} if mutation else transient_retries(5, 30)),  # a mutation: not even a retry condition
        cache_policy=NO_CACHE,
        tags=["jobber"],
    )(run)


def _task(action: Callable[Concatenate[JobberClient, P], R], run_name: str) -> Task[P, R]:
    """``jobber_task`` for an action of ``ACTIONS``: named after its entry there; reads (``*.get``,
    ``*.search``) retry, everything else is a mutation."""
    name = next(key for key, value in ACTIONS.items() if value is action)
    return jobber_task(action, name=name, run_name=run_name, mutation=name.split(".")[1] not in ("get", "search"))


# -- jobs
search_jobs = _task(actions.jobs.search_jobs, "search jobs")
get_job = _task(actions.jobs.get_job, "get job {job_id}")
create_job = _task(actions.jobs.create_job, "create job on property {property_id}")
update_job = _task(actions.jobs.update_job, "update job {job_id}")
close_job = _task(actions.jobs.close_job, "close job {job_id}")
reopen_job = _task(actions.jobs.reopen_job, "reopen job {job_id}")
# -- visits
get_visit = _task(actions.visits.get_visit, "get visit {visit_id}")
create_visit = _task(actions.visits.create_visit, "create visit on job {job_id}")
update_visit = _task(actions.visits.update_visit, "update visit {visit_id}")
delete_visit = _task(actions.visits.delete_visit, "delete visit {visit_id}")
complete_visit = _task(actions.visits.complete_visit, "complete visit {visit_id}")
uncomplete_visit = _task(actions.visits.uncomplete_visit, "mark visit {visit_id} incomplete")
add_visit_line_item = _task(actions.visits.add_visit_line_item, "add line item {name} to visit {visit_id}")
# -- clients
search_clients = _task(actions.clients.search_clients, "search clients")
get_client = _task(actions.clients.get_client, "get client {client_id}")
create_client = _task(actions.clients.create_client, "create client {first_name} {last_name}")
update_client = _task(actions.clients.update_client, "update client {client_id}")
archive_client = _task(actions.clients.archive_client, "archive client {client_id}")
# -- invoices
search_invoices = _task(actions.invoices.search_invoices, "search invoices")
get_invoice = _task(actions.invoices.get_invoice, "get invoice {invoice_id}")
update_invoice = _task(actions.invoices.update_invoice, "update invoice {invoice_id}")
# -- quotes
search_quotes = _task(actions.quotes.search_quotes, "search quotes")
get_quote = _task(actions.quotes.get_quote, "get quote {quote_id}")
create_quote = _task(actions.quotes.create_quote, "create quote for client {client_id}")
update_quote = _task(actions.quotes.update_quote, "update quote {quote_id}")
close_quote = _task(actions.quotes.close_quote, "close quote {quote_id} (not in Jobber's API)")
create_quote_note = _task(actions.quotes.create_quote_note, "add note to quote {quote_id}")
update_quote_note = _task(actions.quotes.update_quote_note, "update quote note {note_id}")
# -- properties
search_properties = _task(actions.properties.search_properties, "search properties")
get_property = _task(actions.properties.get_property, "get property {property_id}")
create_property = _task(actions.properties.create_property, "create property for client {client_id}")
update_property = _task(actions.properties.update_property, "update property {property_id}")
# -- tasks (Jobber's to-dos)
get_task = _task(actions.work_tasks.get_task, "get task {task_id}")
create_task = _task(actions.work_tasks.create_task, "create task {title}")
update_task = _task(actions.work_tasks.update_task, "update task {task_id}")
delete_task = _task(actions.work_tasks.delete_task, "delete task {task_id}")
archive_task = _task(actions.work_tasks.archive_task, "archive task {task_id} (not in Jobber's API)")
# -- users
search_users = _task(actions.users.search_users, "search users")
create_user = _task(actions.users.create_user, "create user {first_name} {last_name} (not in Jobber's API)")
# -- expenses
get_expense = _task(actions.expenses.get_expense, "get expense {expense_id}")
create_expense = _task(actions.expenses.create_expense, "create expense {title}")
update_expense = _task(actions.expenses.update_expense, "update expense {expense_id}")
delete_expense = _task(actions.expenses.delete_expense, "delete expense {expense_id}")
# -- requests
get_request = _task(actions.requests.get_request, "get request {request_id}")
create_request = _task(actions.requests.create_request, "create request for client {client_id}")
archive_request = _task(actions.requests.archive_request, "archive request {request_id}")
# -- raw: may be a mutation, so never retried at the task level
make_api_call = _task(actions.raw.make_api_call, "Jobber API call")

TASKS: dict[str, Task[..., Any]] = {
    t.name.removeprefix("jobber."): t for t in list(globals().values()) if isinstance(t, Task)
}
"""Action name (as in ``tasks.jobber.actions.ACTIONS``) -> its Prefect task."""
