"""`jobberflow schema ...`: pull a version of Jobber's GraphQL schema, check the project's documents."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from .output import console, fail

app = typer.Typer(help="Jobber's GraphQL schema: pull a version, check the project's documents.", no_args_is_help=True)


@app.command("pull")
def schema_pull(
    version: Annotated[str, typer.Option(help="The Jobber API version to download, e.g. 2026-05-12.")],
) -> None:
    """Download the live schema of a version (introspection, your token), store it, and check our documents."""
    from tasks.jobber.factory import build_token_provider
    from tasks.jobber.schema_tools import check_documents, load_schema, pull_schema
    from tasks.settings import get_settings

    settings = get_settings()
    token = build_token_provider(settings).access_token()
    path = pull_schema(graphql_url=settings.graphql_url, api_version=version, access_token=token)
    console.print(f"Stored {path}")
    _report_problems(check_documents(load_schema(version)), version)


@app.command("check")
def schema_check(version: Annotated[str, typer.Option(help="A stored schema version.")] = "2025-04-16") -> None:
    """Validate every GraphQL document the project sends against a stored schema version."""
    from tasks.jobber.schema_tools import check_documents, load_schema

    try:
        schema = load_schema(version)
    except FileNotFoundError as exc:
        raise fail(str(exc)) from exc
    _report_problems(check_documents(schema), version)


def _report_problems(problems: list[Any], version: str) -> None:
    if not problems:
        console.print(f"[green]Every document is valid against Jobber API {version}.[/]")
        return
    table = Table("document", "problem")
    for problem in problems:
        table.add_row(problem.name, problem.message)
    console.print(table)
    raise fail(f"{len(problems)} problem(s) against Jobber API {version}: fix them before switching JOBBER_API_VERSION")
