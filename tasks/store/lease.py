"""One lease/claim queue: take rows for a while with a fencing token, renew, release; never twice at once.

Three tables are worked as queues: review requests (tasks/reviews/ledger.py), the Slack outbox
(tasks/slack/outbox.py) and the inbox's event work (tasks/events/queue.py). Each keeps its own states
and due rules; this module is how any of them is claimed and how every later write is fenced:

- `claim`: one conditional UPDATE that sets a fresh token (and the caller's lease columns) on up to
  `limit` rows that are claimable, oldest first: `UPDATE ... WHERE id IN (SELECT id ... FOR UPDATE SKIP
  LOCKED) AND <claimable>`. On PostgreSQL a second worker skips the rows the first has locked, and the
  claimable condition is re-evaluated on the committed row, so of any number of racing workers exactly
  one takes a row; on SQLite the statement runs under the database's write lock. The rows taken come
  back from the same statement (RETURNING). The caller's claimable condition includes "the holder's
  lease ran out", so a crashed worker's rows come back.
- `renew` and `release`: UPDATEs `WHERE id IN (:ids) AND token = :token AND <held>`. A worker that
  stalled past its lease, whose rows another worker has since claimed (a new token), matches nothing:
  its write is refused (the count says so) and it must stop. Renew in the transaction that writes
  whatever must not happen twice (a delivery row before a provider call): the renewal and that write
  commit together, or neither does.

Works on a Session or a Connection (both `execute` Core statements) in the caller's transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Column, ColumnElement, Table, and_, select, true, update
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

Executor = Session | Connection


def new_token() -> str:
    """A fencing token: unique per claim."""
    return uuid.uuid4().hex


@dataclass(frozen=True)
class Claimed:
    """What one `claim` took: its token and the ids it holds (empty when another worker was first)."""

    token: str
    ids: tuple[int, ...]

    def __bool__(self) -> bool:
        return bool(self.ids)


@dataclass(frozen=True)
class LeaseQueue:
    """A table worked as a queue: its id and token columns, and what "still held" means besides the token
    (a status such as `claimed`: a row finished by its holder is no longer held even with its token)."""

    table: Table
    token_column: str
    held: ColumnElement[bool] | None = None
    id_column: str = "id"

    @property
    def _id(self) -> Column[Any]:
        return self.table.c[self.id_column]

    @property
    def _token(self) -> Column[Any]:
        return self.table.c[self.token_column]

    def claim(
        self,
        executor: Executor,
        *,
        claimable: ColumnElement[bool],
        values: Mapping[str, Any],
        limit: int = 1,
        order_by: Sequence[Any] = (),
        token: str | None = None,
    ) -> Claimed:
        """Take up to `limit` rows matching `claimable` (oldest first by `order_by`, then id), setting
        `values` and a fresh token. Returns the token and the ids taken."""
        token = token or new_token()
        # A CTE, evaluated once: PostgreSQL may rescan an `IN (SELECT ... LIMIT n FOR UPDATE SKIP LOCKED)`
        # subquery while the UPDATE runs, and a rescan skips the rows just taken and returns the next ones,
        # so more than `limit` rows would be claimed. A locking CTE is materialized.
        candidates = (
            select(self._id)
            .where(claimable)
            .order_by(*order_by, self._id)
            .limit(limit)
            .with_for_update(skip_locked=True)
            .cte("lease_candidates")
            .prefix_with("MATERIALIZED", dialect="postgresql")
        )
        ids = executor.execute(
            update(self.table)
            .where(self._id.in_(select(candidates.c[self.id_column])), claimable)
            .values({self.token_column: token, **values})
            .returning(self._id)
            .execution_options(synchronize_session=False)
        ).scalars()
        return Claimed(token, tuple(sorted(int(i) for i in ids)))

    def renew(self, executor: Executor, token: str, ids: Iterable[int], values: Mapping[str, Any]) -> int:
        """Write `values` on the rows `token` still holds; the number written (0: the claim was lost)."""
        return self._fenced_update(executor, token, ids, dict(values))

    def release(self, executor: Executor, token: str, ids: Iterable[int], values: Mapping[str, Any]) -> int:
        """Leave the claim (token cleared) with `values` as the rows' new state; the number released (0:
        the claim was lost and another worker's state stands)."""
        return self._fenced_update(executor, token, ids, {**values, self.token_column: None})

    def holds(self, executor: Executor, token: str, ids: Iterable[int]) -> set[int]:
        """The ids among `ids` that `token` still holds."""
        return {int(i) for i in executor.execute(select(self._id).where(self._fence(token, ids))).scalars()}

    def _fence(self, token: str, ids: Iterable[int] | None = None) -> ColumnElement[bool]:
        held = self.held if self.held is not None else true()
        if ids is None:
            return and_(self._token == token, held)
        return and_(self._id.in_(list(ids)), self._token == token, held)

    def _fenced_update(self, executor: Executor, token: str, ids: Iterable[int], values: dict[str, Any]) -> int:
        result = executor.execute(
            update(self.table)
            .where(self._fence(token, ids))
            .values(values)
            .execution_options(synchronize_session=False)
        )
        return int(getattr(result, "rowcount", 0) or 0)
