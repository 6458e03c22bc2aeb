"""Properties: Make.com's Search Properties, Get a Property, Create a Property and Update a Property."""

from __future__ import annotations

from tasks.jobber.actions._inputs import compact, require
from tasks.jobber.client import JobberClient
from tasks.jobber.documents import load_document
from tasks.jobber.models import AddressInput, Property


def search_properties(
    client: JobberClient, *, search_term: str | None = None, client_id: str | None = None, limit: int = 50
) -> list[Property]:
    """Properties matching ``search_term`` (address text) and/or belonging to ``client_id``."""
    variables = compact({"searchTerm": search_term, "filter": {"clientId": client_id} if client_id else None})
    nodes = client.paginate(load_document("properties/search"), variables, path=["properties"], limit=limit)
    return [Property.model_validate(node) for node in nodes]


def get_property(client: JobberClient, property_id: str) -> Property | None:
    """One property with its client, or None when Jobber answers null."""
    node = client.execute(load_document("properties/get"), {"id": property_id}).get("property")
    return None if node is None else Property.model_validate(node)


def create_property(
    client: JobberClient, client_id: str, *, address: AddressInput, name: str | None = None
) -> Property:
    """Add a property (service address) to a client."""
    attributes = compact({"address": address.to_graphql(), "name": name})
    payload = client.mutate(
        load_document("properties/create"),
        {"clientId": client_id, "input": {"properties": [attributes]}},
        payload="propertyCreate",
    )
    created = require(payload, "properties", "propertyCreate")
    if not created:
        raise ValueError(f"Jobber created no property for client {client_id}")
    return Property.model_validate(created[-1])


def update_property(
    client: JobberClient, property_id: str, *, address: AddressInput | None = None, name: str | None = None
) -> Property:
    """Change a property's address (only the parts given) and/or name."""
    property_input = compact({"address": address.to_graphql() if address else None, "name": name})
    payload = client.mutate(
        load_document("properties/update"),
        {"propertyId": property_id, "input": property_input},
        payload="propertyEdit",
    )
    return Property.model_validate(require(payload, "property", "propertyEdit"))
