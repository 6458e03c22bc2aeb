"""Run the sandbox with uvicorn: in a background thread (tests, demo) or in the foreground (CLI)."""

from __future__ import annotations

import logging
import socket
import threading
import time
from types import TracebackType

import uvicorn

from .app import create_app
from .config import SandboxConfig
from .store import SandboxStore

log = logging.getLogger(__name__)


class SandboxServer:
    """``with SandboxServer(cfg) as sb:`` serves the sandbox on 127.0.0.1 at a free port."""

    def __init__(
        self,
        cfg: SandboxConfig | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        log_level: str = "warning",
    ) -> None:
        self.cfg = cfg or SandboxConfig()
        self.host = host
        self.port = port
        self.store = SandboxStore(self.cfg)
        self.app = create_app(self.cfg, self.store)
        self._log_level = log_level
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._sock: socket.socket | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def issue_tokens(self) -> dict[str, str]:
        return self.store.issue_tokens()

    def start(self, timeout: float = 10.0) -> SandboxServer:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        self.port = sock.getsockname()[1]
        self._sock = sock
        config = uvicorn.Config(self.app, log_level=self._log_level, lifespan="on", access_log=False)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, name="sandbox-uvicorn", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive():
                raise RuntimeError("sandbox server failed to start")
            if time.monotonic() > deadline:
                raise TimeoutError("sandbox server did not start in time")
            time.sleep(0.01)
        log.info("Jobber sandbox listening on %s", self.url)
        return self

    def stop(self, timeout: float = 10.0) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():  # a loaded machine: uvicorn still shuts down and closes the socket itself
                log.warning("sandbox server still stopping after %.0f s", timeout)
                self._sock = None
        if self._sock is not None:
            self._sock.close()
        self.store.close()

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def serve(cfg: SandboxConfig | None = None, host: str = "127.0.0.1", port: int = 8765, log_level: str = "info") -> None:
    """Run the sandbox in the foreground until interrupted."""
    app = create_app(cfg or SandboxConfig())
    store: SandboxStore = app.state.sandbox
    log.info(
        "Jobber sandbox on http://%s:%d (account %s, %s)",
        host,
        port,
        store.account_id,
        ", ".join(f"{k}={v}" for k, v in store.counts().items()),
    )
    uvicorn.run(app, host=host, port=port, log_level=log_level)
