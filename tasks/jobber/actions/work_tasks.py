"""Jobber tasks (to-dos on the schedule): Make.com's Get, Create, Update, Delete and Archive a Task.

Named ``work_tasks`` so it is never confused with Prefect tasks or the ``tasks`` package.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Unpack

from tasks.jobber.actions._inputs import Resource, compact, fields_input, iso, not_available
from tasks.jobber.actions.fields import TaskCreateInput, TaskEditInput
from tasks.jobber.client import JobberClient
from tasks.jobber.models import Task

TASKS = Resource("tasks", "task", Task)


def _task_input(declared: type[TaskCreateInput], given: TaskCreateInput, **values: Any) -> dict[str, Any]:
    """``TaskCreateInput``/``TaskEditInput`` from a task action's options, its times as ISO 8601."""
    times = {"start_at": iso(given.get("start_at")), "end_at": iso(given.get("end_at"))}
    return fields_input(declared, given, **times, **values)


ARCHIVE_TASK_INSTEAD = (
    "There is no taskArchive mutation (Jobber tasks cannot be archived). Delete the task with "
    "work_tasks.delete_task, or mark it complete in Jobber's app."
)


def get_task(client: JobberClient, task_id: str) -> Task | None:
    """One task, or None when Jobber answers null."""
    return TASKS.get(client, task_id)


def create_task(
    client: JobberClient,
    *,
    title: str,
    assigned_user_ids: Sequence[str] = (),
    client_id: str | None = None,
    property_id: str | None = None,
    quote_id: str | None = None,
    request_id: str | None = None,
    **details: Unpack[TaskCreateInput],
) -> Task:
    """Create a task, optionally scheduled, assigned, and attached to a client, property, quote or request."""
    task_input = _task_input(TaskCreateInput, details, title=title, assigned_to=list(assigned_user_ids) or None)
    attached_to = {"clientId": client_id, "propertyId": property_id, "quoteId": quote_id, "requestId": request_id}
    return TASKS.mutate(client, "create", compact({**attached_to, "input": task_input}), "taskCreate")


def update_task(
    client: JobberClient,
    task_id: str,
    *,
    assigned_user_ids: Sequence[str] | None = None,
    **changes: Unpack[TaskEditInput],
) -> Task:
    """Change a task; arguments left None are kept (``assigned_user_ids=[]`` unassigns everyone)."""
    assigned_to = list(assigned_user_ids) if assigned_user_ids is not None else None
    task_input = _task_input(TaskEditInput, changes, assigned_to=assigned_to)
    return TASKS.mutate(client, "update", {"taskId": task_id, "input": task_input}, "taskEdit")


def delete_task(client: JobberClient, task_id: str, *, delete_future_recurring: bool = False) -> str:
    """Delete a task (and, for a recurring one, its future instances if asked); returns its id."""
    variables = {"taskIds": [task_id], "deleteFutureRecurring": delete_future_recurring}
    TASKS.send(client, "delete", variables, "taskDelete")
    return task_id


def archive_task(client: JobberClient, task_id: str) -> Task:
    """Not offered by Jobber's API: always raises ``NotAvailableInJobberAPI`` saying what to do instead."""
    not_available("Archive a task", ARCHIVE_TASK_INSTEAD)
