"""Record the Jobber API budget and counters in the database, so the gateway's /metrics can show them.

Flows call Jobber from their own processes; the gateway cannot see those clients. The recorder writes
the client's last `throttleStatus` and the counters' growth at most every few seconds (and at exit).
"""

from __future__ import annotations

import atexit
import logging
import threading
import time
from collections.abc import Callable

from sqlalchemy import Engine, select
from sqlalchemy.exc import SQLAlchemyError

from tasks.jobber.client import JobberClient
from tasks.store.db import unit_of_work
from tasks.store.models import JobberApiUsage

log = logging.getLogger(__name__)

COUNTERS = {
    "requests": "requests_total",
    "throttled": "throttled_total",
    "rate_limited": "rate_limited_total",
    "cost_actual": "cost_total",
}


class UsageRecorder:
    """Callable hooked on a JobberClient: `recorder(client)` after each call, cheap unless a write is due."""

    def __init__(
        self, engine: Engine, *, account_key: str, interval_s: float = 10.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._engine = engine
        self._account_key = account_key
        self._interval_s = interval_s
        self._clock = clock
        self._lock = threading.Lock()
        self._last_flush: float | None = None
        self._flushed: dict[str, float] = dict.fromkeys(COUNTERS, 0.0)
        self._client: JobberClient | None = None
        atexit.register(self.flush)

    def __call__(self, client: JobberClient) -> None:
        self._client = client
        now = self._clock()
        if self._last_flush is None or now - self._last_flush >= self._interval_s:
            self.flush()

    def flush(self) -> None:
        client = self._client
        if client is None:
            return
        with self._lock:
            self._last_flush = self._clock()
            stats = client.stats.as_dict()
            deltas = {column: stats[name] - self._flushed[name] for name, column in COUNTERS.items()}
            cost = client.last_cost
            try:
                with unit_of_work(self._engine) as session:
                    row = session.scalars(
                        select(JobberApiUsage).where(JobberApiUsage.account_key == self._account_key)
                    ).first()
                    if row is None:
                        row = JobberApiUsage(
                            account_key=self._account_key,
                            requests_total=0,
                            throttled_total=0,
                            rate_limited_total=0,
                            cost_total=0.0,
                        )
                        session.add(row)
                    row.requests_total = int((row.requests_total or 0) + deltas["requests_total"])
                    row.throttled_total = int((row.throttled_total or 0) + deltas["throttled_total"])
                    row.rate_limited_total = int((row.rate_limited_total or 0) + deltas["rate_limited_total"])
                    row.cost_total = float((row.cost_total or 0.0) + deltas["cost_total"])
                    if cost is not None:
                        row.points_available = cost.currently_available
                        row.points_maximum = cost.maximum_available
                        row.restore_rate = cost.restore_rate
            except SQLAlchemyError as exc:
                log.debug("could not record Jobber API usage: %s", exc)
                return
            self._flushed = {name: stats[name] for name in COUNTERS}


def read_usage(engine: Engine) -> list[JobberApiUsage]:
    """Every account's recorded usage (empty when nothing has called Jobber yet)."""
    with unit_of_work(engine) as session:
        return list(session.scalars(select(JobberApiUsage)))
