"""Users (team members): Make.com's Search Users and Create a User (not in Jobber's API)."""

from __future__ import annotations

from tasks.jobber.actions._inputs import Resource, not_available
from tasks.jobber.client import JobberClient
from tasks.jobber.models import User

USERS = Resource("users", "user", User)

CREATE_USER_INSTEAD = (
    "There is no userCreate mutation: Jobber's API cannot create users. Invite them from Jobber's "
    "Settings > Manage Team; userEdit can only rename an existing user."
)


def search_users(
    client: JobberClient, *, search_term: str | None = None, status: str | None = "ACTIVATED", limit: int = 50
) -> list[User]:
    """Team members matching ``search_term``; ``status`` is ``ACTIVATED`` (default), ``DEACTIVATED`` or None
    for both."""
    return USERS.search(client, limit=limit, search_term=search_term, filter={"status": status})


def create_user(client: JobberClient, *, first_name: str, last_name: str, email: str | None = None) -> User:
    """Not offered by Jobber's API: always raises ``NotAvailableInJobberAPI`` saying what to do instead."""
    not_available("Create a user", CREATE_USER_INSTEAD)
