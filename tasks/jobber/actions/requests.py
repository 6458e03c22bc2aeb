"""Requests: Make.com's Create a Request and Archive a Request."""

from __future__ import annotations

from typing import Unpack

from tasks.jobber.actions._inputs import Resource, fields_input
from tasks.jobber.actions.fields import RequestCreateInput
from tasks.jobber.client import JobberClient
from tasks.jobber.models import Request

REQUESTS = Resource("requests", "request", Request)


def get_request(client: JobberClient, request_id: str) -> Request | None:
    """One request, or None when Jobber answers null."""
    return REQUESTS.get(client, request_id)


def create_request(client: JobberClient, *, client_id: str, **details: Unpack[RequestCreateInput]) -> Request:
    """Create a request for a client (optionally at one of their properties)."""
    request_input = fields_input(RequestCreateInput, details, client_id=client_id)
    return REQUESTS.mutate(client, "create", {"input": request_input}, "requestCreate")


def archive_request(client: JobberClient, request_id: str) -> Request:
    """Archive a request."""
    return REQUESTS.mutate(client, "archive", {"requestId": request_id}, "requestArchive")
