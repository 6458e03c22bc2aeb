"""`jobberflow gateway` and `jobberflow relay`: Jobber's webhooks into the inbox, and the relay to the workers.

The gateway starts the relay as a child process; `relay` runs one alone (a second host, a debugger).
"""

from __future__ import annotations

from typing import Annotated

import typer


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


def relay() -> None:
    """Run the relay alone (`gateway` starts one): inbox -> event worker wake-ups and Prefect events."""
    from deployments.gateway.server import run_relay

    run_relay()
