"""Configuration of the local Jobber sandbox."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass
class SandboxConfig:
    """Everything that shapes one sandbox: seeded data sizes, credentials, limits and webhook chaos.

    Sizes default to a small account; the seed makes every generated value deterministic.
    """

    seed: int = 42
    clients: int = 50
    jobs: int = 80
    invoices: int = 60
    quotes: int = 20
    users: int = 5
    client_id: str = "sandbox-client-id"
    client_secret: str = "sandbox-client-secret"  # noqa: S105 - a well-known sandbox value
    webhook_url: str | None = None
    bucket_max: int = 10_000
    restore_rate: float = 500.0
    request_limit: int = 2_500
    request_window_s: float = 300.0
    retry_after: bool = True
    access_token_ttl_s: int = 3600
    account_id: str | None = None
    account_name: str = "Evergreen Home Services"
    webhook_duplicate_rate: float = 0.0
    webhook_delay_s: tuple[float, float] = (0.0, 0.0)
    webhook_shuffle: bool = False
    webhook_legacy_occured_at: bool = False
    max_page_size: int = 100
    # Extras (not needed by most callers).
    webhook_max_attempts: int = 4
    webhook_retry_backoff_s: float = 0.2
    webhook_timeout_s: float = 5.0
    webhook_senders: int = 1  # threads delivering webhooks (1: in order; Jobber itself delivers concurrently)
    account_timezone: str = "America/Chicago"
    # Seeded timestamps are spread over the year before this moment (default: today 00:00 UTC).
    seed_anchor: datetime | None = None
    latest_version: str = "2025-04-16"
    extra: dict[str, object] = field(default_factory=dict)
