"""The seeded account as lists of records, and the deterministic generator every seeding step draws from."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from ..config import SandboxConfig
from ..models import (
    Account,
    Client,
    Email,
    Expense,
    Invoice,
    Job,
    LineItem,
    Payment,
    Phone,
    Property,
    Quote,
    QuoteNote,
    Request,
    Tag,
    Task,
    User,
    Visit,
)
from .vocabulary import (
    STREET_KINDS,
    STREET_NAMES,
)


@dataclass
class SeedData:
    account: Account
    app_id: str
    users: list[User] = field(default_factory=list)
    clients: list[Client] = field(default_factory=list)
    emails: list[Email] = field(default_factory=list)
    phones: list[Phone] = field(default_factory=list)
    tags: list[Tag] = field(default_factory=list)
    properties: list[Property] = field(default_factory=list)
    jobs: list[Job] = field(default_factory=list)
    visits: list[Visit] = field(default_factory=list)
    line_items: list[LineItem] = field(default_factory=list)
    invoices: list[Invoice] = field(default_factory=list)
    payments: list[Payment] = field(default_factory=list)
    quotes: list[Quote] = field(default_factory=list)
    quote_notes: list[QuoteNote] = field(default_factory=list)
    requests: list[Request] = field(default_factory=list)
    tasks: list[Task] = field(default_factory=list)
    expenses: list[Expense] = field(default_factory=list)


def default_anchor() -> datetime:
    now = datetime.now(UTC)
    return now.replace(hour=0, minute=0, second=0, microsecond=0)


class Gen:
    def __init__(self, cfg: SandboxConfig) -> None:
        self.cfg = cfg
        self.rng = random.Random(cfg.seed)
        self.anchor = cfg.seed_anchor or default_anchor()
        self.year_s = 365 * 86400

    def past(self, max_days: float = 365.0, min_days: float = 0.0) -> datetime:
        secs = self.rng.uniform(min_days * 86400, max_days * 86400)
        return self.anchor - timedelta(seconds=int(secs))

    def after(self, start: datetime) -> datetime:
        span = (self.anchor - start).total_seconds()
        return start + timedelta(seconds=int(self.rng.uniform(0, max(span, 0))))

    def phone(self, area: str) -> str:
        line = f"555-01{self.rng.randrange(100):02d}"
        r = self.rng.random()
        if r < 0.35:
            return f"+1 {area}-{line}"
        if r < 0.7:
            return f"({area}) {line}"
        if r < 0.85:
            return f"{area}-{line}"
        if r < 0.93:
            return f"+1{area}{line.replace('-', '')}"
        return f"{area}.{line.replace('-', '.')}"

    def postal(self, city: tuple[str, str, str, str, tuple[str, ...], tuple[str, ...], float, float]) -> str:
        prefix = self.rng.choice(city[5])
        if city[2] == "Canada":
            letters = "ABCEGHJKLMNPRSTVXY"
            return f"{prefix} {self.rng.randrange(10)}{self.rng.choice(letters)}{self.rng.randrange(10)}"
        return f"{prefix}{self.rng.randrange(100):02d}"

    def street(self) -> str:
        return f"{self.rng.randrange(12, 9900)} {self.rng.choice(STREET_NAMES)} {self.rng.choice(STREET_KINDS)}"
