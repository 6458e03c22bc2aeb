"""Requests: Make.com's Create a Request and Archive a Request."""

from __future__ import annotations

from tasks.jobber.actions._inputs import Resource, camel_input
from tasks.jobber.client import JobberClient
from tasks.jobber.models import Request

REQUESTS = Resource("requests", "request", Request)


def get_request(client: JobberClient, request_id: str) -> Request | None:
    """One request, or None when Jobber answers null."""
    return REQUESTS.get(client, request_id)


def create_request(
    client: JobberClient,
    *,
    client_id: str,
    title: str | None = None,
    property_id: str | None = None,
    salesperson_id: str | None = None,
) -> Request:
    """Create a request for a client (optionally at one of their properties)."""
    request_input = camel_input(locals(), "client_id title property_id salesperson_id")
    return REQUESTS.mutate(client, "create", {"input": request_input}, "requestCreate")


def archive_request(client: JobberClient, request_id: str) -> Request:
    """Archive a request."""
    return REQUESTS.mutate(client, "archive", {"requestId": request_id}, "requestArchive")
