"""Jobs: Make.com's Search Jobs, Get a Job, Create a Job, Update a Job, Close a Job and Reopen a Job."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from tasks.jobber.actions._inputs import compact, iso, require
from tasks.jobber.client import JobberClient
from tasks.jobber.documents import load_document
from tasks.jobber.models import Job, LineItemInput

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
    job_filter = compact({"status": status, "ids": list(job_ids) if job_ids is not None else None})
    variables = compact(
        {
            "searchTerm": search_term,
            "filter": job_filter or None,
            "sort": [{"key": "UPDATED_AT", "direction": "DESCENDING"}],
        }
    )
    nodes = client.paginate(load_document("jobs/search"), variables, path=["jobs"], limit=limit)
    return [Job.model_validate(node) for node in nodes]


def get_job(client: JobberClient, job_id: str) -> Job | None:
    """The job with its first visits and line items, or None when Jobber answers null (missing or foreign)."""
    data = client.execute(load_document("jobs/get"), {"id": job_id})
    node = data.get("job")
    return None if node is None else Job.model_validate(node)


def create_job(
    client: JobberClient,
    *,
    property_id: str,
    title: str | None = None,
    instructions: str | None = None,
    start_on: date | None = None,
    invoicing_type: str = "FIXED_PRICE",
    invoicing_schedule: str = "ON_COMPLETION",
    line_items: Sequence[LineItemInput] = (),
    job_number: int | None = None,
) -> Job:
    """Create a one-off job on a property (its client is the property's).

    ``invoicing_type`` is a ``BillingStrategy`` (``FIXED_PRICE``/``VISIT_BASED``), ``invoicing_schedule`` a
    ``BillingFrequencyEnum`` (``ON_COMPLETION``, ``PER_VISIT``, ``PERIODIC``, ``NEVER``).
    """
    job_input = compact(
        {
            "propertyId": property_id,
            "title": title,
            "instructions": instructions,
            "jobNumber": job_number,
            "timeframe": {"startAt": iso(start_on)} if start_on else None,
            "invoicing": {"invoicingType": invoicing_type, "invoicingSchedule": invoicing_schedule},
            "lineItems": [item.to_graphql() for item in line_items] or None,
        }
    )
    payload = client.mutate(load_document("jobs/create"), {"input": job_input}, payload="jobCreate")
    return Job.model_validate(require(payload, "job", "jobCreate"))


def update_job(
    client: JobberClient,
    job_id: str,
    *,
    title: str | None = None,
    instructions: str | None = None,
    job_number: int | None = None,
    allow_review_request: bool | None = None,
) -> Job:
    """Change a job's title, instructions, number or review-request flag; arguments left None are kept."""
    job_input = compact(
        {
            "title": title,
            "instructions": instructions,
            "jobNumber": job_number,
            "allowReviewRequest": allow_review_request,
        }
    )
    payload = client.mutate(load_document("jobs/update"), {"jobId": job_id, "input": job_input}, payload="jobEdit")
    return Job.model_validate(require(payload, "job", "jobEdit"))


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
    payload = client.mutate(load_document("jobs/close"), {"jobId": job_id, "input": close_input}, payload="jobClose")
    return Job.model_validate(require(payload, "job", "jobClose"))


def reopen_job(client: JobberClient, job_id: str) -> Job:
    """Reopen a closed job."""
    payload = client.mutate(load_document("jobs/reopen"), {"jobId": job_id}, payload="jobReopen")
    return Job.model_validate(require(payload, "job", "jobReopen"))
