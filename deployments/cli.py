"""`jobberflow`: the project's command line (Typer). Every subcommand has --help."""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from tasks.errors import JobberflowError

app = typer.Typer(
    help="Jobber automations on Prefect: sandbox, Jobber actions, schema, database, demo.", no_args_is_help=True
)
sandbox_app = typer.Typer(
    help="The local Jobber sandbox: run it, and act in it as a person in Jobber would.", no_args_is_help=True
)
jobber_app = typer.Typer(help="Call Jobber (or the sandbox) with the configured credentials.", no_args_is_help=True)
schema_app = typer.Typer(
    help="Jobber's GraphQL schema: pull a version, check the project's documents.", no_args_is_help=True
)
db_app = typer.Typer(help="The project's database (DATABASE_URL; SQLite by default).", no_args_is_help=True)
app.add_typer(sandbox_app, name="sandbox")
app.add_typer(jobber_app, name="jobber")
app.add_typer(schema_app, name="schema")
app.add_typer(db_app, name="db")
backup_app = typer.Typer(help="Backups of the synced data: create, list, verify, restore.", no_args_is_help=True)
app.add_typer(backup_app, name="backup")
reviews_app = typer.Typer(
    help="Review requests: preview a template, list requests, send what is due.", no_args_is_help=True
)
app.add_typer(reviews_app, name="reviews")
sync_app = typer.Typer(help="Copy Jobber's records into the database (DATABASE_URL).", no_args_is_help=True)
app.add_typer(sync_app, name="sync")

console = Console()
err = Console(stderr=True)

DEFAULT_SANDBOX_URL = "http://127.0.0.1:8900"


def _fail(message: str, code: int = 1) -> typer.Exit:
    err.print(f"[bold red]error:[/] {message}")
    return typer.Exit(code)


def _print_json(value: Any) -> None:
    from rich.json import JSON

    console.print(JSON(json.dumps(value, default=_json_default)), soft_wrap=True)


def _json_default(value: Any) -> Any:
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        return dump(mode="json", by_alias=True, exclude_none=True)
    if hasattr(value, "__dataclass_fields__"):
        import dataclasses

        return dataclasses.asdict(value)
    return str(value)


# -- sandbox -----------------------------------------------------------------------------------------
@sandbox_app.command("serve")
def sandbox_serve(
    host: str = "127.0.0.1",
    port: int = 8900,
    seed: int = 42,
    clients: int = 50,
    jobs: int = 80,
    invoices: int = 60,
    quotes: int = 20,
    users: int = 5,
    webhook_url: Annotated[str | None, typer.Option(help="Where the sandbox POSTs Jobber webhooks.")] = None,
    client_id: str = "sandbox-client-id",
    client_secret: str = "sandbox-client-secret",  # noqa: S107 - the sandbox's well-known value
    bucket_max: Annotated[int, typer.Option(help="Query-cost bucket size (Jobber: 10,000 points).")] = 10_000,
    restore_rate: Annotated[float, typer.Option(help="Points restored per second (Jobber: 500).")] = 500.0,
    request_limit: Annotated[int, typer.Option(help="Requests per 5 minutes before HTTP 429 (Jobber: 2,500).")] = 2_500,
    webhook_senders: Annotated[int, typer.Option(help="Threads delivering webhooks (1 keeps their order).")] = 1,
) -> None:
    """Run the Jobber sandbox in the foreground (GraphQL at /api/graphql, OAuth at /api/oauth/*)."""
    from sandbox.jobber import SandboxConfig, serve

    cfg = SandboxConfig(
        seed=seed,
        clients=clients,
        jobs=jobs,
        invoices=invoices,
        quotes=quotes,
        users=users,
        webhook_url=webhook_url,
        client_id=client_id,
        client_secret=client_secret,
        bucket_max=bucket_max,
        restore_rate=restore_rate,
        request_limit=request_limit,
        webhook_senders=webhook_senders,
    )
    console.print(f"Jobber sandbox on http://{host}:{port} (client id {client_id!r}); Ctrl-C stops it.")
    serve(cfg, host=host, port=port)


def _sandbox_url(url: str | None) -> str:
    return (url or os.environ.get("JOBBER_BASE_URL") or DEFAULT_SANDBOX_URL).rstrip("/")


