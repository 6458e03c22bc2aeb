"""The gateway's Twilio webhooks, with requests signed by Twilio's own RequestValidator, on SQLite and
PostgreSQL."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import Engine, func, select
from twilio.request_validator import RequestValidator

from deployments.gateway.app import create_app
from tasks.settings import Settings
from tasks.store.db import get_engine, unit_of_work
from tasks.store.models import Delivery, InboundMessage, ReviewRequest, Suppression
from tasks.store.optouts import is_suppressed

TOKEN = "twilio-auth-token-for-tests"
PUBLIC = "https://reviews.example.com"
CUSTOMER = "+15125550143"
OUR_NUMBER = "+15125550100"


@pytest.fixture
def engine(db_url: str) -> Engine:
    return get_engine(db_url)


def make_settings(tmp_path: Path, db_url: str, **values: object) -> Settings:
    base: dict[str, object] = {
        "database_url": db_url,
        "jobberflow_home": tmp_path,
        "public_url": PUBLIC + "/",
        "twilio_auth_token": TOKEN,
        "business_name": "Mike's Plumbing",
        "business_help_reply": None,
    }
    base.update(values)
    return Settings(_env_file=None, **base)  # type: ignore[arg-type]


class Gateway:
    """Calls the ASGI app in-process (httpx.ASGITransport), as the other gateway tests do."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app

    def post(
        self,
        path: str,
        *,
        content: str | bytes = b"",
        headers: dict[str, str] | None = None,
        data: dict[str, str] | None = None,
    ) -> httpx.Response:
        async def go() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://gateway.internal:8700") as client:
                if data is not None:
                    return await client.post(path, data=data, headers=headers)
                return await client.post(path, content=content, headers=headers)

        return asyncio.run(go())


def gateway(tmp_path: Path, db_url: str, engine: Engine, **values: Any) -> Gateway:
    return Gateway(create_app(make_settings(tmp_path, db_url, **values), engine=engine))


@pytest.fixture
def client(tmp_path: Path, db_url: str, engine: Engine) -> Gateway:
    return gateway(tmp_path, db_url, engine)


def post_signed(
    client: Gateway,
    path: str,
    params: dict[str, str],
    *,
    url: str | None = None,
    token: str = TOKEN,
    tamper: dict[str, str] | None = None,
) -> httpx.Response:
    signature = RequestValidator(token).compute_signature(url or PUBLIC + path, params)
    body = dict(params, **(tamper or {}))
    return client.post(
        path,
        content=urlencode(body),
        headers={"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": signature},
    )


def inbound(body: str, sid: str = "SM" + "a" * 32, sender: str = CUSTOMER) -> dict[str, str]:
    return {
        "MessageSid": sid,
        "SmsSid": sid,
        "AccountSid": "AC" + "0" * 32,
        "From": sender,
        "To": OUR_NUMBER,
        "Body": body,
        "NumMedia": "0",
        "FromCity": "AUSTIN",
    }


def count(engine: Engine, model: type) -> int:
    with unit_of_work(engine) as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


@pytest.mark.parametrize("body", ["STOP", "stop", "  Stop  ", "\tUNSUBSCRIBE\n", "optout"])
def test_stop_in_any_case_suppresses_and_answers_empty_twiml(client: Gateway, engine: Engine, body: str) -> None:
    response = post_signed(client, "/twilio/inbound", inbound(body))

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/xml")
    assert response.text == '<?xml version="1.0" encoding="UTF-8"?><Response />'
    with unit_of_work(engine) as session:
        assert is_suppressed(session, channel="sms", address=CUSTOMER)
        assert session.scalar(select(InboundMessage.action)) == "opt_out"


@pytest.mark.parametrize("body", ["OPT OUT", "opt-out", "ＳＴＯＰ", "STOP 🛑", "Stop texting me"])
def test_opt_out_spelled_any_way_suppresses_the_number(client: Gateway, engine: Engine, body: str) -> None:
    assert post_signed(client, "/twilio/inbound", inbound(body)).status_code == 200
    with unit_of_work(engine) as session:
        assert is_suppressed(session, channel="sms", address=CUSTOMER)
        assert session.scalar(select(InboundMessage.action)) == "opt_out"


def test_start_lifts_the_suppression(client: Gateway, engine: Engine) -> None:
    post_signed(client, "/twilio/inbound", inbound("STOP", sid="SM1"))
    response = post_signed(client, "/twilio/inbound", inbound("start", sid="SM2"))

    assert response.status_code == 200
    assert "<Message>" not in response.text
    with unit_of_work(engine) as session:
        assert not is_suppressed(session, channel="sms", address=CUSTOMER)


def test_help_answers_with_the_business_reply(client: Gateway, engine: Engine) -> None:
    response = post_signed(client, "/twilio/inbound", inbound("HELP"))

    assert response.text == (
        '<?xml version="1.0" encoding="UTF-8"?>'
        "<Response><Message>Mike's Plumbing: reply STOP to opt out.</Message></Response>"
    )
    assert count(engine, Suppression) == 0


def test_help_answers_with_the_configured_reply(tmp_path: Path, db_url: str, engine: Engine) -> None:
    client = gateway(tmp_path, db_url, engine, business_help_reply="Mike's Plumbing: call 512-555-0100.")
    response = post_signed(client, "/twilio/inbound", inbound("info"))
    assert "call 512-555-0100." in response.text


