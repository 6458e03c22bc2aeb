"""Copy Jobber's records into the database: full backfill and incremental sync, one resource at a time.

How each resource is read, following what Jobber's API allows:
- clients, invoices: `filter: {updatedAt: {after: watermark}}`, sorted by UPDATED_AT ascending. The
  watermark advances after every committed page, so a killed run resumes where it stopped.
- quotes: the same filter, but Jobber cannot sort quotes by updatedAt, so the run keeps a resume cursor
  after every committed page and advances the watermark only when it has read everything.
- jobs: no updatedAt filter exists; read newest first (sort UPDATED_AT descending) and stop at the
  watermark. A resume cursor is kept per page. Each job brings its property and visits (with assigned
  users), so visits are synced through their jobs.
- users: small; read in full every time. properties: in full mode; otherwise they come with clients/jobs.
A full run (`full=True`) ignores watermarks and, when it reads a resource to the end in one go, deletes
the rows Jobber no longer has.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

from sqlalchemy import Engine, delete, select
from sqlalchemy.exc import DBAPIError

from tasks.jobber.client import JobberClient
from tasks.jobber.documents import load_document
from tasks.jobber.models import parse_time
from tasks.store.db import unit_of_work
from tasks.store.models import SYNCED_MODELS
from tasks.sync.mapping import MAPPERS, MappedRecord, RecordIssue
from tasks.sync.repository import UpsertCounts, get_watermark, latest, upsert_records

log = logging.getLogger(__name__)

RESOURCES = ("users", "clients", "properties", "jobs", "invoices", "quotes")
# Re-read this much before the watermark: records updated in the same second are not lost.
OVERLAP = timedelta(seconds=1)


@dataclass(frozen=True)
class Strategy:
    document: str
    path: str
    filter_kind: str | None  # "updatedAt" filter, or None
    ordered: bool  # True when pages come in ascending updatedAt order
    newest_first: bool = False
    incremental: bool = True


STRATEGIES: dict[str, Strategy] = {
    "clients": Strategy("sync/clients", "clients", "updatedAt", ordered=True),
    "invoices": Strategy("sync/invoices", "invoices", "updatedAt", ordered=True),
    "quotes": Strategy("sync/quotes", "quotes", "updatedAt", ordered=False),
    "jobs": Strategy("sync/jobs", "jobs", None, ordered=False, newest_first=True),
    "users": Strategy("sync/users", "users", None, ordered=False, incremental=False),
    "properties": Strategy("sync/properties", "properties", None, ordered=False, incremental=False),
}


@dataclass
class ResourceResult:
    """What one resource's sync did (the numbers of the run's artifact)."""

    resource: str
    mode: str
    created: dict[str, int] = field(default_factory=dict)
    updated: dict[str, int] = field(default_factory=dict)
    unchanged: dict[str, int] = field(default_factory=dict)
    deleted: int = 0
    records: int = 0
    pages: int = 0
    api_calls: int = 0
    cost: float = 0.0
    throttled: int = 0
    rate_limited: int = 0
    seconds: float = 0.0
    resumed: bool = False
    issues: list[RecordIssue] = field(default_factory=list)


ProgressCallback = Callable[[str, int, int], None]  # (resource, records so far, pages so far)


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _pages(
    client: JobberClient, document: str, path: str, variables: Mapping[str, Any], after: str | None, page_size: int
) -> Iterator[tuple[list[dict[str, Any]], str | None, bool]]:
    """Yield (nodes, endCursor, hasNextPage) page by page, adapting the page size to the cost budget."""
    first = page_size
    while True:
        data = client.execute(document, {**variables, "first": first, "after": after})
        connection = data.get(path) or {}
        nodes = [n for n in connection.get("nodes") or [] if isinstance(n, dict)]
        info = connection.get("pageInfo") or {}
        after = info.get("endCursor")
        more = bool(info.get("hasNextPage")) and bool(after) and bool(nodes)
        yield nodes, after, more
        if not more:
            return
        cost = client.last_cost
        if cost is not None and cost.requested:
            per_node = cost.requested / max(first, 1)
            fits = int((cost.maximum_available * 0.5) // max(per_node, 1e-9))
            first = max(1, min(100, fits, first * 2))  # grow gently: a page that fails costs less


def _store_page(
    engine: Engine,
    nodes: list[dict[str, Any]],
    resource: str,
    account_key: str,
    result: ResourceResult,
    on_commit: Callable[[Any], None],
) -> UpsertCounts:
    """Map and upsert one page and run `on_commit(session)` in the same transaction."""
    fetched_at = datetime.now(UTC)
    mapper = MAPPERS[resource]
    records: list[MappedRecord] = []
    for node in nodes:
        try:
            record = mapper(node, fetched_at=fetched_at, account_key=account_key)
        except ValueError as exc:
            result.issues.append(RecordIssue(resource, None, f"could not store: {exc}"))
            continue
        records.append(record)
        for stack in [record]:
            result.issues.extend(stack.issues)
            for related in stack.related:
                result.issues.extend(related.issues)
    with unit_of_work(engine) as session:
        try:
            with session.begin_nested():
                counts = upsert_records(session, records)
        except DBAPIError:
            counts = UpsertCounts()
            for record in records:
                try:
                    with session.begin_nested():
                        counts.merge(upsert_records(session, [record]))
                except DBAPIError as exc:
                    reason = str(exc.orig).splitlines()[0] if exc.orig else type(exc).__name__
                    result.issues.append(RecordIssue(resource, record.row.get("id"), f"could not store: {reason}"))
        on_commit(session)
    return counts


def sync_resource(
    client: JobberClient,
    engine: Engine,
    resource: str,
    *,
    full: bool = False,
    account_key: str = "default",
    page_size: int = 50,
    progress: ProgressCallback | None = None,
) -> ResourceResult:
    """Sync one resource; commits page by page. Jobber errors propagate (the next run resumes)."""
    strategy = STRATEGIES[resource]
    mode = "full" if full or not strategy.incremental else "incremental"
    result = ResourceResult(resource=resource, mode=mode)
    started = time.monotonic()
    stats_before = client.stats.as_dict()
    document = load_document(strategy.document)
    with unit_of_work(engine) as session:
        mark = get_watermark(session, account_key=account_key, resource=resource)
        watermark, cursor = mark.watermark, mark.resume_cursor
        since, high_water = mark.resume_since, mark.resume_high_water
    if cursor:
        result.resumed = True
    else:
        since = None if mode == "full" or watermark is None else watermark - OVERLAP
        high_water = None
    variables: dict[str, Any] = {}
    if strategy.filter_kind == "updatedAt" and since is not None:
        variables["filter"] = {"updatedAt": {"after": _iso(since)}}
    seen: set[str] = set()
    totals = UpsertCounts()
    reached_end = False
    for nodes, end_cursor, more in _pages(client, document, strategy.path, variables, cursor, page_size):
        stop = False
        if strategy.newest_first and mode == "incremental" and watermark is not None:
            keep = []
            for node in nodes:
                updated = parse_time(node.get("updatedAt"))
                if updated is not None and updated < watermark - OVERLAP:
                    stop = True
                    break
                keep.append(node)
            nodes = keep
        seen.update(str(n["id"]) for n in nodes if n.get("id"))
        page_high = latest(parse_time(n.get("updatedAt")) for n in nodes)
        high_water = latest([high_water, page_high])
        finished = stop or not more

        advance = partial(
            _advance,
            strategy=strategy,
            account_key=account_key,
            resource=resource,
            page_high=page_high,
            high_water=high_water,
            since=since,
            end_cursor=end_cursor,
            finished=finished,
        )
        totals.merge(_store_page(engine, nodes, resource, account_key, result, advance))
        result.records += len(nodes)
        result.pages += 1
        if progress is not None:
            progress(resource, result.records, result.pages)
        if finished:
            reached_end = not stop
            break
    if mode == "full" and reached_end and not result.resumed:
        result.deleted = _delete_missing(engine, resource, account_key, seen)
    result.created, result.updated, result.unchanged = (
        dict(totals.created),
        dict(totals.updated),
        dict(totals.unchanged),
    )
    after = client.stats.as_dict()
    result.api_calls = int(after["requests"] - stats_before["requests"])
    result.cost = after["cost_actual"] - stats_before["cost_actual"]
    result.throttled = int(after["throttled"] - stats_before["throttled"])
    result.rate_limited = int(after["rate_limited"] - stats_before["rate_limited"])
    result.seconds = time.monotonic() - started
    return result


def _advance(
    session: Any,
    *,
    strategy: Strategy,
    account_key: str,
    resource: str,
    page_high: datetime | None,
    high_water: datetime | None,
    since: datetime | None,
    end_cursor: str | None,
    finished: bool,
) -> None:
    """Move the watermark (or the resume cursor) in the transaction that commits the page."""
    mark = get_watermark(session, account_key=account_key, resource=resource)
    if strategy.ordered:
        mark.watermark = latest([mark.watermark, page_high])
        mark.resume_cursor = None
    elif finished:
        mark.watermark = latest([mark.watermark, high_water])
        mark.resume_cursor = mark.resume_since = mark.resume_high_water = None
    else:
        mark.resume_cursor, mark.resume_since, mark.resume_high_water = end_cursor, since, high_water
    if finished:
        mark.last_success_at = datetime.now(UTC)


def _delete_missing(engine: Engine, resource: str, account_key: str, seen: set[str]) -> int:
    model = SYNCED_MODELS[resource]
    table = model.__table__  # type: ignore[attr-defined]
    with unit_of_work(engine) as session:
        stored = set(session.scalars(select(table.c.id).where(table.c.account_key == account_key)))
        gone = sorted(stored - seen)
        for start in range(0, len(gone), 500):
            session.execute(delete(table).where(table.c.id.in_(gone[start : start + 500])))
    return len(gone)


def sync_all(
    client: JobberClient,
    engine: Engine,
    *,
    resources: tuple[str, ...] = RESOURCES,
    full: bool = False,
    account_key: str = "default",
    progress: ProgressCallback | None = None,
) -> list[ResourceResult]:
    """Sync every resource in order (users and clients before the jobs and invoices that refer to them)."""
    return [
        sync_resource(client, engine, resource, full=full, account_key=account_key, progress=progress)
        for resource in resources
        if resource != "properties" or full
    ]
