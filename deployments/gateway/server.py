"""Run the gateway with uvicorn (`jobberflow gateway` calls `run_gateway`).

The gateway's processes only ingest (`workers` of them, uvicorn's); the one relay runs in a child process
of its own (`jobberflow relay`), so rows are not sent by several relays at once and a slow or absent
Prefect never slows an acknowledgement.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys

import uvicorn

from deployments.gateway.app import RELAY_ENV

log = logging.getLogger(__name__)

APP_FACTORY = "deployments.gateway.app:create_app"


def _uvicorn_options() -> dict[str, object]:
    options: dict[str, object] = {"factory": True, "access_log": False, "proxy_headers": True}
    try:
        import httptools  # noqa: F401

        options["http"] = "httptools"
    except ImportError:
        pass
    try:
        import uvloop  # noqa: F401

        options["loop"] = "uvloop"
    except ImportError:
        pass
    return options


def relay_command() -> list[str]:
    return [sys.executable, "-m", "deployments.cli", "relay"]


def run_gateway(host: str, port: int, *, workers: int = 1, log_level: str = "info") -> None:
    """Serve the gateway on host:port until interrupted (uvicorn with httptools/uvloop when installed).

    The relay runs in a process of its own (`jobberflow relay`), started here and stopped with the gateway
    (it also dies with it: deployments/processes.py), so acknowledging webhooks never shares a CPU core or
    the GIL with talking to Prefect. JOBBERFLOW_GATEWAY_RELAY=off: no relay (one runs elsewhere).
    """
    from deployments.processes import spawn, stop
    from tasks.settings import get_settings, reset_settings_cache
    from tasks.store.migrate import upgrade_database

    upgrade_database()  # process start: once here, before the relay and uvicorn's workers
    options = _uvicorn_options()
    relay_here = get_settings().jobberflow_gateway_relay
    # The ingest processes never relay themselves: set for uvicorn's workers (they inherit it) and for this
    # process, which serves the app itself when there is one worker (its settings are read again).
    os.environ[RELAY_ENV] = "off"
    reset_settings_cache()
    relay = spawn(relay_command(), env={**os.environ}) if relay_here else None
    try:
        uvicorn.run(
            APP_FACTORY,
            host=host,
            port=port,
            workers=workers if workers > 1 else None,
            log_level=log_level,
            **options,  # type: ignore[arg-type]
        )
    finally:
        if relay is not None:
            stop(relay, timeout=15)


def run_relay() -> None:
    """`jobberflow relay`: inbox -> wake-ups for the event worker + Prefect events, until SIGTERM/SIGINT."""
    import signal

    from deployments.gateway.relay import Relay
    from deployments.gateway.wakeup import Waker
    from tasks.settings import get_settings
    from tasks.store.db import get_engine
    from tasks.store.migrate import upgrade_database

    settings = get_settings()
    upgrade_database(settings.resolved_database_url)  # process start (a no-op after the gateway's)
    engine = get_engine(settings.resolved_database_url)
    relay = Relay(engine, waker=Waker(engine, max_in_flight=settings.relay_max_wakeups))

    async def main() -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            loop.add_signal_handler(sig, relay.stop)
        await relay.run()

    log.info("Relay started (inbox -> event worker wake-ups and Prefect events)")
    asyncio.run(main())


def main() -> None:
    """`python -m deployments.gateway.server [host] [port] [workers]` (the CLI wires the same function)."""
    from tasks.settings import get_settings

    settings = get_settings()
    host = sys.argv[1] if len(sys.argv) > 1 else settings.gateway_host
    port = int(sys.argv[2]) if len(sys.argv) > 2 else settings.gateway_port
    workers = int(sys.argv[3]) if len(sys.argv) > 3 else 1
    run_gateway(host, port, workers=workers)


if __name__ == "__main__":
    main()
