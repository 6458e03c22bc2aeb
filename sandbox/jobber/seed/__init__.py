"""Deterministic, realistic seed data for a home-service business (no Faker).

``build_seed(cfg)`` returns a :class:`SeedData`; the same seed and sizes give the same data.
The first client is always John Smith (Austin TX, mobile, SMS allowed) with the active job #1042
"Water Heater Installation" whose visit is assigned to the first user, Mike Thompson.

The steps run in a fixed order over one random generator (``generator.Gen``), so their order is part of
the data: ``people`` (users, clients), then ``work`` (jobs, invoices, quotes, the rest); the words they
draw from are in ``vocabulary``.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

from ..config import SandboxConfig
from ..models import Account, Tag
from .generator import Gen, SeedData, default_anchor
from .people import seed_clients, seed_users
from .vocabulary import TAGS
from .work import seed_invoices, seed_jobs, seed_quotes, seed_requests_tasks_expenses

__all__ = ["SeedData", "build_seed", "default_anchor"]


def build_seed(cfg: SandboxConfig) -> SeedData:
    g = Gen(cfg)
    rng = g.rng
    app_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
    account = Account(pk=1, name=cfg.account_name, created_at=g.anchor - timedelta(days=900))
    data = SeedData(account=account, app_id=app_id)
    seed_users(g, data)
    data.tags = [Tag(pk=i + 1, label=label) for i, label in enumerate(TAGS)]
    seed_clients(g, data)
    active_clients = [c for c in data.clients if not c.is_archived] or data.clients
    seed_jobs(g, data, active_clients)
    seed_invoices(g, data)
    seed_quotes(g, data, active_clients)
    seed_requests_tasks_expenses(g, data, active_clients)
    return data
