"""Jobber tasks (to-dos on the schedule): Make.com's Get, Create, Update, Delete and Archive a Task.

Named ``work_tasks`` so it is never confused with Prefect tasks or the ``tasks`` package.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from tasks.jobber.actions._inputs import Resource, camel_input, iso, not_available
from tasks.jobber.client import JobberClient
from tasks.jobber.models import Task

TASKS = Resource("tasks", "task", Task)


def _task_input(arguments: dict[str, Any], assigned_to: list[str] | None) -> dict[str, Any]:
    """``TaskCreateInput``/``TaskEditInput`` from a task action's arguments (its ``locals()``)."""
    times = {"start_at": iso(arguments["start_at"]), "end_at": iso(arguments["end_at"])}
    return camel_input(arguments, "title instructions all_day", assigned_to=assigned_to, **times)


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
    instructions: str | None = None,
    start_at: datetime | None = None,
    end_at: datetime | None = None,
    all_day: bool | None = None,
    assigned_user_ids: Sequence[str] = (),
    client_id: str | None = None,
    property_id: str | None = None,
    quote_id: str | None = None,
    request_id: str | None = None,
) -> Task:
    """Create a task, optionally scheduled, assigned, and attached to a client, property, quote or request."""
    task_input = _task_input(locals(), list(assigned_user_ids) or None)
    variables = camel_input(locals(), "client_id property_id quote_id request_id", input=task_input)
    return TASKS.mutate(client, "create", variables, "taskCreate")


def update_task(
    client: JobberClient,
    task_id: str,
    *,
    title: str | None = None,
    instructions: str | None = None,
    start_at: datetime | None = None,
    end_at: datetime | None = None,
    all_day: bool | None = None,
    assigned_user_ids: Sequence[str] | None = None,
) -> Task:
    """Change a task; arguments left None are kept (``assigned_user_ids=[]`` unassigns everyone)."""
    task_input = _task_input(locals(), list(assigned_user_ids) if assigned_user_ids is not None else None)
    return TASKS.mutate(client, "update", {"taskId": task_id, "input": task_input}, "taskEdit")


def delete_task(client: JobberClient, task_id: str, *, delete_future_recurring: bool = False) -> str:
    """Delete a task (and, for a recurring one, its future instances if asked); returns its id."""
    variables = {"taskIds": [task_id], "deleteFutureRecurring": delete_future_recurring}
    TASKS.send(client, "delete", variables, "taskDelete")
    return task_id


def archive_task(client: JobberClient, task_id: str) -> Task:
    """Not offered by Jobber's API: always raises ``NotAvailableInJobberAPI`` saying what to do instead."""
    not_available("Archive a task", ARCHIVE_TASK_INSTEAD)
