"""Users (team members): Make.com's Search Users and Create a User (not in Jobber's API)."""

from __future__ import annotations

from tasks.jobber.actions._inputs import compact, not_available
from tasks.jobber.client import JobberClient
from tasks.jobber.documents import load_document
from tasks.jobber.models import User

CREATE_USER_INSTEAD = (
    "There is no userCreate mutation: Jobber's API cannot create users. Invite them from Jobber's "
    "Settings > Manage Team; userEdit can only rename an existing user."
)


def search_users(
    client: JobberClient, *, search_term: str | None = None, status: str | None = "ACTIVATED", limit: int = 50
) -> list[User]:
    """Team members matching ``search_term``; ``status`` is ``ACTIVATED`` (default), ``DEACTIVATED`` or None
    for both."""
    variables = compact({"searchTerm": search_term, "filter": {"status": status} if status else None})
    nodes = client.paginate(load_document("users/search"), variables, path=["users"], limit=limit)
    return [User.model_validate(node) for node in nodes]


def create_user(client: JobberClient, *, first_name: str, last_name: str, email: str | None = None) -> User:
    """Not offered by Jobber's API: always raises ``NotAvailableInJobberAPI`` saying what to do instead."""
    not_available("Create a user", CREATE_USER_INSTEAD)
