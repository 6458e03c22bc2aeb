"""Quotes: Make.com's Search Quotes, Get a Quote, Create a Quote, Update a Quote, Close a Quote (not in
Jobber's API), Create a Quote Note and Update a Quote Note."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Unpack

from tasks.jobber.actions._inputs import Resource, compact, fields_input, not_available
from tasks.jobber.actions.fields import QuoteCreateAttributes, QuoteEditAttributes, QuoteFilterAttributes
from tasks.jobber.client import JobberClient
from tasks.jobber.models import LineItemInput, Note, Quote

QUOTES = Resource("quotes", "quote", Quote)
QUOTE_NOTES = Resource("quotes", "quoteNote", Note)

CLOSE_QUOTE_INSTEAD = (
    "quoteEdit cannot change a quote's status and there is no quoteClose or quoteArchive mutation. "
    "Archive the quote in Jobber's web app, or convert it to a job there (creating a job with "
    "jobs.create and this quote's id does not change the quote)."
)


def search_quotes(
    client: JobberClient,
    *,
    search_term: str | None = None,
    updated_after: datetime | None = None,
    limit: int = 50,
    **where: Unpack[QuoteFilterAttributes],
) -> list[Quote]:
    """Quotes matching the arguments, newest first. ``status`` is a ``QuoteStatusTypeEnum`` value
    (``draft``, ``awaiting_response``, ``approved``, ``converted``, ``archived``, ``changes_requested``)."""
    quote_filter = fields_input(QuoteFilterAttributes, where)
    sort = [{"key": "CREATED_AT", "direction": "DESCENDING"}]
    return QUOTES.search(
        client, limit=limit, search_term=search_term, filter=quote_filter, sort=sort, updated_after=updated_after
    )


def get_quote(client: JobberClient, quote_id: str) -> Quote | None:
    """The quote with its amounts and line items, or None when Jobber answers null."""
    return QUOTES.get(client, quote_id)


def create_quote(
    client: JobberClient,
    *,
    client_id: str,
    property_id: str,
    line_items: Sequence[LineItemInput],
    mark_awaiting_response: bool = False,
    **details: Unpack[QuoteCreateAttributes],
) -> Quote:
    """Create a draft quote for a client's property (``mark_awaiting_response`` moves it straight to
    ``awaiting_response``, as if sent)."""
    attributes = fields_input(
        QuoteCreateAttributes,
        details,
        client_id=client_id,
        property_id=property_id,
        line_items=[item.to_graphql() for item in line_items],
        transition_quote_to="AWAITING_RESPONSE" if mark_awaiting_response else None,
    )
    return QUOTES.mutate(client, "create", {"attributes": attributes}, "quoteCreate")


def update_quote(client: JobberClient, quote_id: str, **changes: Unpack[QuoteEditAttributes]) -> Quote:
    """Change a quote's title, message, number or disclaimer (not its status: see ``close_quote``)."""
    attributes = fields_input(QuoteEditAttributes, changes)
    return QUOTES.mutate(client, "update", {"quoteId": quote_id, "attributes": attributes}, "quoteEdit")


def close_quote(client: JobberClient, quote_id: str) -> Quote:
    """Not offered by Jobber's API: always raises ``NotAvailableInJobberAPI`` saying what to do instead."""
    not_available("Close a quote", CLOSE_QUOTE_INSTEAD)


def create_quote_note(client: JobberClient, quote_id: str, *, message: str, pinned: bool = False) -> Note:
    """Add a note to a quote."""
    variables = {"quoteId": quote_id, "input": {"message": message, "pinned": pinned}}
    return QUOTE_NOTES.mutate(client, "create_note", variables, "quoteCreateNote")


def update_quote_note(
    client: JobberClient, note_id: str, *, message: str | None = None, pinned: bool | None = None
) -> Note:
    """Change a quote note's text or pinning (the note's id is enough; Jobber finds its quote)."""
    note_input = compact({"noteId": note_id, "message": message, "pinned": pinned})
    return QUOTE_NOTES.mutate(client, "update_note", {"input": note_input}, "quoteEditNote")
