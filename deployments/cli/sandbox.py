"""`jobberflow sandbox ...`: run the local Jobber and act in it as a person in Jobber would.

``serve`` imports the ``sandbox`` package when it runs (production commands never load it); the other
commands talk to a running sandbox over HTTP, like a person clicking in Jobber.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from .output import console, fail, print_json

app = typer.Typer(
    help="The local Jobber sandbox: run it, and act in it as a person in Jobber would.", no_args_is_help=True
)

DEFAULT_SANDBOX_URL = "http://127.0.0.1:8900"
UrlOption = Annotated[str | None, typer.Option("--url", help="Sandbox URL (default: JOBBER_BASE_URL or :8900).")]


@app.command("serve")
def sandbox_serve(
    ctx: typer.Context,
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

    # Every option but --host and --port is the sandbox setting of that name.
    cfg = SandboxConfig(**{name: value for name, value in ctx.params.items() if name not in ("host", "port")})
    console.print(f"Jobber sandbox on http://{host}:{port} (client id {client_id!r}); Ctrl-C stops it.")
    serve(cfg, host=host, port=port)


def _sandbox_url(url: str | None) -> str:
    """--url, else JOBBER_BASE_URL when it is set (in the environment or .env), else the local sandbox."""
    from tasks.settings import get_settings

    settings = get_settings()
    configured = settings.jobber_base_url if "jobber_base_url" in settings.model_fields_set else None
    return (url or configured or DEFAULT_SANDBOX_URL).rstrip("/")


def _sandbox_action(url: str | None, action: str, body: dict[str, Any]) -> Any:
    import httpx

    base = _sandbox_url(url)
    try:
        response = httpx.post(f"{base}/sandbox/actions/{action}", json=body, timeout=30)
    except httpx.HTTPError as exc:
        raise fail(
            f"the sandbox at {base} is not answering ({type(exc).__name__}); start it with `jobberflow sandbox serve`"
        ) from exc
    if response.status_code >= 400:
        raise fail(f"the sandbox refused {action}: {response.text[:300]}")
    return response.json()


def _job_ref(job: str) -> dict[str, Any]:
    return {"job_number": int(job)} if job.isdigit() else {"job_id": job}


@app.command("jobs")
def sandbox_jobs(status: str | None = None, url: UrlOption = None) -> None:
    """List the sandbox's jobs (number, title, client, status) to pick one to act on."""
    import httpx

    params = {"status": status} if status else {}
    try:
        jobs = httpx.get(f"{_sandbox_url(url)}/sandbox/jobs", params=params, timeout=30).json()
    except httpx.HTTPError as exc:
        raise fail(f"the sandbox at {_sandbox_url(url)} is not answering ({type(exc).__name__})") from exc
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


@app.command("close-job")
def sandbox_close_job(job: Annotated[str, typer.Argument(help="Job number or id.")], url: UrlOption = None) -> None:
    """Close a job as a person in Jobber would (sends JOB_CLOSED)."""
    print_json(_sandbox_action(url, "close_job", _job_ref(job)))


@app.command("reopen-job")
def sandbox_reopen_job(job: Annotated[str, typer.Argument(help="Job number or id.")], url: UrlOption = None) -> None:
    """Reopen a closed job (sends JOB_UPDATE)."""
    print_json(_sandbox_action(url, "reopen_job", _job_ref(job)))


@app.command("complete-visit")
def sandbox_complete_visit(visit_id: str, url: UrlOption = None) -> None:
    """Complete a visit (sends VISIT_COMPLETE)."""
    print_json(_sandbox_action(url, "complete_visit", {"visit_id": visit_id}))


@app.command("pay-invoice")
def sandbox_pay_invoice(invoice_id: str, url: UrlOption = None) -> None:
    """Mark an invoice paid (sends INVOICE_UPDATE and PAYMENT_CREATE)."""
    print_json(_sandbox_action(url, "mark_invoice_paid", {"invoice_id": invoice_id}))


@app.command("approve-quote")
def sandbox_approve_quote(quote_id: str, url: UrlOption = None) -> None:
    """Approve a quote (sends QUOTE_APPROVED)."""
    print_json(_sandbox_action(url, "approve_quote", {"quote_id": quote_id}))


@app.command("create-client")
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
    print_json(_sandbox_action(url, "create_client", body))


@app.command("state")
def sandbox_state(url: UrlOption = None) -> None:
    """Counts per resource, the account, the webhook target and the sandbox's counters."""
    import httpx

    try:
        print_json(httpx.get(f"{_sandbox_url(url)}/sandbox/state", timeout=30).json())
    except httpx.HTTPError as exc:
        raise fail(f"the sandbox at {_sandbox_url(url)} is not answering ({type(exc).__name__})") from exc


@app.command("connect")
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
