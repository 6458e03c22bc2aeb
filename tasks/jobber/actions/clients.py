"""Clients: Make.com's Search Clients, Create a Client, Update a Client and Archive a Client."""

from __future__ import annotations

from datetime import datetime

from tasks.jobber.actions._inputs import compact, require, updated_after_filter
from tasks.jobber.client import JobberClient
from tasks.jobber.documents import load_document
from tasks.jobber.models import AddressInput, Client


def search_clients(
    client: JobberClient,
    *,
    search_term: str | None = None,
    is_archived: bool | None = None,
    is_lead: bool | None = None,
    updated_after: datetime | None = None,
    limit: int = 50,
) -> list[Client]:
    """Clients matching ``search_term`` (names, emails, phones, addresses), most recently updated first."""
    client_filter = compact(
        {"isArchived": is_archived, "isLead": is_lead, **(updated_after_filter(updated_after) or {})}
    )
    variables = compact(
        {
            "searchTerm": search_term,
            "filter": client_filter or None,
            "sort": {"key": "UPDATED_AT", "direction": "DESCENDING"},
        }
    )
    nodes = client.paginate(load_document("clients/search"), variables, path=["clients"], limit=limit)
    return [Client.model_validate(node) for node in nodes]


def get_client(client: JobberClient, client_id: str) -> Client | None:
    """One client, or None when Jobber answers null (missing, deleted or another account's)."""
    node = client.execute(load_document("clients/get"), {"id": client_id}).get("client")
    return None if node is None else Client.model_validate(node)


def create_client(
    client: JobberClient,
    *,
    first_name: str | None = None,
    last_name: str | None = None,
    company_name: str | None = None,
    email: str | None = None,
    phone: str | None = None,
    phone_sms_allowed: bool = True,
    billing_address: AddressInput | None = None,
    property_address: AddressInput | None = None,
) -> Client:
    """Create a client. ``email``/``phone`` become the primary ones; ``property_address`` also creates a
    property (use ``properties.create_property`` for more). A company name alone makes a company client."""
    client_input = compact(
        {
            "firstName": first_name,
            "lastName": last_name,
            "companyName": company_name,
            "isCompany": True if company_name and not (first_name or last_name) else None,
            "emails": [{"address": email, "primary": True, "description": "MAIN"}] if email else None,
            "phones": (
                [{"number": phone, "primary": True, "smsAllowed": phone_sms_allowed, "description": "MAIN"}]
                if phone
                else None
            ),
            "billingAddress": billing_address.to_graphql() if billing_address else None,
            "properties": [{"address": property_address.to_graphql()}] if property_address else None,
        }
    )
    payload = client.mutate(load_document("clients/create"), {"input": client_input}, payload="clientCreate")
    return Client.model_validate(require(payload, "client", "clientCreate"))


def update_client(
    client: JobberClient,
    client_id: str,
    *,
    first_name: str | None = None,
    last_name: str | None = None,
    company_name: str | None = None,
    add_email: str | None = None,
    add_phone: str | None = None,
    phone_sms_allowed: bool = True,
    billing_address: AddressInput | None = None,
    tags_to_add: list[str] | None = None,
) -> Client:
    """Change a client's names or billing address, add an email or phone (made primary) or tags.
    Arguments left None are kept."""
    client_input = compact(
        {
            "firstName": first_name,
            "lastName": last_name,
            "companyName": company_name,
            "emailsToAdd": [{"address": add_email, "primary": True, "description": "MAIN"}] if add_email else None,
            "phonesToAdd": (
                [{"number": add_phone, "primary": True, "smsAllowed": phone_sms_allowed, "description": "MAIN"}]
                if add_phone
                else None
            ),
            "billingAddress": billing_address.to_graphql() if billing_address else None,
            "tagsToAdd": tags_to_add or None,
        }
    )
    payload = client.mutate(
        load_document("clients/update"), {"clientId": client_id, "input": client_input}, payload="clientEdit"
    )
    return Client.model_validate(require(payload, "client", "clientEdit"))


def archive_client(client: JobberClient, client_id: str) -> Client:
    """Archive a client (Jobber refuses when the client has open work; that arrives as JobberUserError)."""
    payload = client.mutate(load_document("clients/archive"), {"clientId": client_id}, payload="clientArchive")
    return Client.model_validate(require(payload, "client", "clientArchive"))
