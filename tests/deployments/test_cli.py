"""The `jobberflow` command line, driven as a person would, against a sandbox and a temporary home."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from deployments.cli import app
from sandbox.jobber import SandboxConfig, SandboxServer

runner = CliRunner()


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    from tasks.jobber.factory import reset_jobber_clients
    from tasks.settings import reset_settings_cache
    from tasks.store.db import dispose_engines

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("JOBBERFLOW_HOME", str(tmp_path / "data"))
    for variable in (
        "JOBBER_API_KEY",
        "JOBBER_CLIENT_ID",
        "JOBBER_CLIENT_SECRET",
        "JOBBER_API_SECRET",
        "JOBBER_REFRESH_TOKEN",
        "DATABASE_URL",
        "JOBBER_BASE_URL",
    ):
        monkeypatch.delenv(variable, raising=False)
    reset_settings_cache()
    reset_jobber_clients()
    yield tmp_path
    reset_jobber_clients()
    reset_settings_cache()
    dispose_engines()


@pytest.fixture
def sandbox() -> Iterator[SandboxServer]:
    with SandboxServer(SandboxConfig(seed=21, clients=12, jobs=15, invoices=10, quotes=4, users=3)) as server:
        yield server


def invoke(*args: str) -> str:
    result = runner.invoke(app, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def said(*args: str) -> str:
    """What a command printed, with rich's line wrapping undone."""
    return " ".join(invoke(*args).split())


@pytest.mark.parametrize(
    "command",
    [
        [],
        ["sandbox"],
        ["sandbox", "serve"],
        ["jobber", "call"],
        ["schema", "pull"],
        ["sync", "run"],
        ["backup"],
        ["db", "upgrade"],
        ["demo"],
        ["serve"],
    ],
)
def test_every_command_has_help(command: list[str]) -> None:
    output = invoke(*command, "--help")
    assert "Usage" in output and "--help" in output


def _command_paths() -> list[list[str]]:
    from typer.main import get_command

    def walk(command: Any, path: list[str]) -> list[list[str]]:
        subcommands = getattr(command, "commands", {})
        return [path] + [p for name, sub in sorted(subcommands.items()) for p in walk(sub, [*path, name])]

    return walk(get_command(app), [])


def test_the_cli_keeps_every_command_and_each_answers_help() -> None:
    paths = _command_paths()
    top = sorted(p[0] for p in paths if len(p) == 1)
    assert top == [
        "backup", "db", "demo", "gateway", "jobber", "relay", "reviews", "sandbox", "schema", "serve", "sync", "worker"
    ]  # fmt: skip
    assert len(paths) == 39  # the command line before it became one module per command
    for path in paths:
        output = invoke(*path, "--help")
        assert "Usage" in output, path


def test_the_installed_script_and_python_m_both_run_the_cli() -> None:
    script = Path(sys.executable).with_name("jobberflow")
    for argv in ([str(script), "db", "--help"], [sys.executable, "-m", "deployments.cli", "db", "--help"]):
        done = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
        assert done.returncode == 0 and "upgrade" in done.stdout, (argv, done.stderr)


def test_production_commands_do_not_load_the_sandbox_package() -> None:
    """Only `sandbox serve` and `demo` import sandbox/, when they run; loading the CLI does not."""
    code = "import sys, deployments.cli; print(sorted(m for m in sys.modules if m.split('.')[0] == 'sandbox'))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert done.stdout.strip() == "[]"


def test_schema_check_passes_on_the_bundled_schema() -> None:
    assert "Every document is valid against Jobber API 2025-04-16" in said("schema", "check")


def test_missing_credentials_say_which_variable(home: Path) -> None:
    result = runner.invoke(app, ["jobber", "call", "jobs.search"])
    assert result.exit_code != 0
    assert "JOBBER_API_KEY" in str(result.exception)


