"""Flow: back up the synced data (default daily), check the archive, apply the retention policy, report.

The work is in tasks/store/backup/; this file only orchestrates it. See docs/backups.md.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from uuid import UUID

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from tasks.events.queue import INBOX_RETENTION, PruneResult, prune
from tasks.settings import get_settings
from tasks.store.backup import (
    BackupManifest,
    apply_retention,
    create_backup,
    render_backup_markdown,
    verify_backup,
)


@task(name="backup-create", task_run_name="snapshot the database", cache_policy=NO_CACHE)
def create_backup_task(backup_dir: Path) -> BackupManifest:
    """Snapshot DATABASE_URL into `backup_dir` (the URL is read here so it never becomes a task parameter)."""
    return create_backup(database_url=get_settings().resolved_database_url, backup_dir=backup_dir)


@task(name="backup-verify", task_run_name="verify {manifest_path.name}", cache_policy=NO_CACHE)
def verify_backup_task(manifest_path: Path) -> None:
    """Re-read the archive just written and compare its SHA-256 with the manifest."""
    verify_backup(manifest_path)


@task(name="backup-retention", task_run_name="apply retention", cache_policy=NO_CACHE)
def apply_retention_task(backup_dir: Path, keep_last: int, keep_daily: int) -> list[Path]:
    """Delete snapshots outside the policy; returns the deleted files."""
    return apply_retention(backup_dir, keep_last=keep_last, keep_daily=keep_daily)


@task(name="inbox-retention", task_run_name="prune the webhook inbox", cache_policy=NO_CACHE)
def prune_inbox_task(retention_days: int) -> PruneResult:
    """Delete processed, relayed inbox rows older than `retention_days` (after the snapshot, which keeps them);
    failed (poison) rows are kept and counted."""
    from tasks.store.db import get_engine

    return prune(get_engine(get_settings().resolved_database_url), retention=timedelta(days=retention_days))


def _rename_run(name: str) -> None:
    """Give this flow run a name that says what it did (known only once the snapshot exists)."""
    from prefect.client.orchestration import get_client
    from prefect.runtime import flow_run

    run_id = flow_run.get_id()
    if run_id is None:
        return
    try:
        with get_client(sync_client=True) as client:
            client.update_flow_run(flow_run_id=UUID(run_id), name=name)
    except Exception as exc:  # noqa: BLE001 - a cosmetic rename must not fail a good backup
        get_run_logger().warning("could not rename the flow run: %s", exc)


@flow(name="jobber-backup", log_prints=False)
def jobber_backup(
    keep_last: int = 7,
    keep_daily: int = 30,
    backup_dir: str | None = None,
    inbox_retention_days: int = INBOX_RETENTION.days,
) -> BackupManifest:
    """Snapshot the synced data, verify the archive, keep the newest `keep_last` snapshots plus one a day for
    `keep_daily` days, and leave a Markdown artifact with the manifest. Default folder: JOBBERFLOW_HOME/backups.
    Then prune the webhook inbox (processed, relayed rows older than `inbox_retention_days`; failed rows are
    kept and reported)."""
    logger = get_run_logger()
    folder = Path(backup_dir) if backup_dir else get_settings().jobberflow_home / "backups"
    manifest = create_backup_task(folder)
    verify_backup_task(manifest.path)
    deleted = apply_retention_task(folder, keep_last, keep_daily)
    logger.info(
        "backup %s: %d rows, %d bytes; retention deleted %d files",
        manifest.archive,
        manifest.total_rows,
        manifest.archive_bytes,
        len(deleted),
    )
    pruned = prune_inbox_task(inbox_retention_days)
    logger.info("inbox retention: deleted %d rows received before %s", pruned.deleted, pruned.cutoff.isoformat())
    if pruned.failed_kept:
        logger.warning(
            "inbox: %d failed (poison) rows kept for someone to look at (work_state = 'failed')", pruned.failed_kept
        )
    _rename_run(f"backup: {manifest.total_rows} rows -> {manifest.archive}")
    create_markdown_artifact(
        key="jobber-backup",
        markdown=render_backup_markdown(manifest, deleted)
        + f"\n\nInbox retention: {pruned.deleted} processed rows deleted (received before {pruned.cutoff:%Y-%m-%d});"
        f" {pruned.failed_kept} failed rows kept for review.\n",
        description=f"Backup {manifest.archive}: {manifest.total_rows} rows",
    )
    return manifest


if __name__ == "__main__":
    jobber_backup()
