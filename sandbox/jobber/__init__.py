"""A local Jobber: GraphQL from the real schema, OAuth, query cost, rate limits and signed webhooks.

``store/`` holds the account (records, the changes people and API clients make, the webhooks they cause;
one module per resource), ``api/`` answers ``/api/graphql`` over it, ``seed/`` builds the deterministic
starting data; ``oauth``, ``cost`` and ``webhooks`` are Jobber's contracts around them; ``app`` and ``server``
serve it (in a thread for tests and the demo, or ``jobberflow sandbox serve``). It imports nothing from
``tasks/`` (it reads only the bundled schema file).

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
