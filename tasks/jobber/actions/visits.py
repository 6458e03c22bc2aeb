"""Visits: Make.com's Create, Update, Delete, Complete, Mark Incomplete and Add a Line Item to a Visit."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Unpack
from zoneinfo import ZoneInfo

from tasks.jobber.actions._inputs import Resource, compact, fields_input, iso, model_input
from tasks.jobber.actions.fields import VisitCreateAttributes, VisitEditAttributes
from tasks.jobber.client import JobberClient
from tasks.jobber.models import LineItemInput, Visit

VISITS = Resource("visits", "visit", Visit)


def _local_datetime(moment: datetime, timezone: str | None) -> dict[str, Any]:
    """Jobber's ``LocalDateTimeAttributes``: a wall-clock date and time in a named time zone."""
    zone = timezone or getattr(moment.tzinfo, "key", None)
    if zone is None:
        raise ValueError("pass timezone= (an IANA name such as 'America/Chicago') or a datetime with a ZoneInfo")
    if moment.tzinfo is not None:
        moment = moment.astimezone(ZoneInfo(zone))
    return {
        "date": moment.date().isoformat(),
        "time": moment.time().replace(microsecond=0).isoformat(),
        "timezone": zone,
    }


def get_visit(client: JobberClient, visit_id: str) -> Visit | None:
    """The visit with its technicians, job, client and property, or None when Jobber answers null."""
    return VISITS.get(client, visit_id)


def create_visit(
    client: JobberClient,
    job_id: str,
    *,
    start_at: datetime | None = None,
    end_at: datetime | None = None,
    timezone: str | None = None,
    assigned_user_ids: Sequence[str] = (),
    notify_team: bool = False,
    **details: Unpack[VisitCreateAttributes],
) -> Visit:
    """Add a visit to a job. Times are sent as wall-clock times in ``timezone`` (default: the zone of
    ``start_at``); a naive datetime is read as already local to ``timezone``."""
    schedule = compact(
        {
            "startAt": _local_datetime(start_at, timezone) if start_at else None,
            "endAt": _local_datetime(end_at, timezone) if end_at else None,
            "teamMemberIdsToAssign": list(assigned_user_ids) or None,
            "notifyTeam": notify_team if (start_at or assigned_user_ids) else None,
        }
    )
    visit = fields_input(VisitCreateAttributes, details, schedule=schedule or None)
    variables = {"jobId": job_id, "input": {"visits": [visit]}}
    return VISITS.create_one(client, "create", variables, "visitCreate", key="createdVisits", owner=f"on job {job_id}")


def update_visit(client: JobberClient, visit_id: str, **changes: Unpack[VisitEditAttributes]) -> Visit:
    """Change a visit's title and/or instructions (Jobber's visitEdit takes nothing else)."""
    attributes = fields_input(VisitEditAttributes, changes)
    return VISITS.mutate(client, "update", {"id": visit_id, "attributes": attributes}, "visitEdit")


def delete_visit(client: JobberClient, visit_id: str) -> str:
    """Delete a visit; returns its id."""
    VISITS.send(client, "delete", {"visitIds": [visit_id]}, "visitDelete")
    return visit_id


def complete_visit(client: JobberClient, visit_id: str, *, completed_at: datetime | None = None) -> Visit:
    """Mark a visit complete (now, or at ``completed_at``); Jobber fires VISIT_COMPLETE."""
    variables = compact({"visitId": visit_id, "input": compact({"completedAt": iso(completed_at)}) or None})
    return VISITS.mutate(client, "complete", variables, "visitComplete")


def uncomplete_visit(client: JobberClient, visit_id: str) -> Visit:
    """Mark a completed visit as incomplete again."""
    return VISITS.mutate(client, "uncomplete", {"visitId": visit_id}, "visitUncomplete")


def add_visit_line_item(
    client: JobberClient,
    visit_id: str,
    *,
    name: str,
    unit_price: float,
    quantity: float = 1.0,
    description: str | None = None,
    taxable: bool | None = None,
    save_to_products_and_services: bool = False,
) -> Visit:
    """Add one line item to a visit (and so to its job)."""
    item = model_input(LineItemInput, locals())
    variables = {"visitId": visit_id, "input": {"lineItems": [item.to_graphql()]}}
    return VISITS.mutate(client, "add_line_items", variables, "visitCreateLineItems")