def test_a_duplicate_message_sid_is_stored_once(client: Gateway, engine: Engine) -> None:
    for _ in range(3):
        assert post_signed(client, "/twilio/inbound", inbound("STOP")).status_code == 200
    assert count(engine, InboundMessage) == 1
    assert count(engine, Suppression) == 1


def test_a_reply_stops_follow_ups(client: Gateway, engine: Engine) -> None:
    with unit_of_work(engine) as session:
        from tasks.store.models import utcnow

        session.add(
            ReviewRequest(job_id="j1", trigger="job_closed", status="sent", recipient_phone=CUSTOMER, sent_at=utcnow())
        )
    response = post_signed(client, "/twilio/inbound", inbound("Great job, thank you!"))

    assert response.status_code == 200
    with unit_of_work(engine) as session:
        assert session.scalar(select(ReviewRequest.replied_at)) is not None
        assert session.scalar(select(InboundMessage.action)) == "reply"


def test_a_tampered_request_is_refused_and_nothing_is_stored(
    client: Gateway, engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    response = post_signed(client, "/twilio/inbound", inbound("Great!"), tamper={"Body": "STOP"})

    assert response.status_code == 401
    assert response.json() == {"detail": "unauthorized"}
    assert count(engine, InboundMessage) == 0
    assert count(engine, Suppression) == 0
    assert "signature does not match" in caplog.text
    assert TOKEN not in caplog.text
    assert CUSTOMER not in caplog.text


@pytest.mark.parametrize(
    "case",
    ["internal_url", "wrong_token", "no_signature"],
)
def test_other_bad_signatures_are_refused(client: Gateway, engine: Engine, case: str) -> None:
    params = inbound("STOP")
    if case == "internal_url":  # signed for the address this process sees, not the public one Twilio calls
        response = post_signed(client, "/twilio/inbound", params, url="http://gateway.internal:8700/twilio/inbound")
    elif case == "wrong_token":
        response = post_signed(client, "/twilio/inbound", params, token="another-token")
    else:
        response = client.post("/twilio/inbound", data=params)
    assert response.status_code == 401
    assert count(engine, InboundMessage) == 0


def test_without_an_auth_token_every_request_is_refused(tmp_path: Path, db_url: str, engine: Engine) -> None:
    client = gateway(tmp_path, db_url, engine, twilio_auth_token=None)
    response = post_signed(client, "/twilio/inbound", inbound("STOP"))
    assert response.status_code == 401
    assert count(engine, InboundMessage) == 0


def test_inbound_logs_mask_the_phone_number(client: Gateway, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="deployments.gateway.twilio")
    post_signed(client, "/twilio/inbound", inbound("STOP"))
    assert "+*********43" in caplog.text
    assert CUSTOMER not in caplog.text


def add_delivery(engine: Engine, sid: str) -> int:
    with unit_of_work(engine) as session:
        request = ReviewRequest(job_id="j1", trigger="job_closed", status="sent", recipient_phone=CUSTOMER)
        session.add(request)
        session.flush()
        delivery = Delivery(
            review_request_id=request.id,
            idempotency_key=f"{request.id}:initial",
            kind="initial",
            channel="sms",
            to_address=CUSTOMER,
            provider="twilio",
            provider_message_id=sid,
            status="sent",
        )
        session.add(delivery)
        session.flush()
        return delivery.id


def status_params(sid: str, status: str, error_code: str | None = None) -> dict[str, str]:
    params = {
        "MessageSid": sid,
        "SmsSid": sid,
        "MessageStatus": status,
        "SmsStatus": status,
        "AccountSid": "AC" + "0" * 32,
        "From": OUR_NUMBER,
        "To": CUSTOMER,
        "ApiVersion": "2010-04-01",
    }
    if error_code:
        params["ErrorCode"] = error_code
    return params


def test_status_callback_updates_the_delivery(client: Gateway, engine: Engine) -> None:
    delivery_id = add_delivery(engine, "SMstatus1")

    response = post_signed(client, "/twilio/status", status_params("SMstatus1", "undelivered", "30003"))

    assert response.status_code == 204
    with unit_of_work(engine) as session:
        delivery = session.get(Delivery, delivery_id)
        assert delivery is not None
        assert (delivery.status, delivery.error_code) == ("undelivered", "30003")

    # A late "sent" receipt does not move it back.
    post_signed(client, "/twilio/status", status_params("SMstatus1", "sent"))
    with unit_of_work(engine) as session:
        assert session.get(Delivery, delivery_id).status == "undelivered"  # type: ignore[union-attr]


def test_a_tampered_status_callback_changes_nothing(client: Gateway, engine: Engine) -> None:
    delivery_id = add_delivery(engine, "SMstatus2")

    response = post_signed(
        client, "/twilio/status", status_params("SMstatus2", "delivered"), tamper={"MessageStatus": "failed"}
    )

    assert response.status_code == 401
    with unit_of_work(engine) as session:
        assert session.get(Delivery, delivery_id).status == "sent"  # type: ignore[union-attr]


def test_public_url_with_a_query_string_is_part_of_the_signature(client: Gateway, engine: Engine) -> None:
    delivery_id = add_delivery(engine, "SMstatus3")
    params = status_params("SMstatus3", "delivered")
    signature = RequestValidator(TOKEN).compute_signature(PUBLIC + "/twilio/status?source=ms", params)

    response = client.post(
        "/twilio/status?source=ms",
        content=urlencode(params),
        headers={"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": signature},
    )

    assert response.status_code == 204
    with unit_of_work(engine) as session:
        assert session.get(Delivery, delivery_id).status == "delivered"  # type: ignore[union-attr]
