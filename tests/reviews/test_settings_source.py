"""One store for the contractor's review settings: the jobber-events deployment's `settings` in Prefect.

An edit made through Prefect's API (what the UI does) reaches every reader within its TTL: the event worker's
task run, the review-poll flow, the gateway's Make.com endpoint and admin page, the CLI's loader, and the
runner, which registers the deployment again with the stored value instead of prefect.yaml's.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from tasks.reviews import settings_source as source
from tasks.reviews.settings_source import forget_review_settings, review_settings, settings_to_register
from tasks.settings import Settings, reset_settings_cache
from tests.gateway.test_reviews import BODY, Gateway

pytestmark = pytest.mark.prefect

LINK = "https://g.page/r/settings-source-test/review"
# Laid over prefect.yaml's settings (delay_minutes 120 there): the seed until the deployment exists.
OVERRIDES = {"review_link": LINK, "quiet_hours_enabled": False}
SEED = {**OVERRIDES, "delay_minutes": 120}
MAKE_TOKEN = "make-token-0123456789abcdef"
ADMIN_TOKEN = "admin-token-0123456789abcdef"


@pytest.fixture
def store(prefect_server: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A migrated database, a static Jobber token, the seed's overrides; no jobber-events deployment yet.
    Yields the database URL; deletes the deployment it may have made (the Prefect server is shared)."""
    from prefect.client.orchestration import get_client

    from tasks.store.db import dispose_engines
    from tasks.store.migrate import upgrade_database

    url = f"sqlite:///{tmp_path / 'source.db'}"
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("JOBBER_API_KEY", "a-static-access-token")
    monkeypatch.setenv("JOBBERFLOW_PARAMETER_OVERRIDES", json.dumps({"jobber-events": {"settings": OVERRIDES}}))
    for name in ("JOBBER_CLIENT_ID", "JOBBER_CLIENT_SECRET", "JOBBER_REFRESH_TOKEN", "TWILIO_ACCOUNT_SID"):
        monkeypatch.setenv(name, "")
    reset_settings_cache()
    forget_review_settings()
    upgrade_database(url)
    yield url
    with get_client(sync_client=True) as client:
        for deployment in client.read_deployments():
            if deployment.name == source.DEPLOYMENT:
                client.delete_deployment(deployment.id)
    forget_review_settings()
    reset_settings_cache()
    dispose_engines()


def register(parameters: dict[str, Any]) -> Any:
    """Create the jobber-events deployment as the runner or `prefect deploy` would (its id)."""
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        flow_id = client.create_flow_from_name(source.FLOW)
        return client.create_deployment(flow_id=flow_id, name=source.DEPLOYMENT, parameters=parameters)


