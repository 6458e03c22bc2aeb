"""What each notification says, taken from the refetched Jobber record: plain dicts for the templates.

Pure functions of Jobber's GraphQL answers (documents in `tasks/jobber/documents/slack/`) and of review
request rows; the templates in `templates/slack/` decide how it looks.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tasks.store.models import ReviewRequest


def _dig(node: Mapping[str, Any] | None, *path: str) -> Any:
    value: Any = node
    for key in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


def _nodes(node: Mapping[str, Any] | None, *path: str) -> list[Mapping[str, Any]]:
    found = _dig(node, *path, "nodes")
    return [n for n in found if isinstance(n, Mapping)] if isinstance(found, list) else []


def _primary(items: Any, field: str) -> str | None:
    if not isinstance(items, list):
        return None
    candidates = [i for i in items if isinstance(i, Mapping) and i.get(field)]
    chosen = next((i for i in candidates if i.get("primary")), candidates[0] if candidates else None)
    return str(chosen[field]) if chosen else None


def client_context(client: Mapping[str, Any]) -> dict[str, Any]:
    city = ", ".join(
        p for p in (_dig(client, "billingAddress", "city"), _dig(client, "billingAddress", "province")) if p
    )
    return {
        "id": client.get("id"),
        "name": client.get("name") or client.get("companyName") or "(no name)",
        "company": client.get("companyName") if client.get("isCompany") is False else None,
        "is_lead": bool(client.get("isLead")),
        "email": _primary(client.get("emails"), "address"),
        "phone": _primary(client.get("phones"), "number"),
        "city": city or None,
        "created_at": client.get("createdAt"),
        "url": client.get("jobberWebUri"),
    }


def job_context(job: Mapping[str, Any]) -> dict[str, Any]:
    team: list[str] = []
    for visit in _nodes(job, "visits"):
        for user in _nodes(visit, "assignedUsers"):
            name = _dig(user, "name", "full")
            if name and name not in team:
                team.append(str(name))
    street, city = _dig(job, "property", "address", "street"), _dig(job, "property", "address", "city")
    return {
        "id": job.get("id"),
        "number": job.get("jobNumber"),
        "title": job.get("title") or "(untitled job)",
        "status": job.get("jobStatus"),
        "client_name": _dig(job, "client", "name") or "(no client)",
        "address": ", ".join(p for p in (street, city) if p) or None,
        "team": team,
        "completed_at": job.get("completedAt"),
        "total": job.get("total"),
        "url": job.get("jobberWebUri"),
    }


def invoice_context(invoice: Mapping[str, Any]) -> dict[str, Any]:
    jobs = _nodes(invoice, "jobs")
    return {
        "id": invoice.get("id"),
        "number": invoice.get("invoiceNumber"),
        "status": invoice.get("invoiceStatus"),
        "subject": invoice.get("subject"),
        "client_name": _dig(invoice, "client", "name") or "(no client)",
        "total": _dig(invoice, "amounts", "total"),
        "paid": _dig(invoice, "amounts", "paymentsTotal"),
        "balance": _dig(invoice, "amounts", "invoiceBalance"),
        "issued_at": invoice.get("issuedDate"),
        "due_at": invoice.get("dueDate"),
        "received_at": invoice.get("receivedDate"),
        "jobs": [f"#{j.get('jobNumber')} {j.get('title') or ''}".strip() for j in jobs],
        "url": invoice.get("jobberWebUri"),
    }


def quote_context(quote: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "id": quote.get("id"),
        "number": quote.get("quoteNumber"),
        "title": quote.get("title") or "(untitled quote)",
        "status": quote.get("quoteStatus"),
        "client_name": _dig(quote, "client", "name") or "(no client)",
        "total": _dig(quote, "amounts", "total"),
        "url": quote.get("jobberWebUri"),
    }


def review_failed_context(request: ReviewRequest) -> dict[str, Any]:
    context = request.context if isinstance(request.context, Mapping) else {}
    return {
        "id": request.id,
        "job_id": request.job_id,
        "job_number": request.job_number,
        "job_title": context.get("job_title") or context.get("jobTitle"),
        "recipient_name": request.recipient_name or "(unknown customer)",
        "channel": request.channel,
        "reason": request.reason or "no reason recorded",
        "attempts": request.attempts,
        "trigger": request.trigger,
    }
