"""``python -m sandbox.jobber [--port 8765] [--seed 42] [--webhook-url URL] ...``"""

from __future__ import annotations

import argparse
import logging
import sys

from .config import SandboxConfig
from .server import serve


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sandbox.jobber", description="Run the local Jobber sandbox.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--jobs", type=int, default=80)
    parser.add_argument("--invoices", type=int, default=60)
    parser.add_argument("--quotes", type=int, default=20)
    parser.add_argument("--users", type=int, default=5)
    parser.add_argument("--webhook-url", default=None)
    parser.add_argument("--client-id", default="sandbox-client-id")
    parser.add_argument("--client-secret", default="sandbox-client-secret")
    options = vars(parser.parse_args(argv))
    host, port = options.pop("host"), options.pop("port")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    serve(SandboxConfig(**options), host, port)  # every other option is a setting of that name
    return 0


if __name__ == "__main__":
    sys.exit(main())
