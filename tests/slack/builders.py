"""Plain data builders: Jobber answers as the Slack documents return them."""

from __future__ import annotations

from typing import Any


def job_node(**overrides: Any) -> dict[str, Any]:
    node: dict[str, Any] = {
        "id": "Z2lkOi8vSm9iYmVyL0pvYi8x",
        "jobNumber": 1042,
        "title": "Water Heater Installation",
        "jobStatus": "archived",
        "completedAt": "2026-12-01T23:11:31Z",
        "total": 1850.0,
        "jobberWebUri": "https://secure.getjobber.com/work_orders/1",
        "client": {"id": "Z2lkOi8vSm9iYmVyL0NsaWVudC8x", "name": "John Smith"},
        "property": {"id": "UHJvcGVydHkvMQ==", "address": {"street": "4821 Barton Springs Rd", "city": "Austin"}},
        "visits": {
            "nodes": [
                {
                    "id": "VmlzaXQvMQ==",
                    "completedAt": None,
                    "assignedUsers": {"nodes": [{"id": "VXNlci8x", "name": {"full": "Mike Thompson"}}]},
                }
            ]
        },
    }
    node.update(overrides)
    return node


def invoice_node(**overrides: Any) -> dict[str, Any]:
    node: dict[str, Any] = {
        "id": "Z2lkOi8vSm9iYmVyL0ludm9pY2UvMg==",
        "invoiceNumber": "2002",
        "invoiceStatus": "paid",
        "subject": "For Services Rendered - Furnace Repair",
        "issuedDate": "2026-07-07T23:10:28Z",
        "dueDate": "2026-08-06T23:10:28Z",
        "receivedDate": "2026-12-01T23:11:32Z",
        "jobberWebUri": "https://secure.getjobber.com/invoices/2",
        "amounts": {"total": 405.71, "paymentsTotal": 405.71, "invoiceBalance": 0.0},
        "client": {"id": "Z2lkOi8vSm9iYmVyL0NsaWVudC8zMA==", "name": "Diego Hernandez"},
        "jobs": {"nodes": [{"id": "Z2lkOi8vSm9iYmVyL0pvYi81", "jobNumber": 1046, "title": "Furnace Repair"}]},
    }
    node.update(overrides)
    return node


def client_node(**overrides: Any) -> dict[str, Any]:
    node: dict[str, Any] = {
        "id": "Z2lkOi8vSm9iYmVyL0NsaWVudC81MQ==",
        "name": "Ada Lovelace",
        "companyName": None,
        "isCompany": False,
        "isLead": False,
        "createdAt": "2026-12-01T23:11:32Z",
        "jobberWebUri": "https://secure.getjobber.com/clients/51",
        "emails": [{"address": "ada@example.com", "primary": True}],
        "phones": [{"number": "+15125550100", "primary": True}],
        "billingAddress": {"city": "Austin", "province": "TX"},
    }
    node.update(overrides)
    return node


def quote_node(**overrides: Any) -> dict[str, Any]:
    node: dict[str, Any] = {
        "id": "Z2lkOi8vSm9iYmVyL1F1b3RlLzI=",
        "quoteNumber": "302",
        "quoteStatus": "approved",
        "title": "Mulch Installation",
        "jobberWebUri": "https://secure.getjobber.com/quotes/2",
        "amounts": {"total": 707.93},
        "client": {"id": "Z2lkOi8vSm9iYmVyL0NsaWVudC8zNw==", "name": "Jacob Jackson"},
    }
    node.update(overrides)
    return node


def fetcher(**records: dict[str, Any] | None) -> Any:
    """An ItemFetcher answering from `records` keyed by root field (job=..., invoice=..., paymentRecord=...)."""
    asked: list[tuple[str, str]] = []

    def fetch(document: str, root: str, item_id: str) -> dict[str, Any] | None:
        asked.append((document, item_id))
        return records.get(root)

    fetch.asked = asked  # type: ignore[attr-defined]
    return fetch
