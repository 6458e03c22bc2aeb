"""Migrations run at `jobberflow db upgrade` and at process start; runs only check the schema, once per
process, and fail fast naming the command when it is not current."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from tasks.errors import SchemaNotCurrent
from tasks.settings import reset_settings_cache
from tasks.store import migrate
from tasks.store.db import dispose_engines, get_engine
from tasks.store.migrate import head_revision, require_current_schema, stored_revision, upgrade_database


@pytest.fixture
def alembic_upgrades(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every `alembic.command.upgrade` this process makes while the test runs (URL of each)."""
    from alembic import command

    calls: list[str] = []
    real = command.upgrade

    def counting(config: Any, revision: str, **kwargs: Any) -> None:
        calls.append(str(config.get_main_option("sqlalchemy.url")))
        real(config, revision, **kwargs)

    monkeypatch.setattr(command, "upgrade", counting)
    return calls


@pytest.fixture
def fresh_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """DATABASE_URL at an empty SQLite file; no Jobber OAuth app (a static token)."""
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("JOBBER_API_KEY", "a-static-access-token")
    for name in ("JOBBER_CLIENT_ID", "JOBBER_CLIENT_SECRET", "JOBBER_API_SECRET", "JOBBER_REFRESH_TOKEN"):
        monkeypatch.setenv(name, "")
    reset_settings_cache()
    yield url
    reset_settings_cache()
    dispose_engines()


def test_an_unmigrated_database_fails_fast_naming_the_command(fresh_env: str) -> None:
    with pytest.raises(SchemaNotCurrent, match="has no jobberflow schema yet: run `jobberflow db upgrade`") as info:
        require_current_schema()
    assert info.value.revision is None and info.value.head == head_revision()
    upgrade_database()
    require_current_schema()  # current now


def test_a_database_at_another_revision_names_both(fresh_env: str) -> None:
    upgrade_database()
    with get_engine().begin() as conn:
        conn.execute(sa.text("UPDATE alembic_version SET version_num = 'from_a_newer_jobberflow'"))
    with pytest.raises(SchemaNotCurrent, match=f"from_a_newer_jobberflow, this jobberflow needs {head_revision()}"):
        require_current_schema()


def test_the_check_is_one_read_per_engine_and_process(fresh_env: str, monkeypatch: pytest.MonkeyPatch) -> None:
    upgrade_database()
    reads: list[sa.Engine] = []

    def counting(engine: sa.Engine) -> str | None:
        reads.append(engine)
        return stored_revision(engine)

    monkeypatch.setattr(migrate, "stored_revision", counting)
    for _ in range(100):
        require_current_schema()
    assert len(reads) == 1
    dispose_engines()  # a new engine (a new database behind the same URL, in tests) is asked again
    require_current_schema()
    assert len(reads) == 2


@pytest.mark.prefect
def test_a_flow_run_on_an_unmigrated_database_fails_fast(prefect_server: None, fresh_env: str) -> None:
    from flows.review_request import review_dispatch
    from flows.slack_notify import slack_dispatch

    for flow in (review_dispatch, slack_dispatch):
        state = flow(return_state=True)
        assert state.is_failed()
        with pytest.raises(SchemaNotCurrent, match="run `jobberflow db upgrade`"):
            state.result()
    with get_engine().connect() as conn:
        assert sa.inspect(conn).get_table_names() == [], "a run never migrates"


@pytest.mark.prefect
def test_flow_runs_and_the_jobber_client_never_run_alembic(
    prefect_server: None, fresh_env: str, alembic_upgrades: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from flows.review_request import review_dispatch
    from flows.slack_notify import slack_dispatch
    from tasks.jobber.factory import build_token_provider
    from tasks.settings import get_settings

    upgrade_database()
    assert len(alembic_upgrades) == 1
    for _ in range(3):
        review_dispatch()
        slack_dispatch()
    # The OAuth app configured: the client factory uses the database's token store (it used to migrate).
    monkeypatch.setenv("JOBBER_CLIENT_ID", "app-id")
    monkeypatch.setenv("JOBBER_CLIENT_SECRET", "app-secret-value")
    reset_settings_cache()
    for _ in range(3):
        build_token_provider(get_settings())
    assert len(alembic_upgrades) == 1, "only the explicit upgrade ran Alembic"


def test_process_start_migrates(fresh_env: str, monkeypatch: pytest.MonkeyPatch, alembic_upgrades: list[str]) -> None:
    """The gateway, the relay, the runner and the event worker each migrate once when they start."""
    import prefect
    import prefect.task_worker
    import uvicorn

    from deployments.gateway import server
    from deployments.runner import serve_all
    from flows.jobber_events import serve_event_worker

    monkeypatch.setenv("JOBBERFLOW_GATEWAY_RELAY", "off")  # no relay child process in this test
    reset_settings_cache()
    monkeypatch.setattr(uvicorn, "run", lambda *a, **k: None)
    monkeypatch.setattr(prefect, "serve", lambda *a, **k: None)
    monkeypatch.setattr(prefect.task_worker, "serve", lambda *a, **k: None)
    monkeypatch.setattr("deployments.gateway.relay.Relay.run", _no_relay)

    server.run_gateway("127.0.0.1", 0)
    assert stored_revision(get_engine(fresh_env)) == head_revision(), "the gateway migrated at start"
    serve_all(names=["review-dispatch"])
    serve_event_worker()
    server.run_relay()
    assert len(alembic_upgrades) == 4, "one upgrade per process start (a no-op once current)"


async def _no_relay(self: Any) -> None:
    return None
