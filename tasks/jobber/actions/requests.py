"""Requests: Make.com's Create a Request and Archive a Request."""

from __future__ import annotations

from tasks.jobber.actions._inputs import compact, require
from tasks.jobber.client import JobberClient
from tasks.jobber.documents import load_document
from tasks.jobber.models import Request


def get_request(client: JobberClient, request_id: str) -> Request | None:
    """One request, or None when Jobber answers null."""
    node = client.execute(load_document("requests/get"), {"id": request_id}).get("request")
    return None if node is None else Request.model_validate(node)


def create_request(
    client: JobberClient,
    *,
    client_id: str,
    title: str | None = None,
    property_id: str | None = None,
    salesperson_id: str | None = None,
) -> Request:
    """Create a request for a client (optionally at one of their properties)."""
    request_input = compact(
        {"clientId": client_id, "title": title, "propertyId": property_id, "salespersonId": salesperson_id}
    )
    payload = client.mutate(load_document("requests/create"), {"input": request_input}, payload="requestCreate")
    return Request.model_validate(require(payload, "request", "requestCreate"))


def archive_request(client: JobberClient, request_id: str) -> Request:
    """Archive a request."""
    payload = client.mutate(load_document("requests/archive"), {"requestId": request_id}, payload="requestArchive")
    return Request.model_validate(require(payload, "request", "requestArchive"))
