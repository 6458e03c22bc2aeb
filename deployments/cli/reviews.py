"""`jobberflow reviews ...`: preview a review request, list requests, send what is due now."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from .output import console, print_json

app = typer.Typer(help="Review requests: preview a template, list requests, send what is due.", no_args_is_help=True)


@app.command("preview")
def reviews_preview(
    job_id: Annotated[str, typer.Argument(help="The Jobber job id to render for.")],
    settings: Annotated[
        Path | None, typer.Option(help="A JSON/YAML file of ReviewSettings (default: prefect.yaml).")
    ] = None,
    review_link: Annotated[str | None, typer.Option(help="Override the review link for this preview.")] = None,
) -> None:
    """Render the SMS and email a job's customer would get, without sending (refuses an SMS over 3 segments)."""
    from tasks.reviews.cli import preview_text

    overrides = {"review_link": review_link} if review_link else None
    console.print(preview_text(job_id, settings, overrides=overrides), soft_wrap=True, markup=False)


@app.command("list")
def reviews_list(limit: int = 20) -> None:
    """The latest review requests with their status and reason."""
    from tasks.reviews.cli import recent_requests

    rows = recent_requests(limit)
    table = Table("id", "job", "client", "channel", "status", "planned", "sent", "clicked", "reason")
    for row in rows:
        table.add_row(
            *(
                str(row[k])
                for k in ("id", "job", "client", "channel", "status", "planned_at", "sent_at", "clicked", "reason")
            )
        )
    console.print(table)


@app.command("dispatch")
def reviews_dispatch() -> None:
    """Send every due review request and follow-up now (the review-dispatch deployment does it every minute)."""
    from tasks.reviews.cli import dispatch_now

    print_json(dispatch_now())
