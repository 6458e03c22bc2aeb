"""Visits: Make.com's Create, Update, Delete, Complete, Mark Incomplete and Add a Line Item to a Visit."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from tasks.jobber.actions._inputs import compact, iso, require
from tasks.jobber.client import JobberClient
from tasks.jobber.documents import load_document
from tasks.jobber.models import LineItemInput, Visit


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
    node = client.execute(load_document("visits/get"), {"id": visit_id}).get("visit")
    return None if node is None else Visit.model_validate(node)


def create_visit(
    client: JobberClient,
    job_id: str,
    *,
    title: str | None = None,
    instructions: str | None = None,
    start_at: datetime | None = None,
    end_at: datetime | None = None,
    timezone: str | None = None,
    assigned_user_ids: Sequence[str] = (),
    notify_team: bool = False,
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
    visit = compact({"title": title, "instructions": instructions, "schedule": schedule or None})
    payload = client.mutate(
        load_document("visits/create"), {"jobId": job_id, "input": {"visits": [visit]}}, payload="visitCreate"
    )
    created = require(payload, "createdVisits", "visitCreate")
    if not created:
        raise ValueError(f"Jobber created no visit on job {job_id}")
    return Visit.model_validate(created[0])


def update_visit(
    client: JobberClient, visit_id: str, *, title: str | None = None, instructions: str | None = None
) -> Visit:
    """Change a visit's title and/or instructions (Jobber's visitEdit takes nothing else)."""
    attributes = compact({"title": title, "instructions": instructions})
    payload = client.mutate(
        load_document("visits/update"), {"id": visit_id, "attributes": attributes}, payload="visitEdit"
    )
    return Visit.model_validate(require(payload, "visit", "visitEdit"))


def delete_visit(client: JobberClient, visit_id: str) -> str:
    """Delete a visit; returns its id."""
    client.mutate(load_document("visits/delete"), {"visitIds": [visit_id]}, payload="visitDelete")
    return visit_id


def complete_visit(client: JobberClient, visit_id: str, *, completed_at: datetime | None = None) -> Visit:
    """Mark a visit complete (now, or at ``completed_at``); Jobber fires VISIT_COMPLETE."""
    variables = compact({"visitId": visit_id, "input": compact({"completedAt": iso(completed_at)}) or None})
    payload = client.mutate(load_document("visits/complete"), variables, payload="visitComplete")
    return Visit.model_validate(require(payload, "visit", "visitComplete"))


def uncomplete_visit(client: JobberClient, visit_id: str) -> Visit:
    """Mark a completed visit as incomplete again."""
    payload = client.mutate(load_document("visits/uncomplete"), {"visitId": visit_id}, payload="visitUncomplete")
    return Visit.model_validate(require(payload, "visit", "visitUncomplete"))


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
    item = LineItemInput(
        name=name,
        unit_price=unit_price,
        quantity=quantity,
        description=description,
        taxable=taxable,
        save_to_products_and_services=save_to_products_and_services,
    )
    payload = client.mutate(
        load_document("visits/add_line_items"),
        {"visitId": visit_id, "input": {"lineItems": [item.to_graphql()]}},
        payload="visitCreateLineItems",
    )
    return Visit.model_validate(require(payload, "visit", "visitCreateLineItems"))
