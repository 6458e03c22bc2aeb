"""What a use-case decided for one job: the line a run's artifact shows (plan, send, poll, Make.com)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tasks.reviews.rules.timing import resolve_zone


@dataclass(frozen=True)
class Decision:
    """One line of a run's artifact: what was decided for one job, and why."""

    job: str
    client: str
    status: str  # planned | skipped | duplicate | ignored | sent | failed | cancelled | retrying | deferred
    request_id: int | None = None
    channel: str | None = None
    planned_at: datetime | None = None
    timezone: str | None = None
    reason: str | None = None
    source: str | None = None

    def row(self) -> dict[str, Any]:
        planned = ""
        if self.planned_at is not None:
            local = self.planned_at.astimezone(resolve_zone(self.timezone))
            planned = f"{local:%Y-%m-%d %H:%M} {self.timezone or 'UTC'}"
        return {
            "request": self.request_id or "",
            "job": self.job,
            "client": self.client,
            "channel": self.channel or "",
            "planned (recipient's time)": planned,
            "status": self.status,
            "reason": self.reason or "",
            "source": self.source or "",
        }


def decision_rows(decisions: list[Decision]) -> list[dict[str, Any]]:
    return [d.row() for d in decisions]
