"""`jobberflow sync ...`: copy Jobber's records into the database now, and compare the two."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from .output import console, fail

app = typer.Typer(help="Copy Jobber's records into the database (DATABASE_URL).", no_args_is_help=True)


@app.command("run")
def sync_run(
    full: Annotated[
        bool, typer.Option("--full", help="Backfill everything and delete what Jobber no longer has.")
    ] = False,
    resource: Annotated[list[str] | None, typer.Option(help="Only these resources (repeatable).")] = None,
) -> None:
    """Sync now from the command line, with a progress bar (the scheduled flow does the same every 15 min)."""
    from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from tasks.jobber.factory import get_jobber_client
    from tasks.store.db import get_engine
    from tasks.store.migrate import require_current_schema
    from tasks.sync.reconcile import RESOURCES, sync_resource

    chosen = [r for r in (resource or list(RESOURCES)) if r != "properties" or full or resource]
    unknown = sorted(set(chosen) - set(RESOURCES))
    if unknown:
        raise fail(f"unknown resources {unknown}; choose from {list(RESOURCES)}")
    require_current_schema()  # fails at once, naming `jobberflow db upgrade`; never migrates
    client, engine = get_jobber_client(), get_engine()
    table = Table("resource", "mode", "read", "created", "updated", "deleted", "API calls", "cost", "seconds", "issues")
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.fields[records]}"),
        TimeElapsedColumn(),
        console=console,
    ) as progress:
        overall = progress.add_task("sync", total=len(chosen), records="")
        for name in chosen:
            progress.update(overall, description=f"syncing {name}")

            def on_page(_r: str, records: int, pages: int) -> None:
                progress.update(overall, records=f"{records} records, {pages} pages")

            r = sync_resource(client, engine, name, full=full, progress=on_page)
            progress.advance(overall)
            table.add_row(
                name,
                r.mode,
                str(r.records),
                str(r.created.get(name, 0)),
                str(r.updated.get(name, 0)),
                str(r.deleted),
                str(r.api_calls),
                f"{r.cost:.0f}",
                f"{r.seconds:.1f}",
                str(len(r.issues)),
            )
    console.print(table)


@app.command("accuracy")
def sync_accuracy(sample: int = 20) -> None:
    """Compare Jobber with the database: counts, and a sample of records field by field."""
    from tasks.jobber.factory import get_jobber_client
    from tasks.store.db import get_engine
    from tasks.sync.accuracy import COMPARED, accuracy_markdown, compare_resource

    client, engine = get_jobber_client(), get_engine()
    console.print(accuracy_markdown([compare_resource(client, engine, r, sample=sample) for r in COMPARED]))
