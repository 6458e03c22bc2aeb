"""Clients: Make.com's Search Clients, Create a Client, Update a Client and Archive a Client."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Unpack

from tasks.jobber.actions._inputs import Resource, fields_input
from tasks.jobber.actions.fields import ClientCreateInput, ClientEditInput, ClientFilterAttributes
from tasks.jobber.client import JobberClient
from tasks.jobber.models import AddressInput, Client

CLIENTS = Resource("clients", "client", Client)


def _contacts(email: str | None, phone: str | None, sms_allowed: bool) -> tuple[list[Any] | None, list[Any] | None]:
    """The email and phone inputs of a client (each made primary), or None for those not given."""
    emails = [{"address": email, "primary": True, "description": "MAIN"}] if email else None
    phones = [{"number": phone, "primary": True, "smsAllowed": sms_allowed, "description": "MAIN"}] if phone else None
    return emails, phones


def search_clients(
    client: JobberClient,
    *,
    search_term: str | None = None,
    updated_after: datetime | None = None,
    limit: int = 50,
    **where: Unpack[ClientFilterAttributes],
) -> list[Client]:
    """Clients matching ``search_term`` (names, emails, phones, addresses), most recently updated first."""
    client_filter = fields_input(ClientFilterAttributes, where)
    sort = {"key": "UPDATED_AT", "direction": "DESCENDING"}
    return CLIENTS.search(
        client, limit=limit, search_term=search_term, filter=client_filter, sort=sort, updated_after=updated_after
    )


def get_client(client: JobberClient, client_id: str) -> Client | None:
    """One client, or None when Jobber answers null (missing, deleted or another account's)."""
    return CLIENTS.get(client, client_id)


def _address(address: AddressInput | None) -> dict[str, Any] | None:
    """Jobber's ``AddressAttributes`` for an address given, else None."""
    return address.to_graphql() if address else None


def create_client(
    client: JobberClient,
    *,
    first_name: str | None = None,
    last_name: str | None = None,
    email: str | None = None,
    phone: str | None = None,
    phone_sms_allowed: bool = True,
    property_address: AddressInput | None = None,
    **details: Unpack[ClientCreateInput],
) -> Client:
    """Create a client. ``email``/``phone`` become the primary ones; ``property_address`` also creates a
    property (use ``properties.create_property`` for more). A company name alone makes a company client."""
    emails, phones = _contacts(email, phone, phone_sms_allowed)
    client_input = fields_input(
        ClientCreateInput,
        details,
        first_name=first_name,
        last_name=last_name,
        emails=emails,
        phones=phones,
        is_company=True if details.get("company_name") and not (first_name or last_name) else None,
        billing_address=_address(details.get("billing_address")),
        properties=[{"address": property_address.to_graphql()}] if property_address else None,
    )
    return CLIENTS.mutate(client, "create", {"input": client_input}, "clientCreate")


def update_client(
    client: JobberClient,
    client_id: str,
    *,
    add_email: str | None = None,
    add_phone: str | None = None,
    phone_sms_allowed: bool = True,
    **changes: Unpack[ClientEditInput],
) -> Client:
    """Change a client's names or billing address, add an email or phone (made primary) or tags.
    Arguments left None are kept."""
    emails_to_add, phones_to_add = _contacts(add_email, add_phone, phone_sms_allowed)
    client_input = fields_input(
        ClientEditInput,
        changes,
        emails_to_add=emails_to_add,
        phones_to_add=phones_to_add,
        billing_address=_address(changes.get("billing_address")),
        tags_to_add=changes.get("tags_to_add") or None,
    )
    return CLIENTS.mutate(client, "update", {"clientId": client_id, "input": client_input}, "clientEdit")


def archive_client(client: JobberClient, client_id: str) -> Client:
    """Archive a client (Jobber refuses when the client has open work; that arrives as JobberUserError)."""
    return CLIENTS.mutate(client, "archive", {"clientId": client_id}, "clientArchive")