def _sandbox_action(url: str | None, action: str, body: dict[str, Any]) -> Any:
    import httpx

    base = _sandbox_url(url)
    try:
        response = httpx.post(f"{base}/sandbox/actions/{action}", json=body, timeout=30)
    except httpx.HTTPError as exc:
        raise _fail(
            f"the sandbox at {base} is not answering ({type(exc).__name__}); start it with `jobberflow sandbox serve`"
        ) from exc
    if response.status_code >= 400:
        raise _fail(f"the sandbox refused {action}: {response.text[:300]}")
    return response.json()


UrlOption = Annotated[str | None, typer.Option("--url", help="Sandbox URL (default: JOBBER_BASE_URL or :8900).")]


def _job_ref(job: str) -> dict[str, Any]:
    return {"job_number": int(job)} if job.isdigit() else {"job_id": job}


@sandbox_app.command("jobs")
def sandbox_jobs(status: str | None = None, url: UrlOption = None) -> None:
    """List the sandbox's jobs (number, title, client, status) to pick one to act on."""
    import httpx

    params = {"status": status} if status else {}
    try:
        jobs = httpx.get(f"{_sandbox_url(url)}/sandbox/jobs", params=params, timeout=30).json()
    except httpx.HTTPError as exc:
        raise _fail(f"the sandbox at {_sandbox_url(url)} is not answering ({type(exc).__name__})") from exc
    rows = jobs.get("jobs", jobs) if isinstance(jobs, dict) else jobs
    table = Table("number", "title", "client", "status", "id")
    for job in rows:
        table.add_row(
            str(job.get("jobNumber") or job.get("job_number")),
            str(job.get("title")),
            str(job.get("client") or job.get("client_name")),
            str(job.get("jobStatus") or job.get("status")),
            str(job.get("id")),
        )
    console.print(table)


@sandbox_app.command("close-job")
def sandbox_close_job(job: Annotated[str, typer.Argument(help="Job number or id.")], url: UrlOption = None) -> None:
    """Close a job as a person in Jobber would (sends JOB_CLOSED)."""
    _print_json(_sandbox_action(url, "close_job", _job_ref(job)))


@sandbox_app.command("reopen-job")
def sandbox_reopen_job(job: Annotated[str, typer.Argument(help="Job number or id.")], url: UrlOption = None) -> None:
    """Reopen a closed job (sends JOB_UPDATE)."""
    _print_json(_sandbox_action(url, "reopen_job", _job_ref(job)))


@sandbox_app.command("complete-visit")
def sandbox_complete_visit(visit_id: str, url: UrlOption = None) -> None:
    """Complete a visit (sends VISIT_COMPLETE)."""
    _print_json(_sandbox_action(url, "complete_visit", {"visit_id": visit_id}))


@sandbox_app.command("pay-invoice")
def sandbox_pay_invoice(invoice_id: str, url: UrlOption = None) -> None:
    """Mark an invoice paid (sends INVOICE_UPDATE and PAYMENT_CREATE)."""
    _print_json(_sandbox_action(url, "mark_invoice_paid", {"invoice_id": invoice_id}))


@sandbox_app.command("approve-quote")
def sandbox_approve_quote(quote_id: str, url: UrlOption = None) -> None:
    """Approve a quote (sends QUOTE_APPROVED)."""
    _print_json(_sandbox_action(url, "approve_quote", {"quote_id": quote_id}))


@sandbox_app.command("create-client")
def sandbox_create_client(
    first_name: str,
    last_name: str,
    email: str | None = None,
    phone: str | None = None,
    sms_allowed: bool = True,
    url: UrlOption = None,
) -> None:
    """Create a client (sends CLIENT_CREATE)."""
    body = {
        "first_name": first_name,
        "last_name": last_name,
        "email": email,
        "phone": phone,
        "sms_allowed": sms_allowed,
    }
    _print_json(_sandbox_action(url, "create_client", body))


@sandbox_app.command("state")
def sandbox_state(url: UrlOption = None) -> None:
    """Counts per resource, the account, the webhook target and the sandbox's counters."""
    import httpx

    try:
        _print_json(httpx.get(f"{_sandbox_url(url)}/sandbox/state", timeout=30).json())
    except httpx.HTTPError as exc:
        raise _fail(f"the sandbox at {_sandbox_url(url)} is not answering ({type(exc).__name__})") from exc


