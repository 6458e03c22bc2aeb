"""How accurate is the copy? Compare Jobber's records with the database: counts, and a sample field by field.

The Jobber setup guide asks to monitor "database synchronization accuracy"; this is that measurement.
Counts come from paging ids only (cheap); the sample is refetched by id and compared column by column.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, func, select

from tasks.jobber.client import JobberClient
from tasks.jobber.documents import load_document
from tasks.store.accounts import as_utc
from tasks.store.db import unit_of_work
from tasks.store.models import SYNCED_MODELS
from tasks.sync.mapping import MAPPERS
from tasks.sync.refresh import TOPIC_RESOURCES

COMPARED = ("clients", "jobs", "invoices", "quotes", "users")
IGNORED_COLUMNS = {"raw", "fetched_at", "account_key"}


@dataclass
class ResourceAccuracy:
    resource: str
    jobber_count: int
    database_count: int
    sampled: int = 0
    matching: int = 0
    missing_in_database: list[str] = field(default_factory=list)
    differences: list[str] = field(default_factory=list)

    @property
    def accuracy(self) -> float:
        """Share of sampled records whose every compared column equals Jobber's current value."""
        return self.matching / self.sampled if self.sampled else 1.0


def _normalize(value: Any) -> Any:
    if isinstance(value, datetime):
        return as_utc(value).isoformat()  # type: ignore[union-attr]
    if isinstance(value, float):
        return round(value, 4)
    return value


def _count_and_ids(client: JobberClient, resource: str) -> list[str]:
    document = load_document(f"sync/ids_{resource}")
    return [str(n["id"]) for n in client.paginate(document, path=(resource,), page_size=100) if n.get("id")]


def compare_resource(
    client: JobberClient, engine: Engine, resource: str, *, sample: int = 20, rng: random.Random | None = None
) -> ResourceAccuracy:
    """Count both sides and compare `sample` random records column by column."""
    ids = _count_and_ids(client, resource)
    model = SYNCED_MODELS[resource]
    with unit_of_work(engine) as session:
        db_count = int(session.scalar(select(func.count()).select_from(model)) or 0)
    report = ResourceAccuracy(resource, len(ids), db_count)
    chosen = (rng or random.Random()).sample(ids, min(sample, len(ids)))  # noqa: S311 - sampling, not security
    prefix = next(k for k, v in TOPIC_RESOURCES.items() if v[0] == resource)
    _, document, root = TOPIC_RESOURCES[prefix]
    table = model.__table__  # type: ignore[attr-defined]
    for record_id in chosen:
        node = client.execute(load_document(document), {"id": record_id}).get(root)
        if not isinstance(node, dict):
            continue
        report.sampled += 1
        expected = MAPPERS[resource](node, fetched_at=datetime.now(UTC), account_key="").row
        with unit_of_work(engine) as session:
            stored = session.execute(select(table).where(table.c.id == record_id)).mappings().first()
        if stored is None:
            report.missing_in_database.append(record_id)
            continue
        diffs = [
            f"{record_id} {column}: database {_normalize(stored[column])!r} != Jobber {_normalize(value)!r}"
            for column, value in expected.items()
            if column not in IGNORED_COLUMNS and _normalize(stored[column]) != _normalize(value)
        ]
        if diffs:
            report.differences.extend(diffs)
        else:
            report.matching += 1
    return report


def accuracy_markdown(reports: list[ResourceAccuracy]) -> str:
    lines = [
        "# Sync accuracy: Jobber vs database",
        "",
        "| resource | in Jobber | in database | sampled | matching | accuracy |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for r in reports:
        lines.append(
            f"| {r.resource} | {r.jobber_count} | {r.database_count} | {r.sampled} | {r.matching} | {r.accuracy:.0%} |"
        )
    problems = [d for r in reports for d in r.differences] + [
        f"{r.resource} {i}: missing in the database" for r in reports for i in r.missing_in_database
    ]
    if problems:
        lines += ["", "## Differences", ""] + [f"- {p}" for p in problems[:100]]
    return "\n".join(lines)