def edit_in_prefect(deployment_id: Any, settings: dict[str, Any]) -> None:
    """What saving the deployment's parameters in the Prefect UI does: PATCH /deployments/{id}."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import DeploymentUpdate

    with get_client(sync_client=True) as client:
        current = client.read_deployment(deployment_id).parameters
        client.update_deployment(deployment_id, DeploymentUpdate(parameters={**current, "settings": settings}))


class Readers:
    """Each reader of the review settings, asked the way it asks in production."""

    def __init__(self, database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
        from deployments.gateway.app import create_app
        from tasks.store.db import get_engine

        self.monkeypatch = monkeypatch
        app = create_app(
            Settings(  # type: ignore[call-arg]
                _env_file=None,
                database_url=database_url,
                make_webhook_token=MAKE_TOKEN,
                admin_token=SecretStr(ADMIN_TOKEN),
            ),
            engine=get_engine(database_url),
            relay=False,
        )
        self.gateway = Gateway(app)
        self.jobs = 0

    def event_worker(self) -> int:
        """A `handle_jobber_events` task run (Prefect runs it): the settings it hands the event handler."""
        from flows import jobber_events
        from tasks.events.handler import DrainResult

        seen: list[Any] = []

        def drain(ctx: Any, **_: Any) -> DrainResult:
            seen.append(ctx.review)
            return DrainResult()

        self.monkeypatch.setattr(jobber_events, "drain", drain)
        jobber_events.handle_jobber_events()
        return int(seen[0].delay_minutes)

    def review_poll(self) -> int:
        """The review-poll flow, run without settings as its deployment runs it: what it polls with."""
        from flows import review_request

        seen: list[Any] = []

        def poll(settings: Any, *_: Any) -> Any:
            seen.append(settings)
            raise LookupError("stop here: only the settings matter")

        self.monkeypatch.setattr(review_request, "poll_task", poll)
        with pytest.raises(LookupError, match="stop here"):
            review_request.review_poll.fn()
        return int(seen[0].delay_minutes)

    def make_endpoint(self) -> int:
        """The Make.com endpoint: the delay it planned a new request with, in minutes."""
        self.jobs += 1
        body = {  # another job and customer each time: no dedupe, no cooldown
            **BODY,
            "job_id": f"settings-source-{self.jobs}-{time.monotonic_ns()}",
            "phone": f"+1 512-555-{100 + self.jobs:04d}",
            "email": f"customer{self.jobs}@example.com",
        }
        answer = self.gateway.post(
            "/api/webhooks/trigger-review",
            content=json.dumps(body).encode(),
            headers={"content-type": "application/json", "authorization": f"Bearer {MAKE_TOKEN}"},
        )
        assert answer.status_code == 202, answer.text
        assert answer.json()["planned_at"], answer.json()
        planned = datetime.fromisoformat(answer.json()["planned_at"])
        return round((planned - datetime.now(UTC)) / timedelta(minutes=1))

    def admin_page(self) -> int:
        answer = self.gateway.get("/admin/jobber.json", headers={"authorization": f"Bearer {ADMIN_TOKEN}"})
        assert answer.status_code == 200, answer.text
        return int(answer.json()["review_settings"]["delay"].removesuffix(" min"))

    def cli(self) -> int:
        """What `jobberflow reviews preview` loads when given no settings file."""
        from tasks.reviews.cli import load_review_settings

        return load_review_settings().delay_minutes

    def runner(self) -> int:
        """What `jobberflow serve` registers the deployment with."""
        registered = settings_to_register()
        assert registered is not None
        return int(registered.get("delay_minutes", 120))

    def all(self) -> dict[str, int]:
        return {
            name: getattr(self, name)()
            for name in ("event_worker", "review_poll", "make_endpoint", "admin_page", "cli", "runner")
        }


def test_an_edit_in_prefect_reaches_every_reader_within_its_ttl(store: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(source, "TTL_S", 2.0)
    readers = Readers(store, monkeypatch)
    # Before the deployment exists, prefect.yaml with the overrides is the seed, for everyone.
    assert set(readers.all().values()) == {120}

    deployment_id = register({"stale_after_seconds": 60, "settings": settings_to_register()})
    edit_in_prefect(deployment_id, {**SEED, "delay_minutes": 600, "trigger": "invoice_paid"})
    time.sleep(2.1)  # one TTL
    assert readers.all() == dict.fromkeys(
        ("event_worker", "review_poll", "make_endpoint", "admin_page", "cli", "runner"), 600
    )
    admin = readers.gateway.get("/admin/jobber", headers={"authorization": f"Bearer {ADMIN_TOKEN}"}).text
    assert "invoice_paid" in admin and "600 min" in admin


def test_readers_keep_their_value_for_the_ttl_and_then_ask_again(store: str) -> None:
    deployment_id = register({"settings": SEED})
    assert review_settings(now=1000.0) is not None
    edit_in_prefect(deployment_id, {**SEED, "delay_minutes": 45})
    cached = review_settings(now=1000.0 + source.TTL_S - 1)
    assert cached is not None and cached.delay_minutes == 120, "within the TTL: no request to Prefect"
    fresh = review_settings(now=1000.0 + source.TTL_S + 1)
    assert fresh is not None and fresh.delay_minutes == 45


def test_the_runner_keeps_an_edit_and_lays_only_the_overrides_over_it(
    store: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    deployment_id = register({"settings": SEED})
    edit_in_prefect(deployment_id, {**SEED, "delay_minutes": 30, "channels": "email"})
    assert settings_to_register() == {**SEED, "delay_minutes": 30, "channels": "email"}, "the edit stays"
    override = {"jobber-events": {"settings": {"review_link": LINK + "?demo", "channels": "sms"}}}
    monkeypatch.setenv("JOBBERFLOW_PARAMETER_OVERRIDES", json.dumps(override))
    reset_settings_cache()
    assert settings_to_register() == {**SEED, "review_link": LINK + "?demo", "delay_minutes": 30, "channels": "sms"}


def test_prefect_unreachable_keeps_the_last_value(store: str, monkeypatch: pytest.MonkeyPatch) -> None:
    deployment_id = register({"settings": SEED})
    edit_in_prefect(deployment_id, {**SEED, "delay_minutes": 15})
    assert (review_settings(now=0.0) or pytest.fail()).delay_minutes == 15

    def down() -> None:
        raise ConnectionError("Prefect is down")

    monkeypatch.setattr(source, "stored_settings", down)
    kept = review_settings(now=source.TTL_S + 1)
    assert kept is not None and kept.delay_minutes == 15, "not the seed's 120: the last value read"
    forget_review_settings()
    seed = review_settings(now=0.0)
    assert seed is not None and seed.delay_minutes == 120, "nothing read yet: the seed"
