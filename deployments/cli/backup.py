"""`jobberflow backup ...`: snapshots of the synced data: create, list, verify, restore."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from .output import console, fail

app = typer.Typer(help="Backups of the synced data: create, list, verify, restore.", no_args_is_help=True)

BackupDirOption = Annotated[Path | None, typer.Option(help="Default: <JOBBERFLOW_HOME>/backups.")]


def _backup_dir(backup_dir: Path | None) -> Path:
    from tasks.settings import get_settings

    return backup_dir or get_settings().jobberflow_home / "backups"


@app.command("create")
def backup_create(backup_dir: BackupDirOption = None) -> None:
    """Take a consistent, compressed snapshot of the database now, with its manifest."""
    from tasks.settings import get_settings
    from tasks.store.backup import create_backup

    manifest = create_backup(database_url=get_settings().resolved_database_url, backup_dir=_backup_dir(backup_dir))
    console.print(f"Backed up {manifest.total_rows} rows to {manifest.archive_path}")


@app.command("list")
def backup_list(backup_dir: BackupDirOption = None) -> None:
    """The snapshots in the backup folder, newest first."""
    from tasks.store.backup import list_backups

    table = Table("created", "database", "rows", "archive")
    for manifest in list_backups(_backup_dir(backup_dir)):
        table.add_row(str(manifest.created_at), manifest.database, str(manifest.total_rows), str(manifest.archive_path))
    console.print(table)


@app.command("verify")
def backup_verify(manifest: Path) -> None:
    """Check that a snapshot's archive still matches its manifest (SHA-256)."""
    from tasks.store.backup import verify_backup

    verify_backup(manifest)
    console.print(f"[green]{manifest} is intact.[/]")


@app.command("restore")
def backup_restore(
    manifest: Annotated[Path, typer.Argument(help="The snapshot's .manifest.json file.")],
    database_url: Annotated[str, typer.Option(help="An EMPTY target database (SQLite or PostgreSQL URL).")],
) -> None:
    """Restore a snapshot into an empty database, then check every table against the manifest."""
    from tasks.store.backup import restore_backup

    report = restore_backup(manifest, database_url=database_url)
    mismatches = report.mismatches()
    if mismatches:
        raise fail(f"restored, but these tables differ from the manifest: {', '.join(mismatches)}")
    console.print(f"[green]Restored {sum(report.row_counts.values())} rows; every table matches the manifest.[/]")