@sandbox_app.command("connect")
def sandbox_connect(
    url: UrlOption = None,
    client_id: str = "sandbox-client-id",
    client_secret: str = "sandbox-client-secret",  # noqa: S107 - the sandbox's well-known value
) -> None:
    """Connect to the sandbox through the real OAuth flow and store the tokens in the database.

    Afterwards set JOBBER_BASE_URL, JOBBER_CLIENT_ID and JOBBER_CLIENT_SECRET as printed, and every
    `jobberflow jobber ...` command (and every flow) uses the stored, self-refreshing tokens.
    """
    from tasks.jobber.connect import connect_with_oauth

    base = _sandbox_url(url)
    account = connect_with_oauth(base_url=base, client_id=client_id, client_secret=client_secret)
    console.print(f"Connected to [bold]{account['name']}[/] ({account['id']}); tokens stored in the database.")
    console.print(
        f"Use it with:\n  export JOBBER_BASE_URL={base} JOBBER_CLIENT_ID={client_id} "
        f"JOBBER_CLIENT_SECRET={client_secret}"
    )


# -- jobber ------------------------------------------------------------------------------------------
def _parse_params(params: list[str]) -> dict[str, Any]:
    parsed: dict[str, Any] = {}
    for item in params:
        if "=" not in item:
            raise _fail(f"parameter {item!r} is not NAME=VALUE")
        name, raw = item.split("=", 1)
        try:
            parsed[name.replace("-", "_")] = json.loads(raw)
        except ValueError:
            parsed[name.replace("-", "_")] = raw
    return parsed


@jobber_app.command("actions")
def jobber_actions() -> None:
    """List every Jobber action (Make.com's list) and whether Jobber's API offers it."""
    from tasks.jobber.actions import ACTIONS

    table = Table("action", "function", "status")
    for name, func in sorted(ACTIONS.items()):
        doc = (func.__doc__ or "").strip().splitlines()[0] if func.__doc__ else ""
        available = "not offered by Jobber's API" if "not available" in (func.__doc__ or "").lower() else "works"
        table.add_row(name, f"{func.__module__}.{func.__name__}", available if available != "works" else doc)
    console.print(table)


@jobber_app.command("call")
def jobber_call(
    action: Annotated[str, typer.Argument(help="An action name from `jobberflow jobber actions`, e.g. jobs.search.")],
    params: Annotated[list[str] | None, typer.Argument(help="NAME=VALUE arguments (VALUE may be JSON).")] = None,
) -> None:
    """Call one Jobber action with the configured credentials and print the result as JSON."""
    from tasks.jobber.actions import ACTIONS
    from tasks.jobber.factory import get_jobber_client

    func = ACTIONS.get(action)
    if func is None:
        raise _fail(f"unknown action {action!r}; see `jobberflow jobber actions`")
    _print_json(func(get_jobber_client(), **_parse_params(params or [])))


@jobber_app.command("query")
def jobber_query(
    document: Annotated[str, typer.Argument(help="A GraphQL document, or @path/to/file.graphql.")],
    variables: Annotated[str | None, typer.Option(help="Variables as JSON.")] = None,
) -> None:
    """Make a raw API call (Make.com's "Make an API call") and print `data` as JSON."""
    from tasks.jobber.factory import get_jobber_client

    text = Path(document[1:]).read_text(encoding="utf-8") if document.startswith("@") else document
    _print_json(get_jobber_client().execute(text, json.loads(variables) if variables else None))


@jobber_app.command("check")
def jobber_check(max_jobs: int = 500) -> None:
    """Run the connection-check flow: account, recent jobs by status, API budget (an artifact in Prefect)."""
    from flows.jobber_check import jobber_connection_check

    overview = jobber_connection_check(max_jobs=max_jobs)
    console.print(overview.markdown())


# -- schema ------------------------------------------------------------------------------------------
@schema_app.command("pull")
def schema_pull(
    version: Annotated[str, typer.Option(help="The Jobber API version to download, e.g. 2026-05-12.")],
) -> None:
    """Download the live schema of a version (introspection, your token), store it, and check our documents."""
    from tasks.jobber.schema_tools import check_documents, load_schema, pull_schema
    from tasks.settings import get_settings

    settings = get_settings()
    from tasks.jobber.factory import build_token_provider

    token = build_token_provider(settings).access_token()
    path = pull_schema(graphql_url=settings.graphql_url, api_version=version, access_token=token)
    console.print(f"Stored {path}")
    _report_problems(check_documents(load_schema(version)), version)


