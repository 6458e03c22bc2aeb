"""Properties: Make.com's Search Properties, Get a Property, Create a Property and Update a Property."""

from __future__ import annotations

from tasks.jobber.actions._inputs import Resource, compact
from tasks.jobber.client import JobberClient
from tasks.jobber.models import AddressInput, Property

PROPERTIES = Resource("properties", "property", Property)


def search_properties(
    client: JobberClient, *, search_term: str | None = None, client_id: str | None = None, limit: int = 50
) -> list[Property]:
    """Properties matching ``search_term`` (address text) and/or belonging to ``client_id``."""
    return PROPERTIES.search(client, limit=limit, search_term=search_term, filter={"clientId": client_id})


def get_property(client: JobberClient, property_id: str) -> Property | None:
    """One property with its client, or None when Jobber answers null."""
    return PROPERTIES.get(client, property_id)


def create_property(
    client: JobberClient, client_id: str, *, address: AddressInput, name: str | None = None
) -> Property:
    """Add a property (service address) to a client."""
    attributes = compact({"address": address.to_graphql(), "name": name})
    variables = {"clientId": client_id, "input": {"properties": [attributes]}}
    return PROPERTIES.create_one(
        client, "create", variables, "propertyCreate", key="properties", owner=f"for client {client_id}"
    )


def update_property(
    client: JobberClient, property_id: str, *, address: AddressInput | None = None, name: str | None = None
) -> Property:
    """Change a property's address (only the parts given) and/or name."""
    property_input = compact({"address": address.to_graphql() if address else None, "name": name})
    return PROPERTIES.mutate(client, "update", {"propertyId": property_id, "input": property_input}, "propertyEdit")
