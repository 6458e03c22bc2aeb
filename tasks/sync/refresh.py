"""Webhook-driven refresh: one Jobber event refreshes (or deletes) exactly the record it names.

Webhooks carry only ids and may arrive late, twice or out of order, so the record is always refetched;
`*_DESTROY` (or a by-id lookup answering null) deletes the stored row.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine

from tasks.jobber.client import JobberClient
from tasks.jobber.documents import load_document
from tasks.store.db import unit_of_work
from tasks.sync.mapping import MAPPERS, RecordIssue
from tasks.sync.repository import delete_record, upsert_records

# Webhook topic prefix -> (resource, by-id document, the root field of its answer)
TOPIC_RESOURCES: dict[str, tuple[str, str, str]] = {
    "CLIENT": ("clients", "sync/client", "client"),
    "PROPERTY": ("properties", "sync/property", "property"),
    "JOB": ("jobs", "sync/job", "job"),
    "VISIT": ("visits", "sync/visit", "visit"),
    "INVOICE": ("invoices", "sync/invoice", "invoice"),
    "QUOTE": ("quotes", "sync/quote", "quote"),
    "USER": ("users", "sync/user", "user"),
}


@dataclass(frozen=True)
class RefreshResult:
    topic: str
    item_id: str
    resource: str | None
    action: str  # "created" | "updated" | "unchanged" | "deleted" | "ignored"
    issues: tuple[RecordIssue, ...] = ()


def resource_for_topic(topic: str) -> tuple[str, str, str] | None:
    """The synced resource a webhook topic is about (None for topics the sync does not store)."""
    prefix = topic.upper().split("_", 1)[0]
    return TOPIC_RESOURCES.get(prefix)


def refresh_record(
    client: JobberClient, engine: Engine, *, topic: str, item_id: str, account_key: str = "default"
) -> RefreshResult:
    """Refetch the record a webhook names and store it; delete it on *_DESTROY or when Jobber has it no more."""
    target = resource_for_topic(topic)
    if target is None:
        return RefreshResult(topic, item_id, None, "ignored")
    _, document, root = target
    node = None
    if not topic.upper().endswith("_DESTROY"):
        node = client.execute(load_document(document), {"id": item_id}).get(root)
    return apply_refresh(engine, topic=topic, item_id=item_id, node=node, account_key=account_key)


def apply_refresh(
    engine: Engine, *, topic: str, item_id: str, node: Mapping[str, Any] | None, account_key: str = "default"
) -> RefreshResult:
    """Store the refetched `node` (any document that selects the resource's sync fields), or delete the row
    when there is none (Jobber has it no more) or the topic is *_DESTROY."""
    target = resource_for_topic(topic)
    if target is None:
        return RefreshResult(topic, item_id, None, "ignored")
    resource = target[0]
    if topic.upper().endswith("_DESTROY"):
        node = None
    with unit_of_work(engine) as session:
        if not isinstance(node, Mapping):
            deleted = delete_record(session, resource=resource, record_id=item_id)
            return RefreshResult(topic, item_id, resource, "deleted" if deleted else "unchanged")
        record = MAPPERS[resource](dict(node), fetched_at=datetime.now(UTC), account_key=account_key)
        counts = upsert_records(session, [record])
    action = "created" if counts.created.get(resource) else "updated" if counts.updated.get(resource) else "unchanged"
    issues = tuple(record.issues) + tuple(i for r in record.related for i in r.issues)
    return RefreshResult(topic, item_id, resource, action, issues)
