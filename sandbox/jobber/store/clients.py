"""Clients and their properties, emails, phones and tags, as the API and a person in Jobber change them."""

from __future__ import annotations

from typing import Any, TypeVar

from ..models import Client, Email, Phone, Property, Tag
from .core import StoreCore
from .values import ADDRESS_KEYS, UserError, assign, client_address, snake

CLIENT_FLAGS = (
    "receivesReviewRequests",
    "receivesReminders",
    "receivesFollowUps",
    "receivesQuoteFollowUps",
    "receivesInvoiceFollowUps",
)
C = TypeVar("C", Email, Phone)


def _make_primary(contacts: list[C], contact: C) -> None:
    for other in contacts:
        other.primary = other is contact


class ClientsMixin(StoreCore):
    def _add_email(self, client: Client, address: str, primary: bool = True, description: str = "MAIN") -> Email:
        email = self._create(Email, address=address, primary=primary, description=description or "MAIN")
        return self._add_contact(client, client.emails, email)

    def _add_phone(
        self,
        client: Client,
        number: str,
        sms_allowed: bool = True,
        primary: bool = True,
        description: str = "MOBILE",
    ) -> Phone:
        phone = self._create(
            Phone,
            number=number,
            sms_allowed=sms_allowed,
            primary=primary,
            description=description or "MOBILE",
        )
        return self._add_contact(client, client.phones, phone)

    def _add_contact(self, client: Client, contacts: list[C], contact: C) -> C:
        """A client's new email or phone: a primary one takes over from the others."""
        contact.client = client
        contacts.append(contact)
        if contact.primary:
            _make_primary(contacts, contact)
        return contact

    def _own_contact(self, client: Client, cls: type[C], contact_id: Any, label: str, path: list[str]) -> C:
        contact = self.get(contact_id, cls)
        if contact is None or contact.client is not client:
            raise UserError(f"{label} not found", path)
        return contact

    def _delete_contacts(
        self, client: Client, contacts: list[C], cls: type[C], ids: list[Any] | None, label: str, key: str
    ) -> None:
        for contact_id in ids or []:
            contact = self._own_contact(client, cls, contact_id, label, ["input", key])
            contacts.remove(contact)
            self._table(contact).pop(contact.pk, None)

    def _apply_flags(self, client: Client, attrs: dict[str, Any]) -> None:
        for flag in CLIENT_FLAGS:
            if attrs.get(flag) is not None:
                setattr(client, snake(flag), bool(attrs[flag]))

    def _add_emails(self, client: Client, items: list[dict[str, Any]], by_position: bool) -> None:
        """Without an explicit ``primary``, the first item is primary (creating) or the first of the client's."""
        for i, e in enumerate(items):
            if e.get("address"):
                primary = bool(e.get("primary", i == 0 if by_position else not client.emails))
                self._add_email(client, e["address"], primary, e.get("description") or "MAIN")

    def _add_phones(self, client: Client, items: list[dict[str, Any]], by_position: bool) -> None:
        for i, p in enumerate(items):
            if p.get("number"):
                primary = bool(p.get("primary", i == 0 if by_position else not client.phones))
                sms_allowed = bool(p.get("smsAllowed", True))
                self._add_phone(client, p["number"], sms_allowed, primary, p.get("description") or "MOBILE")

    def _add_property(self, client: Client, address: dict[str, Any], name: str | None = None) -> Property:
        prop = self._create(
            Property,
            client=client,
            name=name,
            **{snake(key): address.get(key) or "" for key in ADDRESS_KEYS},
        )
        client.client_properties.append(prop)
        return prop

    def _tag(self, label: str) -> Tag:
        for t in self.table("Tag").values():
            if isinstance(t, Tag) and t.label == label:
                return t
        return self._create(Tag, label=label)

    def client_create(self, attrs: dict[str, Any]) -> Client:
        first = (attrs.get("firstName") or "").strip()
        last = (attrs.get("lastName") or "").strip()
        company = (attrs.get("companyName") or "").strip() or None
        if not (first or last or company):
            raise UserError("Client must have a first name, last name or company name", ["input"])
        with self.lock:
            client = self._create(
                Client,
                first_name=first,
                last_name=last,
                company_name=company,
                is_company=bool(attrs.get("isCompany")) or (company is not None and not (first or last)),
                title=attrs.get("title"),
            )
            self._apply_flags(client, attrs)
            self._add_emails(client, attrs.get("emails") or [], by_position=True)
            self._add_phones(client, attrs.get("phones") or [], by_position=True)
            if attrs.get("billingAddress"):
                client.billing_address = client_address(attrs["billingAddress"])
            props = [
                self._add_property(client, pa.get("address") or {}, pa.get("name"))
                for pa in attrs.get("properties") or []
            ]
        self._emit("CLIENT_CREATE", client)
        self._emit_each("PROPERTY_CREATE", props)
        return client

    def client_edit(self, client_id: Any, attrs: dict[str, Any]) -> Client:
        with self._change(client_id, Client, "clientId", "CLIENT_UPDATE") as client:
            assign(client, attrs, ("firstName", "lastName", "companyName", "title"))
            if attrs.get("isCompany") is not None:
                client.is_company = bool(attrs["isCompany"])
            self._apply_flags(client, attrs)
            self._add_emails(client, attrs.get("emailsToAdd") or [], by_position=False)
            for e in attrs.get("emailsToEdit") or []:
                email = self._own_contact(client, Email, e.get("id"), "Email", ["input", "emailsToEdit", "id"])
                email.address = e.get("address") or email.address
                if e.get("primary"):
                    _make_primary(client.emails, email)
            self._delete_contacts(client, client.emails, Email, attrs.get("emailsToDelete"), "Email", "emailsToDelete")
            self._add_phones(client, attrs.get("phonesToAdd") or [], by_position=False)
            for p in attrs.get("phonesToEdit") or []:
                phone = self._own_contact(client, Phone, p.get("id"), "Phone number", ["input", "phonesToEdit", "id"])
                phone.number = p.get("number") or phone.number
                if p.get("smsAllowed") is not None:
                    phone.sms_allowed = bool(p["smsAllowed"])
                if p.get("primary"):
                    _make_primary(client.phones, phone)
            self._delete_contacts(
                client, client.phones, Phone, attrs.get("phonesToDelete"), "Phone number", "phonesToDelete"
            )
            for label in attrs.get("tagsToAdd") or []:
                tag = self._tag(label)
                if tag not in client.tags:
                    client.tags.append(tag)
            for label in attrs.get("tagsToDelete") or []:
                client.tags = [t for t in client.tags if t.label != label]
            if attrs.get("billingAddress"):
                client.billing_address = client_address(attrs["billingAddress"], client.billing_address)
        return client

    def client_archive(self, client_id: Any) -> Client:
        with self._change(client_id, Client, "clientId", "CLIENT_UPDATE") as client:
            client.is_archived = True
        return client

    def update_client(
        self,
        client_id: Any,
        first_name: str | None = None,
        last_name: str | None = None,
        company_name: str | None = None,
        email: str | None = None,
        phone: str | None = None,
        sms_allowed: bool | None = None,
        receives_review_requests: bool | None = None,
        is_archived: bool | None = None,
    ) -> Client:
        """A person edits a client in Jobber (email/phone replace the primary ones)."""
        with self._change(client_id, Client, "client_id", "CLIENT_UPDATE") as client:
            if first_name is not None:
                client.first_name = first_name
            if last_name is not None:
                client.last_name = last_name
            if company_name is not None:
                client.company_name = company_name or None
            if email is not None:
                primary = next((e for e in client.emails if e.primary), None)
                if primary:
                    primary.address = email
                else:
                    self._add_email(client, email)
            if phone is not None:
                prim = next((p for p in client.phones if p.primary), None)
                if prim:
                    prim.number = phone
                else:
                    self._add_phone(client, phone, True if sms_allowed is None else sms_allowed)
            if sms_allowed is not None:
                for p in client.phones:
                    if p.primary:
                        p.sms_allowed = sms_allowed
            if receives_review_requests is not None:
                client.receives_review_requests = receives_review_requests
            if is_archived is not None:
                client.is_archived = is_archived
        return client

    def create_client(
        self,
        first_name: str,
        last_name: str,
        email: str | None = None,
        phone: str | None = None,
        sms_allowed: bool = True,
        company_name: str | None = None,
        address: dict[str, Any] | None = None,
    ) -> Client:
        """A person creates a client in Jobber (with one property when an address is given)."""
        attrs: dict[str, Any] = {"firstName": first_name, "lastName": last_name, "companyName": company_name}
        if email:
            attrs["emails"] = [{"address": email, "primary": True, "description": "MAIN"}]
        if phone:
            attrs["phones"] = [{"number": phone, "primary": True, "smsAllowed": sms_allowed, "description": "MOBILE"}]
        if address:
            attrs["properties"] = [{"address": address}]
        return self.client_create(attrs)

    # -- properties -----------------------------------------------------------------------------
    def property_create(self, client_id: Any, properties: list[dict[str, Any]]) -> tuple[Client, list[Property]]:
        with self._change(client_id, Client, "clientId") as client:
            if not properties:
                raise UserError("At least one property is required", ["input", "properties"])
            created = [self._add_property(client, p.get("address") or {}, p.get("name")) for p in properties]
        self._emit_each("PROPERTY_CREATE", created)
        return client, created

    def property_edit(self, property_id: Any, attrs: dict[str, Any]) -> Property:
        with self._change(property_id, Property, "propertyId", "PROPERTY_UPDATE") as prop:
            assign(prop, attrs.get("address") or {}, ADDRESS_KEYS)
            assign(prop, attrs, ("name",))
        return prop