@schema_app.command("check")
def schema_check(version: Annotated[str, typer.Option(help="A stored schema version.")] = "2025-04-16") -> None:
    """Validate every GraphQL document the project sends against a stored schema version."""
    from tasks.jobber.schema_tools import check_documents, load_schema

    try:
        schema = load_schema(version)
    except FileNotFoundError as exc:
        raise _fail(str(exc)) from exc
    _report_problems(check_documents(schema), version)


def _report_problems(problems: list[Any], version: str) -> None:
    if not problems:
        console.print(f"[green]Every document is valid against Jobber API {version}.[/]")
        return
    table = Table("document", "problem")
    for problem in problems:
        table.add_row(problem.name, problem.message)
    console.print(table)
    raise _fail(
        f"{len(problems)} problem(s) against Jobber API {version}: fix them before switching JOBBER_API_VERSION"
    )


# -- db ----------------------------------------------------------------------------------------------
@db_app.command("upgrade")
def db_upgrade(url: Annotated[str | None, typer.Option(help="Default: DATABASE_URL.")] = None) -> None:
    """Create or upgrade the project's tables (Alembic migrations to head)."""
    from tasks.settings import get_settings
    from tasks.store.migrate import upgrade_database

    target = url or get_settings().resolved_database_url
    upgrade_database(target)
    console.print(f"Database at {target.split('@')[-1]} is at the latest schema.")


# -- sync ------------------------------------------------------------------------------------------
@sync_app.command("run")
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
    from tasks.store.migrate import upgrade_database
    from tasks.sync.reconcile import RESOURCES, sync_resource

    chosen = [r for r in (resource or list(RESOURCES)) if r != "properties" or full or resource]
    unknown = sorted(set(chosen) - set(RESOURCES))
    if unknown:
        raise _fail(f"unknown resources {unknown}; choose from {list(RESOURCES)}")
    upgrade_database()
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


@sync_app.command("accuracy")
def sync_accuracy(sample: int = 20) -> None:
    """Compare Jobber with the database: counts, and a sample of records field by field."""
    from tasks.jobber.factory import get_jobber_client
    from tasks.store.db import get_engine
    from tasks.sync.accuracy import COMPARED, accuracy_markdown, compare_resource

    client, engine = get_jobber_client(), get_engine()
    console.print(accuracy_markdown([compare_resource(client, engine, r, sample=sample) for r in COMPARED]))


# -- backups ---------------------------------------------------------------------------------------
def _backup_dir(backup_dir: Path | None) -> Path:
    from tasks.settings import get_settings

    return backup_dir or get_settings().jobberflow_home / "backups"


@backup_app.command("create")
def backup_create(
    backup_dir: Annotated[Path | None, typer.Option(help="Default: <JOBBERFLOW_HOME>/backups.")] = None,
) -> None:
    """Take a consistent, compressed snapshot of the database now, with its manifest."""
    from tasks.settings import get_settings
    from tasks.store.backup import create_backup

    manifest = create_backup(database_url=get_settings().resolved_database_url, backup_dir=_backup_dir(backup_dir))
    console.print(f"Backed up {manifest.total_rows} rows to {manifest.archive_path}")


@backup_app.command("list")
def backup_list(
    backup_dir: Annotated[Path | None, typer.Option(help="Default: <JOBBERFLOW_HOME>/backups.")] = None,
) -> None:
    """The snapshots in the backup folder, newest first."""
    from tasks.store.backup import list_backups

    table = Table("created", "database", "rows", "archive")
    for manifest in list_backups(_backup_dir(backup_dir)):
        table.add_row(str(manifest.created_at), manifest.database, str(manifest.total_rows), str(manifest.archive_path))
    console.print(table)


@backup_app.command("verify")
def backup_verify(manifest: Path) -> None:
    """Check that a snapshot's archive still matches its manifest (SHA-256)."""
    from tasks.store.backup import verify_backup

    verify_backup(manifest)
    console.print(f"[green]{manifest} is intact.[/]")


@backup_app.command("restore")
def backup_restore(
    manifest: Annotated[Path, typer.Argument(help="The snapshot's .manifest.json file.")],
    database_url: Annotated[str, typer.Option(help="An EMPTY target database (SQLite or PostgreSQL URL).")],
) -> None:
    """Restore a snapshot into an empty database, then check every table against the manifest."""
    from tasks.store.backup import restore_backup

    report = restore_backup(manifest, database_url=database_url)
    mismatches = report.mismatches()
    if mismatches:
        raise _fail(f"restored, but these tables differ from the manifest: {', '.join(mismatches)}")
    console.print(f"[green]Restored {sum(report.row_counts.values())} rows; every table matches the manifest.[/]")


