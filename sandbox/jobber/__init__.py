"""A local Jobber: GraphQL from the real schema, OAuth, query cost, rate limits and signed webhooks.

Usage::

    from sandbox.jobber import SandboxConfig, SandboxServer
    with SandboxServer(SandboxConfig(webhook_url="http://127.0.0.1:8000/webhooks/jobber")) as sb:
        tokens = sb.issue_tokens()
        ...  # point JOBBER_BASE_URL at sb.url
"""

from .app import create_app
from .config import SandboxConfig
from .server import SandboxServer, serve
from .store import SandboxStats, SandboxStore, UserError

__all__ = [
    "SandboxConfig",
    "SandboxServer",
    "SandboxStats",
    "SandboxStore",
    "UserError",
    "create_app",
    "serve",
]
