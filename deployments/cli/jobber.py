"""`jobberflow jobber ...`: call Jobber (or the sandbox) with the configured credentials."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from .output import console, fail, print_json

app = typer.Typer(help="Call Jobber (or the sandbox) with the configured credentials.", no_args_is_help=True)


def _parse_params(params: list[str]) -> dict[str, Any]:
    parsed: dict[str, Any] = {}
    for item in params:
        if "=" not in item:
            raise fail(f"parameter {item!r} is not NAME=VALUE")
        name, raw = item.split("=", 1)
        try:
            parsed[name.replace("-", "_")] = json.loads(raw)
        except ValueError:
            parsed[name.replace("-", "_")] = raw
    return parsed


@app.command("actions")
def jobber_actions() -> None:
    """List every Jobber action (Make.com's list) and whether Jobber's API offers it."""
    from tasks.jobber.actions import ACTIONS

    table = Table("action", "function", "status")
    for name, func in sorted(ACTIONS.items()):
        doc = (func.__doc__ or "").strip().splitlines()[0] if func.__doc__ else ""
        available = "not offered by Jobber's API" if "not available" in (func.__doc__ or "").lower() else "works"
        table.add_row(name, f"{func.__module__}.{func.__name__}", available if available != "works" else doc)
    console.print(table)


@app.command("call")
def jobber_call(
    action: Annotated[str, typer.Argument(help="An action name from `jobberflow jobber actions`, e.g. jobs.search.")],
    params: Annotated[list[str] | None, typer.Argument(help="NAME=VALUE arguments (VALUE may be JSON).")] = None,
) -> None:
    """Call one Jobber action with the configured credentials and print the result as JSON."""
    from tasks.jobber.actions import ACTIONS
    from tasks.jobber.factory import get_jobber_client

    func = ACTIONS.get(action)
    if func is None:
        raise fail(f"unknown action {action!r}; see `jobberflow jobber actions`")
    print_json(func(get_jobber_client(), **_parse_params(params or [])))


@app.command("query")
def jobber_query(
    document: Annotated[str, typer.Argument(help="A GraphQL document, or @path/to/file.graphql.")],
    variables: Annotated[str | None, typer.Option(help="Variables as JSON.")] = None,
) -> None:
    """Make a raw API call (Make.com's "Make an API call") and print `data` as JSON."""
    from tasks.jobber.factory import get_jobber_client

    text = Path(document[1:]).read_text(encoding="utf-8") if document.startswith("@") else document
    print_json(get_jobber_client().execute(text, json.loads(variables) if variables else None))


@app.command("check")
def jobber_check(max_jobs: int = 500) -> None:
    """Run the connection-check flow: account, recent jobs by status, API budget (an artifact in Prefect)."""
    from flows.jobber_check import jobber_connection_check

    overview = jobber_connection_check(max_jobs=max_jobs)
    console.print(overview.markdown())
