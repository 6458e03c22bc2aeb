"""Fixtures of the gateway tests: the fully configured gateway the fuzz modules send requests to."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi import FastAPI

from sandbox.jobber import SandboxConfig, SandboxServer
from tests.gateway.fuzz_support import (
    ADMIN_TOKEN,
    ADMIN_USERNAME,
    JOBBER_WEBHOOK_SECRET,
    MAKE_SECRET,
    MAKE_TOKEN,
    MAX_BODY,
    PUBLIC_URL,
    SANDBOX_CLIENT_ID,
    SANDBOX_CLIENT_SECRET,
    SLACK_SECRET,
    TWILIO_TOKEN,
)
from tests.gateway.test_webhooks_support import close_gateway, make_settings


@pytest.fixture(scope="module")
def jobber_sandbox() -> Iterator[SandboxServer]:
    """Jobber's token endpoint for the OAuth callback (it refuses every fuzzed code)."""
    with SandboxServer(SandboxConfig(seed=5, clients=1, jobs=1, invoices=1, quotes=1, users=1)) as server:
        yield server


@pytest.fixture
def fuzz_gateway(db_url: str, jobber_sandbox: SandboxServer) -> Iterator[FastAPI]:
    from deployments.gateway.app import create_app
    from tasks.store.db import get_engine

    config = make_settings(
        db_url,
        jobber_base_url=jobber_sandbox.url,
        jobber_client_id=SANDBOX_CLIENT_ID,
        jobber_client_secret=SANDBOX_CLIENT_SECRET,
        jobber_webhook_secret=JOBBER_WEBHOOK_SECRET,
        jobber_timeout_s=10.0,
        slack_signing_secret=SLACK_SECRET,
        twilio_auth_token=TWILIO_TOKEN,
        make_webhook_token=MAKE_TOKEN,
        make_webhook_secret=MAKE_SECRET,
        admin_token=ADMIN_TOKEN,
        admin_username=ADMIN_USERNAME,
        public_url=PUBLIC_URL,
        gateway_max_body_bytes=MAX_BODY,
    )
    for name in ("client_secret", "webhook_secrets", "slack_signing_secret", "twilio_auth_token", "admin_token"):
        assert getattr(config, name), f"{name} must be configured so its verification runs"
    app = create_app(config, engine=get_engine(db_url), relay=False)
    yield app
    close_gateway(app)
