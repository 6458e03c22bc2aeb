"""Jobs: Make.com's Search Jobs, Get a Job, Create a Job, Update a Job, Close a Job and Reopen a Job."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Unpack

from tasks.jobber.actions._inputs import NEWEST_FIRST, Resource, compact, fields_input, iso
from tasks.jobber.actions.fields import JobCreateAttributes, JobEditInput
from tasks.jobber.client import JobberClient
from tasks.jobber.models import Job

JOBS = Resource("jobs", "job", Job)

COMPLETE_PAST_DESTROY_FUTURE = "COMPLETE_PAST_DESTROY_FUTURE"
"""``IncompleteVisitDecisionEnum``: complete past incomplete visits, delete future ones (what the web
app suggests when closing a job). The other value, ``DESTROY_ALL``, also deletes unfinished past visits."""


def search_jobs(
    client: JobberClient,
    *,
    search_term: str | None = None,
    status: str | None = None,
    job_ids: Sequence[str] | None = None,
    limit: int = 50,
) -> list[Job]:
    """Jobs matching ``search_term`` and/or ``status`` (a ``JobStatusTypeEnum`` value such as
    ``"requires_invoicing"``), most recently updated first, at most ``limit``."""
    job_filter = {"status": status, "ids": list(job_ids) if job_ids is not None else None}
    return JOBS.search(client, limit=limit, search_term=search_term, filter=job_filter, sort=NEWEST_FIRST)


def get_job(client: JobberClient, job_id: str) -> Job | None:
    """The job with its first visits and line items, or None when Jobber answers null (missing or foreign)."""
    return JOBS.get(client, job_id)


def create_job(
    client: JobberClient,
    *,
    property_id: str,
    start_on: date | None = None,
    invoicing_type: str = "FIXED_PRICE",
    invoicing_schedule: str = "ON_COMPLETION",
    **details: Unpack[JobCreateAttributes],
) -> Job:
    """Create a one-off job on a property (its client is the property's).

    ``invoicing_type`` is a ``BillingStrategy`` (``FIXED_PRICE``/``VISIT_BASED``), ``invoicing_schedule`` a
    ``BillingFrequencyEnum`` (``ON_COMPLETION``, ``PER_VISIT``, ``PERIODIC``, ``NEVER``).
    """
    job_input = fields_input(
        JobCreateAttributes,
        details,
        property_id=property_id,
        timeframe={"startAt": iso(start_on)} if start_on else None,
        invoicing={"invoicingType": invoicing_type, "invoicingSchedule": invoicing_schedule},
        line_items=[item.to_graphql() for item in details.get("line_items", ())] or None,
    )
    return JOBS.mutate(client, "create", {"input": job_input}, "jobCreate")


def update_job(client: JobberClient, job_id: str, **changes: Unpack[JobEditInput]) -> Job:
    """Change a job's title, instructions, number or review-request flag; arguments left None are kept."""
    job_input = fields_input(JobEditInput, changes)
    return JOBS.mutate(client, "update", {"jobId": job_id, "input": job_input}, "jobEdit")


def close_job(
    client: JobberClient,
    job_id: str,
    *,
    modify_incomplete_visits_by: str = COMPLETE_PAST_DESTROY_FUTURE,
    completed_on: date | None = None,
) -> Job:
    """Close a job (Jobber's "complete"): its status becomes ``archived``; Jobber fires JOB_CLOSED.

    ``modify_incomplete_visits_by`` says what happens to unfinished visits (``COMPLETE_PAST_DESTROY_FUTURE``
    or ``DESTROY_ALL``); ``completed_on`` defaults to today in the account's time zone.
    """
    close_input = compact({"modifyIncompleteVisitsBy": modify_incomplete_visits_by, "completedOn": iso(completed_on)})
    return JOBS.mutate(client, "close", {"jobId": job_id, "input": close_input}, "jobClose")


def reopen_job(client: JobberClient, job_id: str) -> Job:
    """Reopen a closed job."""
    return JOBS.mutate(client, "reopen", {"jobId": job_id}, "jobReopen")
