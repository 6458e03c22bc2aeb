"""Run the gateway with uvicorn (`jobberflow gateway` calls `run_gateway`).

One process (the default) serves webhooks and runs the relay. With `workers > 1`, uvicorn starts that
many worker processes from the app factory with the relay switched off (JOBBERFLOW_GATEWAY_RELAY=off),
and this supervising process runs the one relay, so rows are not sent by several relays at once.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading

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


def _relay_thread(stop: threading.Event) -> threading.Thread:
    from deployments.gateway.relay import Relay
    from tasks.settings import get_settings
    from tasks.store.db import get_engine

    def run() -> None:
        relay = Relay(get_engine(get_settings().resolved_database_url))

        async def main() -> None:
            task = asyncio.create_task(relay.run())
            while not stop.is_set():
                await asyncio.sleep(0.5)
            relay.stop()
            await task

        asyncio.run(main())

    thread = threading.Thread(target=run, name="jobber-relay", daemon=True)
    thread.start()
    return thread


def run_gateway(host: str, port: int, *, workers: int = 1, log_level: str = "info") -> None:
    """Serve the gateway on host:port until interrupted (uvicorn with httptools/uvloop when installed)."""
    options = _uvicorn_options()
    if workers <= 1:
        uvicorn.run(APP_FACTORY, host=host, port=port, log_level=log_level, **options)  # type: ignore[arg-type]
        return
    from deployments.gateway.app import relay_enabled_by_env

    relay_here = relay_enabled_by_env()
    os.environ[RELAY_ENV] = "off"  # inherited by the worker processes
    stop = threading.Event()
    thread = _relay_thread(stop) if relay_here else None
    try:
        uvicorn.run(
            APP_FACTORY,
            host=host,
            port=port,
            workers=workers,
            log_level=log_level,
            **options,  # type: ignore[arg-type]
        )
    finally:
        stop.set()
        if thread is not None:
            thread.join(15)


def main() -> None:
    """`python -m deployments.gateway.server [host] [port] [workers]` (the CLI wires the same function)."""
    import sys

    from tasks.settings import get_settings

    settings = get_settings()
    host = sys.argv[1] if len(sys.argv) > 1 else settings.gateway_host
    port = int(sys.argv[2]) if len(sys.argv) > 2 else settings.gateway_port
    workers = int(sys.argv[3]) if len(sys.argv) > 3 else 1
    run_gateway(host, port, workers=workers)


if __name__ == "__main__":
    main()
