"""Wake-ups: the relay submits ONE background task run (`handle_jobber_events.delay()`) for many events.

The task run carries no parameters: it reads its work from the inbox. So the relay only has to make sure
that while claimable work exists, a wake-up is in flight:

- when work arrives (or a probe, about once a second, finds work left behind) and no wake-up is in
  flight, it submits one;
- a wake-up is in flight while its task run is SCHEDULED, PENDING or RUNNING; one that stays SCHEDULED
  longer than `stale_after_s` (no event worker connected, or a Prefect restart lost its queue) no longer
  counts, so the next one is submitted then, not one per webhook;
- one that stays RUNNING longer than `running_stale_after_s` (the inbox lease, 5 minutes) no longer counts
  either: its worker may have died under it (kill -9, OOM), and Prefect never ends such a background task
  run, so it would block every later wake-up for ever (found by bench/chaos_soak.py); by then the rows it
  claimed are claimable again, and the claims are fenced, so a second run next to a slow live one is safe;
- `max_in_flight` > 1 (several event workers) adds a wake-up only while a backlog of more than
  `backlog_per_run` events waits, so a quiet day costs one run per burst of webhooks, not two.

A wake-up Prefect drops only delays work: the rows stay pending, the next probe (or the `jobber-events`
sweep deployment) finds them. A wake-up that goes stale (no event worker took it) also calls `on_stalled`:
the relay then emits the Prefect event `jobberflow.events.stalled`, whose trigger in prefect.yaml starts a
`jobber-events` deployment run, so the work gets done by the work pool even with no event worker running.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine

from tasks.events.queue import DEFAULT_LEASE

log = logging.getLogger(__name__)

IN_FLIGHT = frozenset({"SCHEDULED", "PENDING", "RUNNING"})


def submit_wakeup() -> Any:
    """Submit one background task run of the event handler; its task run id."""
    from flows.jobber_events import handle_jobber_events

    return handle_jobber_events.delay().task_run_id


_clients: dict[str, Any] = {}


def task_run_state(task_run_id: Any) -> str | None:
    """The state type of a task run ("SCHEDULED", "RUNNING", "COMPLETED" ...), None when unknown. The relay
    asks several times a second while a wake-up is in flight: one client per process, not one per call."""
    from deployments.gateway.relay import prefect_client

    client = _clients.get("state")
    if client is None:
        client = prefect_client()
        client.__enter__()
        _clients["state"] = client
    try:
        run = client.read_task_run(task_run_id)
    except Exception:
        _clients.pop("state", None)  # a broken connection: the next call builds a new client
        raise
    return run.state.type.value if run.state is not None else None


@dataclass
class _Wake:
    task_run_id: Any
    submitted_at: float


@dataclass
class Waker:
    """Decides when to submit a wake-up (see the module docstring). Not thread-safe: one relay owns it."""

    engine: Engine
    submit: Callable[[], Any] = submit_wakeup
    read_state: Callable[[Any], str | None] = task_run_state
    max_in_flight: int = 1
    backlog_per_run: int = 200
    stale_after_s: float = 30.0
    running_stale_after_s: float = DEFAULT_LEASE.total_seconds()
    probe_every_s: float = 1.0
    check_every_s: float = 0.25
    clock: Callable[[], float] = time.monotonic
    on_stalled: Callable[[int], None] | None = None  # (events waiting) -> None
    submitted: int = 0
    stalled: int = 0
    _in_flight: list[_Wake] = field(default_factory=list)
    _last_probe: float = float("-inf")
    _last_check: float = float("-inf")

    def _still_in_flight(self) -> list[_Wake]:
        now = self.clock()
        alive = []
        for wake in self._in_flight:
            try:
                state = self.read_state(wake.task_run_id)
            except Exception as exc:  # noqa: BLE001 - unknown: count it as in flight until it is stale
                log.debug("Could not read wake-up %s: %s", wake.task_run_id, type(exc).__name__)
                state = "SCHEDULED"
            if state not in IN_FLIGHT:
                continue
            if state == "RUNNING" and now - wake.submitted_at > self.running_stale_after_s:
                log.warning("Wake-up %s still RUNNING after %.0f s, longer than the inbox lease (did its event "
                            "worker die?): no longer counted as in flight", wake.task_run_id,
                            now - wake.submitted_at)  # fmt: skip
                continue
            if state == "SCHEDULED" and now - wake.submitted_at > self.stale_after_s:
                log.warning("Wake-up %s still not started after %.0f s (is an event worker running?): submitting "
                            "another and asking the jobber-events deployment", wake.task_run_id,
                            now - wake.submitted_at)  # fmt: skip
                self._stalled()
                continue
            alive.append(wake)
        return alive

    def _stalled(self) -> None:
        self.stalled += 1
        if self.on_stalled is None:
            return
        try:
            self.on_stalled(self._claimable())
        except Exception as exc:  # noqa: BLE001 - the sweep's schedule still covers it
            log.info("Could not report the stalled wake-up: %s", type(exc).__name__)

    def _claimable(self) -> int:
        from tasks.events.queue import claimable_count

        return claimable_count(self.engine)

    def poke(self, *, work_arrived: bool) -> bool:
        """Called by the relay on every turn; submits a wake-up when one is needed. True if it did."""
        now = self.clock()
        if not work_arrived and not self._in_flight and now - self._last_probe < self.probe_every_s:
            return False
        if self._in_flight:
            if now - self._last_check < self.check_every_s:
                return False  # a wake-up is in flight; its state was read a moment ago
            self._last_check = now
            self._in_flight = self._still_in_flight()
        if len(self._in_flight) >= self.max_in_flight:
            return False
        if self._in_flight or not work_arrived:
            self._last_probe = now
            waiting = self._claimable()
            if waiting == 0 or (self._in_flight and waiting <= self.backlog_per_run * len(self._in_flight)):
                return False
        self._in_flight.append(_Wake(self.submit(), now))
        self.submitted += 1
        return True


__all__ = ["Waker", "submit_wakeup", "task_run_state"]