def test_newcomer_path_connect_call_close_sync_backup_restore(
    home: Path, sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tasks.errors import SchemaNotCurrent
    from tasks.settings import reset_settings_cache

    # 0. the schema first: before it, a command that needs the database fails at once, naming the command
    with pytest.raises(SchemaNotCurrent, match="run `jobberflow db upgrade`"):
        invoke("sandbox", "connect", "--url", sandbox.url)
    assert "latest schema" in said("db", "upgrade")
    # 1. connect through OAuth; tokens land in the database
    assert "tokens stored in the database" in said("sandbox", "connect", "--url", sandbox.url)
    monkeypatch.setenv("JOBBER_BASE_URL", sandbox.url)
    monkeypatch.setenv("JOBBER_CLIENT_ID", "sandbox-client-id")
    monkeypatch.setenv("JOBBER_CLIENT_SECRET", "sandbox-client-secret")
    reset_settings_cache()
    # 2. a client call with the stored tokens
    found = json.loads(invoke("jobber", "call", "clients.search", "search_term=John Smith"))
    assert any(c.get("name") == "John Smith" for c in found)
    # 3. act in the sandbox as a person: close job #1042, which sends JOB_CLOSED
    closed = json.loads(invoke("sandbox", "close-job", "1042", "--url", sandbox.url))
    assert json.dumps(closed).count("archived") >= 1
    # 4. sync and see it in the database
    assert "jobs" in invoke("sync", "run", "--full")
    from sqlalchemy import select

    from tasks.store.db import get_engine, unit_of_work
    from tasks.store.models import Job

    with unit_of_work(get_engine()) as session:
        assert session.scalars(select(Job.job_status).where(Job.job_number == 1042)).one() == "archived"
    # 5. back up and restore into an empty database
    assert "Backed up" in said("backup", "create")
    manifest = next((home / "data" / "backups").glob("*.manifest.json"))
    assert "intact" in said("backup", "verify", str(manifest))
    restored = f"sqlite:///{home / 'restored.db'}"
    assert "every table matches the manifest" in said("backup", "restore", str(manifest), "--database-url", restored)


def test_unavailable_actions_are_listed_as_such() -> None:
    output = invoke("jobber", "actions")
    assert "users.create" in output and "quotes.close" in output


def test_a_second_jobber_account_cannot_replace_a_live_connection(home: Path) -> None:
    from tasks.errors import JobberAuthError

    invoke("db", "upgrade")
    with SandboxServer(SandboxConfig(seed=1, clients=2, jobs=2, invoices=1, quotes=1, users=1)) as first:
        invoke("sandbox", "connect", "--url", first.url)
    other = SandboxConfig(
        seed=2,
        clients=2,
        jobs=2,
        invoices=1,
        quotes=1,
        users=1,
        account_id="other-account",
        account_name="Someone Else's Plumbing",
    )
    with SandboxServer(other) as second:
        result = runner.invoke(app, ["sandbox", "connect", "--url", second.url])
    assert isinstance(result.exception, JobberAuthError)
    assert "refusing to replace it" in str(result.exception)


def test_reviews_preview_renders_the_guides_example_without_sending(
    home: Path, sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tasks.settings import reset_settings_cache

    monkeypatch.setenv("JOBBER_BASE_URL", sandbox.url)
    monkeypatch.setenv("JOBBER_API_KEY", sandbox.issue_tokens()["access_token"])
    reset_settings_cache()
    job = next(j for j in sandbox.store.jobs if j.job_number == 1042)
    output = said("reviews", "preview", job.id, "--review-link", "https://g.page/r/evergreen/review")
    assert "Hi John! How was your Water Heater Installation with Mike?" in output
    assert not (home / "data" / "outbox").exists(), "a preview sends nothing"
    # the example link shipped in prefect.yaml is refused with a message saying what to do
    result = runner.invoke(app, ["reviews", "preview", job.id])
    assert result.exit_code != 0 and "review_link is still the example" in str(result.exception)
