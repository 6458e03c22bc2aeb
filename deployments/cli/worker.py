"""`jobberflow worker`: an event worker, the process that does the work of Jobber events."""

from __future__ import annotations

import os
from typing import Annotated

import typer


def worker(
    limit: Annotated[int, typer.Option(help="Event task runs this worker runs at once.")] = 2,
    nice: Annotated[
        int, typer.Option(help="CPU niceness: on a shared machine the gateway's acknowledgements come first.")
    ] = 5,
) -> None:
    """Run an event worker: a Prefect background-task worker that does the work of Jobber events
    (refresh, review requests, Slack). Run one or more; the relay wakes them (RELAY_MAX_WAKEUPS)."""
    from flows.jobber_events import serve_event_worker

    if nice > 0 and hasattr(os, "nice"):
        os.nice(nice)  # throughput work yields to Jobber's 1-second webhook deadline
    serve_event_worker(limit=limit)
