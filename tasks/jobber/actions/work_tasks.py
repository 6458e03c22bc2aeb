"""Jobber tasks (to-dos on the schedule): Make.com's Get, Create, Update, Delete and Archive a Task.

Named ``work_tasks`` so it is never confused with Prefect tasks or the ``tasks`` package.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from tasks.jobber.actions._inputs import compact, iso, not_available, require
from tasks.jobber.client import JobberClient
from tasks.jobber.documents import load_document
from tasks.jobber.models import Task

ARCHIVE_TASK_INSTEAD = (
    "There is no taskArchive mutation (Jobber tasks cannot be archived). Delete the task with "
    "work_tasks.delete_task, or mark it complete in Jobber's app."
)


def get_task(client: JobberClient, task_id: str) -> Task | None:
    """One task, or None when Jobber answers null."""
    node = client.execute(load_document("tasks/get"), {"id": task_id}).get("task")
    return None if node is None else Task.model_validate(node)


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
    task_input = compact(
        {
            "title": title,
            "instructions": instructions,
            "startAt": iso(start_at),
            "endAt": iso(end_at),
            "allDay": all_day,
            "assignedTo": list(assigned_user_ids) or None,
        }
    )
    variables = compact(
        {
            "input": task_input,
            "clientId": client_id,
            "propertyId": property_id,
            "quoteId": quote_id,
            "requestId": request_id,
        }
    )
    payload = client.mutate(load_document("tasks/create"), variables, payload="taskCreate")
    return Task.model_validate(require(payload, "task", "taskCreate"))


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
    task_input = compact(
        {
            "title": title,
            "instructions": instructions,
            "startAt": iso(start_at),
            "endAt": iso(end_at),
            "allDay": all_day,
            "assignedTo": list(assigned_user_ids) if assigned_user_ids is not None else None,
        }
    )
    payload = client.mutate(load_document("tasks/update"), {"taskId": task_id, "input": task_input}, payload="taskEdit")
    return Task.model_validate(require(payload, "task", "taskEdit"))


def delete_task(client: JobberClient, task_id: str, *, delete_future_recurring: bool = False) -> str:
    """Delete a task (and, for a recurring one, its future instances if asked); returns its id."""
    client.mutate(
        load_document("tasks/delete"),
        {"taskIds": [task_id], "deleteFutureRecurring": delete_future_recurring},
        payload="taskDelete",
    )
    return task_id


def archive_task(client: JobberClient, task_id: str) -> Task:
    """Not offered by Jobber's API: always raises ``NotAvailableInJobberAPI`` saying what to do instead."""
    not_available("Archive a task", ARCHIVE_TASK_INSTEAD)
