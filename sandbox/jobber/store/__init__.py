"""The sandbox account: records, the changes Jobber users and API clients make, and their events.

``SandboxStore`` is one object (the GraphQL resolvers, the action endpoints and the tests hold it), put
together from one module per concern:

* ``core``: the tables, lookups, the lock, webhook events, live settings and counters (``StoreCore``)
* ``clients``: clients and properties;  ``jobs``: jobs and visits;  ``invoices``: invoices and payments;
  ``quotes``: quotes and notes;  ``work``: requests, tasks, expenses;  ``account``: users and
  webhook endpoints;  ``removal``: deleting records and their relations
* ``values``, ``schedule``, ``views``: plain functions (times and names, job status from visits, JSON views)

Every change bumps ``updated_at`` and emits the webhook topics Jobber would send (``StoreCore._emit``).
Domain methods raise :class:`UserError` for invalid input; the GraphQL layer turns that into
``userErrors`` and the action endpoints into HTTP 4xx.
"""

from __future__ import annotations

from .account import AccountMixin
from .clients import ClientsMixin
from .core import SandboxStats
from .invoices import InvoicesMixin
from .jobs import JobsMixin
from .quotes import QuotesMixin
from .values import UserError, iso, now_s, parse_dt
from .views import brief
from .work import WorkMixin


class SandboxStore(ClientsMixin, JobsMixin, InvoicesMixin, QuotesMixin, WorkMixin, AccountMixin):
    """The whole account: every resource's changes over one set of tables (see the module docstring)."""


__all__ = ["SandboxStats", "SandboxStore", "UserError", "brief", "iso", "now_s", "parse_dt"]
