"""The gateway's review routes: the Make.com endpoint (auth both ways, 4xx on bad input, dedupe with the
webhook path), the tracked click redirect and the email unsubscribe."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import anyio
import httpx
import pytest
from sqlalchemy import Engine, select

from tasks.delivery.base import RecordingChannel
from tasks.reviews.rules.mapping import context_from_job
from tasks.reviews.usecases.plan import plan_request
from tasks.reviews.usecases.send import Channels, dispatch_due
from tasks.settings import Settings
from tasks.store.db import unit_of_work
from tasks.store.models import ReviewRequest, Suppression
from tests.reviews.conftest import BRANDING, NOW, REVIEW_LINK, job_node, review_settings

TOKEN = "make-token-0123456789abcdef"
SECRET = "make-secret-0123456789abcdef"
URL = "/api/webhooks/trigger-review"

BODY = {
    "customer_name": "John Smith",
    "phone": "+1 512-555-0142",
    "email": "john.smith@example.com",
    "technician": "Mike Thompson",
    "job_title": "Water Heater Installation",
    "job_id": "Z2lkOi8vSm9iYmVyL0pvYi8x",
    "state": "TX",
    "country": "US",
}


@pytest.fixture
def engine(db_url: str) -> Engine:
    from tasks.store.db import get_engine

    return get_engine(db_url)


class Gateway:
    """A small synchronous client over httpx's ASGI transport (no server, no lifespan)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        async def go() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app)
            async with httpx.AsyncClient(transport=transport, base_url="https://reviews.example.test") as client:
                return await client.request(method, url, **kwargs)

        return anyio.run(go)

    def get(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", url, **kwargs)


@pytest.fixture
def gateway(engine: Engine) -> Iterator[Gateway]:
    from deployments.gateway.app import create_app

    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        make_webhook_token=TOKEN,
        make_webhook_secret=SECRET,
        public_url="https://reviews.example.test",
    )
    app = create_app(settings, engine=engine)
    app.state.review_settings = review_settings(channels="sms_then_email")
    yield Gateway(app)


def post(client: Gateway, body: Any, **headers: str) -> Any:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return client.post(URL, content=raw, headers={"content-type": "application/json", **headers})


def signed(body: dict[str, Any]) -> tuple[bytes, str]:
    raw = json.dumps(body).encode()
    return raw, hmac.new(SECRET.encode(), raw, hashlib.sha256).hexdigest()


def test_make_endpoint_with_bearer_token_plans_a_request(gateway: Gateway, engine: Engine) -> None:
    answer = post(gateway, BODY, authorization=f"Bearer {TOKEN}")
    assert answer.status_code == 202, answer.text
    data = answer.json()
    assert data["status"] == "planned" and data["id"]
    with unit_of_work(engine) as session:
        row = session.get(ReviewRequest, data["id"])
        assert row is not None
        assert (row.source, row.recipient_phone, row.channel, row.recipient_timezone) == (
            "make",
            "+15125550142",
            "sms",
            "America/Chicago",
        )


def test_make_request_without_state_is_planned_in_the_phone_numbers_zone_not_utc(
    gateway: Gateway, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tasks.reviews.usecases import makecom

    monkeypatch.setattr(makecom, "jobber_account_zone", lambda account_key: None)  # a Make.com-only install
    body = {k: v for k, v in BODY.items() if k not in ("state", "country")} | {"phone": "(415) 555-0100"}
    answer = post(gateway, body, authorization=f"Bearer {TOKEN}")
    assert answer.status_code == 202, answer.text
    with unit_of_work(engine) as session:
        row = session.get(ReviewRequest, answer.json()["id"])
        assert row is not None and row.recipient_timezone == "America/Los_Angeles"


def test_make_endpoint_with_hmac_signature(gateway: Gateway) -> None:
    raw, signature = signed(BODY)
    assert post(gateway, raw, **{"x-signature": signature}).status_code == 202
    raw, signature = signed({**BODY, "job_id": "other"})
    assert post(gateway, raw, **{"x-signature": "sha256=" + signature}).status_code == 202


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"authorization": "Bearer wrong"},
        {"authorization": f"Basic {TOKEN}"},
        {"x-signature": "00" * 32},
    ],
)
def test_make_endpoint_refuses_unauthenticated_calls(gateway: Gateway, engine: Engine, headers: dict[str, str]) -> None:
    answer = post(gateway, BODY, **headers)
    assert answer.status_code == 401
    assert TOKEN not in answer.text
    with unit_of_work(engine) as session:
        assert session.scalars(select(ReviewRequest)).first() is None


def test_a_signature_over_another_body_is_refused(gateway: Gateway) -> None:
    _, signature = signed(BODY)
    tampered = json.dumps({**BODY, "phone": "+15125550199"}).encode()
    assert post(gateway, tampered, **{"x-signature": signature}).status_code == 401