# -- review requests -------------------------------------------------------------------------------
@reviews_app.command("preview")
def reviews_preview(
    job_id: Annotated[str, typer.Argument(help="The Jobber job id to render for.")],
    settings: Annotated[
        Path | None, typer.Option(help="A JSON/YAML file of ReviewSettings (default: prefect.yaml).")
    ] = None,
    review_link: Annotated[str | None, typer.Option(help="Override the review link for this preview.")] = None,
) -> None:
    """Render the SMS and email a job's customer would get, without sending (refuses an SMS over 3 segments)."""
    from tasks.reviews.commands import preview_text

    overrides = {"review_link": review_link} if review_link else None
    console.print(preview_text(job_id, settings, overrides=overrides), soft_wrap=True, markup=False)


@reviews_app.command("list")
def reviews_list(limit: int = 20) -> None:
    """The latest review requests with their status and reason."""
    from tasks.reviews.commands import recent_requests

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


@reviews_app.command("dispatch")
def reviews_dispatch() -> None:
    """Send every due review request and follow-up now (the review-dispatch deployment does it every minute)."""
    from tasks.reviews.commands import dispatch_now

    _print_json(dispatch_now())


# -- gateway ---------------------------------------------------------------------------------------
@app.command("gateway")
def gateway(
    host: Annotated[str | None, typer.Option(help="Default: GATEWAY_HOST (127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(help="Default: GATEWAY_PORT (8700).")] = None,
    workers: Annotated[int, typer.Option(help="Ingest processes; the relay runs once, in a child process.")] = 1,
) -> None:
    """Run the gateway: Jobber webhooks, relay to Prefect, Slack, Twilio, OAuth, admin page, /metrics."""
    from deployments.gateway.server import run_gateway
    from tasks.settings import get_settings

    settings = get_settings()
    run_gateway(host or settings.gateway_host, port or settings.gateway_port, workers=workers)


@app.command("relay")
def relay() -> None:
    """Run the relay alone (`gateway` starts one): inbox -> event worker wake-ups and Prefect events."""
    from deployments.gateway.server import run_relay

    run_relay()


@app.command("worker")
def worker(
    limit: Annotated[int, typer.Option(help="Event task runs this worker runs at once.")] = 2,
    nice: Annotated[
        int, typer.Option(help="CPU niceness: on a shared machine the gateway's acknowledgements come first.")
    ] = 5,
) -> None:
    """Run an event worker: a Prefect background-task worker that does the work of Jobber events
    (refresh, review requests, Slack). Run one or more; the relay wakes them (RELAY_MAX_WAKEUPS)."""
    from flows.jobber_events import serve_event_worker

    if nice > 0 and hasattr(os, "nice"):
        os.nice(nice)  # throughput work yields to Jobber's 1-second webhook deadline
    serve_event_worker(limit=limit)


# -- runner ------------------------------------------------------------------------------------------
@app.command("serve")
def serve_deployments(
    name: Annotated[list[str] | None, typer.Option(help="Only these deployments (repeatable).")] = None,
) -> None:
    """Serve every deployment of prefect.yaml (schedules and event triggers) from this process."""
    from deployments.runner import serve_all

    serve_all(names=name)


# -- demo --------------------------------------------------------------------------------------------
@app.command("demo")
def demo(
    once: Annotated[bool, typer.Option(help="Exit after the first run instead of keeping the services up.")] = False,
    prefect_port: int = 4200,
    sandbox_port: int = 8900,
) -> None:
    """Run everything on this machine: Prefect server (SQLite), the Jobber sandbox, and a first flow run."""
    from sandbox.demo import run_demo

    run_demo(once=once, prefect_port=prefect_port, sandbox_port=sandbox_port, console=console)


def main() -> None:
    """Entry point of the `jobberflow` script: clean errors instead of stack traces."""
    logging.basicConfig(level=os.environ.get("JOBBERFLOW_LOG_LEVEL", "WARNING"))
    try:
        app()
    except JobberflowError as exc:
        err.print(f"[bold red]error:[/] {exc}")
        sys.exit(1)


if __name__ == "__main__":
    main()
