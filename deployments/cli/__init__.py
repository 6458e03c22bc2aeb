"""`jobberflow`: the project's command line (Typer). Every sub-command has --help.

One module per sub-command; this module only assembles them into ``app`` and runs it from ``main``.
The groups (``sandbox``, ``jobber``, ``schema``, ``db``, ``sync``, ``backup``, ``reviews``) are Typer apps
of their own; ``gateway``, ``relay``, ``worker``, ``serve`` and ``demo`` are single commands. Every module
imports what its commands need inside the command, so ``jobberflow --help`` stays fast and the production
commands never load the developer tools of ``sandbox/`` (only ``jobberflow sandbox serve`` and
``jobberflow demo`` import that package, when they run).
"""

from __future__ import annotations

import logging
import sys

import typer

from tasks.errors import ConfigurationError, JobberflowError

from . import backup, db, demo, gateway, jobber, reviews, sandbox, schema, serve, sync, worker
from .output import err

app = typer.Typer(
    help="Jobber automations on Prefect: sandbox, Jobber actions, schema, database, demo.", no_args_is_help=True
)
app.add_typer(sandbox.app, name="sandbox")
app.add_typer(jobber.app, name="jobber")
app.add_typer(schema.app, name="schema")
app.add_typer(db.app, name="db")
app.add_typer(backup.app, name="backup")
app.add_typer(reviews.app, name="reviews")
app.add_typer(sync.app, name="sync")
app.command("gateway")(gateway.gateway)
app.command("relay")(gateway.relay)
app.command("worker")(worker.worker)
app.command("serve")(serve.serve_deployments)
app.command("demo")(demo.demo)

__all__ = ["app", "main"]


def main() -> None:
    """Entry point of the `jobberflow` script: clean errors instead of stack traces."""
    from tasks.settings import get_settings

    try:
        level = get_settings().jobberflow_log_level
    except ConfigurationError:
        level = "WARNING"  # the command itself reports the bad setting, naming it
    logging.basicConfig(level=level.upper())
    try:
        app()
    except JobberflowError as exc:
        err.print(f"[bold red]error:[/] {exc}")
        sys.exit(1)
