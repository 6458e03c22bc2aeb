"""Fixtures for review-request tests: a fresh sandbox per test (they change data), a client for it,
recording channels, and builders for settings and Jobber nodes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from sandbox.jobber import SandboxConfig, SandboxServer
from tasks.delivery.base import RecordingChannel
from tasks.delivery.sms import TwilioSmsChannel
from tasks.jobber.auth import StaticTokenProvider
from tasks.jobber.client import JobberClient
from tasks.reviews.rules.rendering import Branding
from tasks.reviews.settings import ReviewSettings
from tasks.reviews.usecases.send import Channels
from tests.delivery.fake_twilio import FakeTwilio

PUBLIC_URL = "https://reviews.example.test"
REVIEW_LINK = "https://g.page/r/evergreen/review"


def review_settings(**overrides: Any) -> ReviewSettings:
    """Settings for tests: no delay and no quiet hours unless a test says otherwise."""
    values: dict[str, Any] = {
        "review_link": REVIEW_LINK,
        "delay_minutes": 0,
        "quiet_hours_enabled": False,
        "business_name": "Evergreen Home Services",
    }
    values.update(overrides)
    return ReviewSettings(**values)


BRANDING = Branding(public_url=PUBLIC_URL, business_name="Evergreen Home Services", business_postal_address="1 Main St")


def job_node(**overrides: Any) -> dict[str, Any]:
    """A job as the reviews/job document returns it (John Smith's #1042 unless overridden)."""
    node: dict[str, Any] = {
        "id": "Z2lkOi8vSm9iYmVyL0pvYi8x",
        "jobNumber": 1042,
        "title": "Water Heater Installation",
        "jobStatus": "archived",
        "completedAt": "2026-06-01T15:00:00Z",
        "total": 1850.0,
        "updatedAt": "2026-06-01T15:00:00Z",
        "allowReviewRequest": True,
        "client": {
            "id": "client-1",
            "name": "John Smith",
            "firstName": "John",
            "lastName": "Smith",
            "isCompany": False,
            "isArchived": False,
            "emails": [{"address": "john.smith@example.com", "primary": True}],
            "phones": [{"number": "+1 512-555-0142", "primary": True, "smsAllowed": True}],
            "tags": {"nodes": []},
        },
        "property": {
            "id": "prop-1",
            "address": {
                "street1": "4821 Barton Springs Rd",
                "city": "Austin",
                "province": "TX",
                "postalCode": "78704",
                "country": "United States",
            },
        },
        "visits": {
            "nodes": [
                {
                    "id": "visit-1",
                    "isComplete": True,
                    "completedAt": "2026-06-01T14:00:00Z",
                    "assignedUsers": {"nodes": [{"id": "u1", "name": {"first": "Mike", "full": "Mike Thompson"}}]},
                }
            ]
        },
    }
    for key, value in overrides.items():
        if key.startswith("client_"):
            node["client"][key.removeprefix("client_")] = value
        else:
            node[key] = value
    return node


NOW = datetime(2026, 6, 1, 17, 0, tzinfo=UTC)  # 12:00 in Austin (CDT)


@pytest.fixture
def engine(db_url: str) -> Engine:
    from tasks.store.db import get_engine

    return get_engine(db_url)


@pytest.fixture
def channels() -> Channels:
    return Channels(sms=RecordingChannel("sms-recorder"), email=RecordingChannel("email-recorder"))


@pytest.fixture
def live() -> Iterator[tuple[SandboxServer, JobberClient]]:
    """A fresh small sandbox (tests close, reopen and pay things) and a client for it."""
    # Seeded history ends three days ago, so only what a test closes falls inside the poll's 24 h look-back
    # (with the default anchor, "today 00:00 UTC", seeded jobs closed just before midnight would count).
    anchor = datetime.now(UTC) - timedelta(days=3)
    with SandboxServer(SandboxConfig(seed=7, clients=12, jobs=20, invoices=6, quotes=2, seed_anchor=anchor)) as sb:
        client = JobberClient(
            graphql_url=sb.url + "/api/graphql",
            api_version="2025-04-16",
            tokens=StaticTokenProvider(sb.issue_tokens()["access_token"]),
        )
        yield sb, client
        client.close()


TWILIO_SID = "AC" + "1" * 32
TWILIO_TOKEN = "test-auth-token-456"  # noqa: S105 - a test value
TWILIO_FROM = "+15125550100"


@pytest.fixture
def twilio() -> Iterator[FakeTwilio]:
    """The local Twilio endpoint the official SDK talks to."""
    with FakeTwilio(account_sid=TWILIO_SID, auth_token=TWILIO_TOKEN) as fake:
        yield fake


def twilio_channels(fake: FakeTwilio) -> Channels:
    """SMS through the official Twilio SDK to `fake`; email to a recorder."""
    sms = TwilioSmsChannel(
        account_sid=TWILIO_SID, auth_token=TWILIO_TOKEN, from_number=TWILIO_FROM, base_url=fake.url, timeout=2.0
    )
    return Channels(sms=sms, email=RecordingChannel("email-recorder"))


FLOW_SETTINGS = {"review_link": "https://g.page/r/x/review", "delay_minutes": 0, "quiet_hours_enabled": False}


@pytest.fixture
def configured(prefect_server: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[SandboxServer]:
    """Settings pointing at a fresh sandbox, a migrated SQLite file, the local outbox and the local Slack
    stand-in; the event worker's review settings (jobber-events) send at once, at any hour."""
    from tasks.delivery.factory import reset_channel_cache
    from tasks.jobber.factory import reset_jobber_clients
    from tasks.settings import reset_settings_cache
    from tasks.store.db import dispose_engines
    from tasks.store.migrate import upgrade_database

    with SandboxServer(SandboxConfig(seed=7, clients=10, jobs=15, invoices=4, quotes=2)) as sb:
        env = {
            "JOBBER_BASE_URL": sb.url,
            "JOBBER_API_KEY": sb.issue_tokens()["access_token"],
            "DATABASE_URL": f"sqlite:///{tmp_path / 'events.db'}",
            "JOBBERFLOW_HOME": str(tmp_path),
            "PUBLIC_URL": "https://reviews.example.test",
            "JOBBERFLOW_PARAMETER_OVERRIDES": json.dumps({"jobber-events": {"settings": FLOW_SETTINGS}}),
        }
        for name in ("JOBBER_CLIENT_ID", "JOBBER_CLIENT_SECRET", "TWILIO_ACCOUNT_SID", "SMTP_HOST", "SLACK_BOT_TOKEN"):
            monkeypatch.delenv(name, raising=False)
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        reset_settings_cache()
        reset_jobber_clients()
        reset_channel_cache()
        upgrade_database()
        yield sb
        reset_jobber_clients()
        reset_channel_cache()
        reset_settings_cache()
        dispose_engines()