@pytest.mark.parametrize(
    "body,status,field",
    [
        ({**BODY, "phone": "not a phone"}, 422, "phone"),
        ({**BODY, "email": "nope"}, 422, "email"),
        ({k: v for k, v in BODY.items() if k != "job_id"}, 422, "job_id"),
        ({k: v for k, v in BODY.items() if k != "customer_name"}, 422, "customer_name"),
        ({"customer_name": "John", "job_id": "1"}, 422, "body"),
        (b"{not json", 400, None),
        ([1, 2], 400, None),
    ],
)
def test_make_endpoint_answers_bad_input_with_a_clear_4xx(
    gateway: Gateway, body: Any, status: int, field: str | None
) -> None:
    answer = post(gateway, body, authorization=f"Bearer {TOKEN}")
    assert answer.status_code == status, answer.text
    if field is not None:
        fields = [e["field"] for e in answer.json()["detail"]]
        assert field in fields or (field == "body" and fields == ["body"]), fields


def test_make_and_webhook_paths_share_one_dedupe(gateway: Gateway, engine: Engine) -> None:
    # The webhook path planned job #1042 first ...
    webhook = plan_request(
        engine,
        context=context_from_job(job_node()),
        settings=review_settings(),
        branding=BRANDING,
        account_key="default",
        trigger_item_id="x",
        trigger_at=None,
        source="webhook",
    )
    assert webhook.status == "planned"
    # ... then the old Make scenario fires for the same job, by id and by number.
    by_id = post(gateway, BODY, authorization=f"Bearer {TOKEN}").json()
    by_number = post(gateway, {**BODY, "job_id": "1042"}, authorization=f"Bearer {TOKEN}").json()
    assert (by_id["status"], by_id["id"]) == ("duplicate", webhook.request_id)
    assert (by_number["status"], by_number["id"]) == ("duplicate", webhook.request_id)


def test_make_first_then_webhook_is_a_duplicate(gateway: Gateway, engine: Engine) -> None:
    made = post(gateway, {**BODY, "job_id": "1042"}, authorization=f"Bearer {TOKEN}").json()
    webhook = plan_request(
        engine,
        context=context_from_job(job_node()),
        settings=review_settings(),
        branding=BRANDING,
        account_key="default",
        trigger_item_id="x",
        trigger_at=None,
        source="webhook",
    )
    assert (webhook.status, webhook.request_id) == ("duplicate", made["id"])


def _sent_request(engine: Engine, **settings: Any) -> ReviewRequest:
    decision = plan_request(
        engine,
        context=context_from_job(job_node()),
        settings=review_settings(**settings),
        branding=BRANDING,
        account_key="default",
        trigger_item_id="x",
        trigger_at=NOW,
        source="webhook",
        now=NOW,
    )
    channels = Channels(sms=RecordingChannel(), email=RecordingChannel())
    dispatch_due(engine, channels=channels, jobber=None, now=lambda: NOW)
    with unit_of_work(engine) as session:
        row = session.get(ReviewRequest, decision.request_id)
        assert row is not None and row.status == "sent"
        session.expunge(row)
        return row


def test_click_redirects_to_the_review_link_and_stops_follow_ups(gateway: Gateway, engine: Engine) -> None:
    row = _sent_request(engine, follow_ups=2)
    assert row.next_follow_up_at is not None
    answer = gateway.get(f"/r/{row.click_token}", follow_redirects=False)
    assert answer.status_code == 302 and answer.headers["location"] == REVIEW_LINK
    with unit_of_work(engine) as session:
        clicked = session.get(ReviewRequest, row.id)
        assert clicked is not None and clicked.clicked_at is not None and clicked.next_follow_up_at is None
    channels = Channels(sms=RecordingChannel(), email=RecordingChannel())
    later = NOW + timedelta(days=10)
    assert dispatch_due(engine, channels=channels, jobber=None, now=lambda: later).decisions == []


def test_link_previews_are_redirected_but_not_counted(gateway: Gateway, engine: Engine) -> None:
    row = _sent_request(engine)
    answer = gateway.get(f"/r/{row.click_token}", headers={"user-agent": "WhatsApp/2.23"}, follow_redirects=False)
    assert answer.status_code == 302
    with unit_of_work(engine) as session:
        assert session.get(ReviewRequest, row.id).clicked_at is None  # type: ignore[union-attr]


def test_unknown_click_token_is_404(gateway: Gateway) -> None:
    assert gateway.get("/r/nope", follow_redirects=False).status_code == 404


def test_one_click_unsubscribe_suppresses_the_email(gateway: Gateway, engine: Engine) -> None:
    row = _sent_request(engine, channels="email", follow_ups=1)
    page = gateway.get(f"/u/{row.click_token}")
    assert page.status_code == 200 and "<form" in page.text
    with unit_of_work(engine) as session:
        assert session.scalars(select(Suppression)).first() is None  # GET alone changes nothing
    answer = gateway.post(f"/u/{row.click_token}", content=b"List-Unsubscribe=One-Click")
    assert answer.status_code == 200
    with unit_of_work(engine) as session:
        suppression = session.scalars(select(Suppression)).one()
        assert (suppression.channel, suppression.address) == ("email", "john.smith@example.com")
        assert session.get(ReviewRequest, row.id).next_follow_up_at is None  # type: ignore[union-attr]
