"""`jobberflow db ...`: the project's database (DATABASE_URL; SQLite by default)."""

from __future__ import annotations

from typing import Annotated

import typer

from .output import console

app = typer.Typer(help="The project's database (DATABASE_URL; SQLite by default).", no_args_is_help=True)


@app.command("upgrade")
def db_upgrade(url: Annotated[str | None, typer.Option(help="Default: DATABASE_URL.")] = None) -> None:
    """Create or upgrade the project's tables (Alembic migrations to head)."""
    from tasks.settings import get_settings
    from tasks.store.migrate import upgrade_database

    target = url or get_settings().resolved_database_url
    upgrade_database(target)
    console.print(f"Database at {target.split('@')[-1]} is at the latest schema.")
