"""Quotes and their notes: create, edit, send and approve, with Jobber's webhooks."""

from __future__ import annotations

from typing import Any

from ..models import Client, Property, Quote, QuoteLineItem, QuoteNote
from .core import StoreCore
from .values import UserError, assign, now_s, parse_dt


class QuotesMixin(StoreCore):
    def quote_create(self, attrs: dict[str, Any]) -> Quote:
        with self.lock:
            client = self._require(attrs.get("clientId"), Client, "clientId")
            prop = self._require(attrs.get("propertyId"), Property, "propertyId")
            if prop.client is not client:
                raise UserError("Property does not belong to the client", ["attributes", "propertyId"])
            lines = attrs.get("lineItems") or []
            subtotal = 0.0
            for li in lines:
                if not li.get("name"):
                    raise UserError("Line item name can't be blank", ["attributes", "lineItems", "name"])
                if li.get("totalPrice") is not None:
                    subtotal += float(li["totalPrice"])
                else:
                    subtotal += float(li.get("quantity") or 1) * float(li.get("unitPrice") or 0)
            number = attrs.get("quoteNumber")
            if number is None:
                number = max((int(q.quote_number) for q in self.quotes if q.quote_number.isdigit()), default=300) + 1
            now = now_s()
            sent = attrs.get("transitionQuoteTo") == "AWAITING_RESPONSE"
            quote = self._create(
                Quote,
                now,
                quote_number=str(number),
                quote_status="awaiting_response" if sent else "draft",
                title=attrs.get("title"),
                message=attrs.get("message"),
                client=client,
                property_=prop,
                subtotal=round(subtotal, 2),
                sent_at=now if sent else None,
                transitioned_at=now,
            )
            for order, li in enumerate(lines):
                qty = float(li["quantity"]) if li.get("quantity") is not None else 1.0
                price = li.get("unitPrice")
                if price is None and li.get("totalPrice") is not None:
                    price = float(li["totalPrice"]) / qty if qty else 0.0
                extra = {
                    "optional": bool(li.get("optional")),
                    "recommended": li.get("recommended"),
                    "text_only": bool(li.get("textOnly")),
                    "unit_cost": li.get("unitCost"),
                    "sort_order": order,
                }
                quote.line_items.append(self._new_priced_item(QuoteLineItem, li, qty, price, now, **extra))
            client.quotes.append(quote)
            prop.quotes.append(quote)
        self._emit("QUOTE_CREATE", quote)
        if sent:
            self._emit("QUOTE_SENT", quote)
        return quote

    def quote_edit(self, quote_id: Any, attrs: dict[str, Any]) -> Quote:
        sent = False
        with self._change(quote_id, Quote, "quoteId", "QUOTE_UPDATE") as quote:
            assign(quote, attrs, ("title", "message"))
            if attrs.get("quoteNumber") is not None:
                quote.quote_number = str(attrs["quoteNumber"])
            if attrs.get("sentAt"):
                quote.sent_at = parse_dt(attrs["sentAt"])
                sent = quote.quote_status == "draft"
                if sent:
                    quote.quote_status = "awaiting_response"
        if sent:
            self._emit("QUOTE_SENT", quote)
        return quote

    def send_quote(self, quote_id: Any) -> Quote:
        with self.lock:
            quote = self._require(quote_id, Quote, "quote_id", "Quote")
            now = now_s()
            quote.sent_at = now
            if quote.quote_status in ("draft", "changes_requested"):
                quote.quote_status = "awaiting_response"
            quote.transitioned_at = now
            quote.updated_at = now
        self._emit_topics(quote, "QUOTE_SENT", "QUOTE_UPDATE")
        return quote

    def approve_quote(self, quote_id: Any) -> Quote:
        with self.lock:
            quote = self._require(quote_id, Quote, "quote_id", "Quote")
            if quote.quote_status in ("approved", "converted"):
                raise UserError("Quote is already approved", ["quote_id"])
            now = now_s()
            quote.quote_status = "approved"
            quote.approved_at = now
            quote.transitioned_at = now
            quote.sent_at = quote.sent_at or now
            quote.updated_at = now
        self._emit_topics(quote, "QUOTE_APPROVED", "QUOTE_UPDATE")
        return quote

    def quote_create_note(self, quote_id: Any, attrs: dict[str, Any]) -> tuple[Quote, QuoteNote]:
        with self.lock:
            quote = self._require(quote_id, Quote, "quoteId")
            if not (attrs.get("message") or "").strip():
                raise UserError("Message can't be blank", ["input", "message"])
            now = now_s()
            note = self._create(
                QuoteNote,
                quote=quote,
                message=attrs["message"],
                pinned=bool(attrs.get("pinned")),
                created_at=now,
            )
            quote.notes.append(note)
            quote.updated_at = now
        self._emit("QUOTE_UPDATE", quote)
        return quote, note

    def quote_edit_note(self, attrs: dict[str, Any]) -> tuple[Quote, QuoteNote]:
        with self.lock:
            note = self._require(attrs.get("noteId"), QuoteNote, "noteId", "Note")
            if attrs.get("message") is not None:
                if not attrs["message"].strip():
                    raise UserError("Message can't be blank", ["input", "message"])
                note.message = attrs["message"]
            if attrs.get("pinned") is not None:
                note.pinned = bool(attrs["pinned"])
            now = now_s()
            note.last_edited_at = now
            quote = note.quote
            if quote is None:
                raise UserError("Note not found", ["input", "noteId"])
            quote.updated_at = now
        self._emit("QUOTE_UPDATE", quote)
        return quote, note
