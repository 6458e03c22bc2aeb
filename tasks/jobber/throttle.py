"""Pacing against Jobber's query-cost leaky bucket (backoff and Retry-After are tasks/retry.py's).

Every Jobber response carries `extensions.cost.throttleStatus` (maximumAvailable, currentlyAvailable,
restoreRate). `CostPacer` keeps the last reading, predicts how full the bucket is now (it refills at
restoreRate points per second) and, before a request whose cost it expects, sleeps just long enough
for the bucket to hold that cost. So a long read runs at the bucket's restore rate without ever being
answered THROTTLED. Several threads may share one pacer: each request reserves its expected cost.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class QueryCost:
    """`extensions.cost` of one response."""

    requested: float
    actual: float | None
    maximum_available: float
    currently_available: float
    restore_rate: float

    @classmethod
    def from_extensions(cls, extensions: Mapping[str, Any] | None) -> QueryCost | None:
        """Parse `extensions.cost`; None when it is absent or malformed (never raises)."""
        if not isinstance(extensions, Mapping):
            return None
        cost = extensions.get("cost")
        if not isinstance(cost, Mapping):
            return None
        status = cost.get("throttleStatus")
        if not isinstance(status, Mapping):
            return None
        try:
            actual = cost.get("actualQueryCost")
            return cls(
                requested=float(cost.get("requestedQueryCost") or 0),
                actual=float(actual) if actual is not None else None,
                maximum_available=float(status["maximumAvailable"]),
                currently_available=float(status["currentlyAvailable"]),
                restore_rate=float(status["restoreRate"]),
            )
        except (KeyError, TypeError, ValueError):
            return None


class CostPacer:
    """Predicts the bucket's level and waits before a request that would not fit."""

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        max_wait_s: float = 60.0,
    ) -> None:
        self._clock = clock
        self._sleep = sleep
        self._max_wait_s = max_wait_s
        self._lock = threading.Lock()
        self._available: float | None = None
        self._maximum: float = 10_000.0
        self._rate: float = 500.0
        self._at: float = 0.0
        self.total_wait_s = 0.0

    def observe(self, cost: QueryCost) -> None:
        """Take the server's reading of the bucket as the truth."""
        with self._lock:
            self._available = cost.currently_available
            self._maximum = cost.maximum_available
            self._rate = max(cost.restore_rate, 1e-6)
            self._at = self._clock()

    def _predicted(self, now: float) -> float | None:
        if self._available is None:
            return None
        return min(self._maximum, self._available + (now - self._at) * self._rate)

    def known_maximum(self) -> float | None:
        """The bucket's `maximumAvailable` as Jobber last reported it; None before the first reading."""
        with self._lock:
            return None if self._available is None else self._maximum

    def predicted_available(self) -> float | None:
        with self._lock:
            return self._predicted(self._clock())

    def wait_seconds(self, cost: float) -> float:
        """How long a request of `cost` points would have to wait now (0 when unknown)."""
        with self._lock:
            level = self._predicted(self._clock())
            if level is None or cost <= level:
                return 0.0
            return min(self._max_wait_s, (min(cost, self._maximum) - level) / self._rate)

    def reserve(self, cost: float) -> float:
        """Wait until `cost` points are predicted to be available, take them, and return the wait."""
        waited = 0.0
        while True:
            with self._lock:
                now = self._clock()
                level = self._predicted(now)
                if level is None:
                    return waited
                need = min(cost, self._maximum)
                if need <= level:
                    self._available = level - need
                    self._at = now
                    return waited
                delay = min(self._max_wait_s, (need - level) / self._rate)
            self._sleep(delay)
            waited += delay
            self.total_wait_s += delay

    def refund(self, reserved: float, actual: float) -> None:
        """Give back what a request reserved beyond what it actually cost (before the next reading)."""
        if reserved <= actual:
            return
        with self._lock:
            if self._available is not None:
                self._available = min(self._maximum, self._available + reserved - actual)

    def throttled_wait(self, requested: float, cost: QueryCost | None) -> float:
        """Seconds to wait after a THROTTLED answer: (cost - available) / restoreRate, at least 0.5 s."""
        if cost is None:
            return 1.0
        deficit = max(0.0, requested - cost.currently_available)
        return max(0.5, deficit / max(cost.restore_rate, 1e-6))


__all__ = ["CostPacer", "QueryCost"]
