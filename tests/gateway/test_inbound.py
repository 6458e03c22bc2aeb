"""deployments/gateway/inbound.py: one Verifier per provider (good, bad, missing, replayed), one refusal shape on
every route that checks a provider, and the capped body reader."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import time
from collections.abc import Iterator
from urllib.parse import urlencode

import httpx
import pytest
from fastapi import FastAPI
from slack_sdk.signature import SignatureVerifier
from starlette.types import Message
from twilio.request_validator import RequestValidator

from deployments.gateway.inbound import (
    Inbound,
    JobberVerifier,
    MakeVerifier,
    SlackVerifier,
    TwilioVerifier,
    Verifier,
    read_body,
)
from tasks.errors import BodyTooLarge, ClientDisconnected
from tasks.jobber.webhooks import sign
from tasks.slack.signature import compute_signature
from tests.gateway.test_webhooks_support import call, close_gateway, inbox_rows, make_gateway, webhook_body

# -- Jobber ---------------------------------------------------------------------------------------------------


def jobber(body: bytes, header: str | None, secrets: list[str]) -> str | None:
    return JobberVerifier(secrets).check(Inbound(body, {"x-jobber-hmac-sha256": header} if header is not None else {}))


def test_jobber_accepts_the_published_hmac_sha256_vector() -> None:
    # RFC 4231 test case 2: HMAC-SHA256(key="Jefe", "what do ya want for nothing?")
    digest = bytes.fromhex("5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
    assert jobber(b"what do ya want for nothing?", base64.b64encode(digest).decode(), ["Jefe"]) is None


def test_jobber_accepts_every_secret_of_a_rotation_and_nothing_else() -> None:
    body = webhook_body()
    old, new = "old-secret", "new-secret"
    assert jobber(body, sign(body, old), [new, old]) is None
    assert jobber(body, sign(body, new), [new, old]) is None
    assert jobber(body, sign(body, "third"), [new, old]) == "signature does not match"
    assert jobber(body + b" ", sign(body, new), [new]) == "signature does not match"  # tampered body
    assert jobber(body, sign(body, new).rstrip("="), [new]) is not None  # unpadded is not what Jobber sends
    assert jobber(body, base64.urlsafe_b64encode(b"\xff" * 32).decode(), [new]) is not None
    for header in ("", "   ", "not base64!", "sha256=" + sign(body, new), "A" * 10_000):
        assert jobber(body, header, [new]) is not None, header
    assert jobber(body, None, [new]) == "missing signature header"
    assert "JOBBER_WEBHOOK_SECRET" in str(jobber(body, sign(body, new), []))
    assert jobber(body, sign(body, ""), [""]) is not None  # an empty secret never verifies
    assert not JobberVerifier([""]).configured


# -- Slack ----------------------------------------------------------------------------------------------------

# The example in Slack's "Verifying requests from Slack" guide.
DOC_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
DOC_TIMESTAMP = "1531420618"
DOC_BODY = (
    b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V"
    b"&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text="
    b"&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN"
    b"&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
)
DOC_SIGNATURE = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"


def slack(
    *,
    secrets: list[str] | None = None,
    body: bytes = DOC_BODY,
    timestamp: str | None = DOC_TIMESTAMP,
    signature: str | None = DOC_SIGNATURE,
    now: float = int(DOC_TIMESTAMP) + 10,
) -> str | None:
    headers = {}
    if timestamp is not None:
        headers["x-slack-request-timestamp"] = timestamp
    if signature is not None:
        headers["x-slack-signature"] = signature
    verifier = SlackVerifier([DOC_SECRET] if secrets is None else secrets)
    return verifier.check(Inbound(body, headers, now=now))


def test_slack_accepts_its_published_example_and_agrees_with_the_official_sdk() -> None:
    assert compute_signature(DOC_SECRET, DOC_TIMESTAMP, DOC_BODY) == DOC_SIGNATURE
    assert slack() is None
    now = int(time.time())
    body = b"command=%2Fjobber&text=jobs+late"
    signature = compute_signature("s3cret", str(now), body)
    headers = {"x-slack-request-timestamp": str(now), "x-slack-signature": signature}
    assert SignatureVerifier("s3cret").is_valid_request(body, headers)
    assert SlackVerifier(["s3cret"]).check(Inbound(body, headers)) is None


@pytest.mark.parametrize(
    ("case", "reason"),
    [
        ({"body": DOC_BODY + b"&text=x"}, "signature mismatch"),
        ({"secrets": ["another-secret"]}, "signature mismatch"),
        ({"signature": DOC_SIGNATURE.replace("v0=", "v1=")}, "version"),
        ({"signature": None}, "missing"),
        ({"timestamp": ""}, "missing"),
        ({"timestamp": "15314206l8"}, "malformed"),
        ({"now": int(DOC_TIMESTAMP) + 301}, "too old"),  # a replay of a request Slack sent 5 min ago
        ({"now": int(DOC_TIMESTAMP) - 301}, "in the future"),
        ({"secrets": []}, "SLACK_SIGNING_SECRET"),
    ],
)
def test_slack_refusals_say_why_without_the_secret(case: dict[str, object], reason: str) -> None:
    said = slack(**case)  # type: ignore[arg-type]
    assert said is not None and reason in said and DOC_SECRET not in said


def test_slack_accepts_five_minutes_either_way_and_both_secrets_of_a_rotation() -> None:
    assert slack(now=int(DOC_TIMESTAMP) + 300) is None
    assert slack(now=int(DOC_TIMESTAMP) - 300) is None
    assert slack(secrets=["new-secret-value", DOC_SECRET]) is None


def test_a_replayed_slack_request_is_refused_by_the_route(db_url: str) -> None:
    """A request captured and sent again later carries its old timestamp: refused (401), not answered."""
    secret = "slack-signing-secret-for-tests-5f1b"
    app = make_gateway(db_url, slack_signing_secret=secret)
    body = b"command=%2Fjobber&text=help"
    then = str(int(time.time()) - 600)
    headers = {
        "x-slack-request-timestamp": then,
        "x-slack-signature": compute_signature(secret, then, body),
        "content-type": "application/x-www-form-urlencoded",
    }
    try:
        replayed = post(app, "/slack/commands", body, headers)
        now = str(int(time.time()))
        fresh = post(
            app,
            "/slack/commands",
            body,
            {**headers, "x-slack-request-timestamp": now, "x-slack-signature": compute_signature(secret, now, body)},
        )
    finally:
        close_gateway(app)
    assert replayed.status_code == 401 and replayed.json() == {"detail": "unauthorized"}
    assert fresh.status_code == 200


# -- Twilio ---------------------------------------------------------------------------------------------------

TWILIO_TOKEN = "twilio-auth-token-for-tests-8c2d"  # noqa: S105 - a test value
TWILIO_URL = "https://gateway.example.com/twilio/inbound"
PARAMS = {"MessageSid": "SM" + "a" * 32, "From": "+15125550142", "Body": "STOP"}


def twilio(params: dict[str, str], headers: dict[str, str], *, token: str | None = TWILIO_TOKEN) -> str | None:
    return TwilioVerifier(token).check(Inbound(urlencode(params).encode(), headers, url=TWILIO_URL))


def test_twilio_accepts_its_own_signature_over_the_public_url_and_the_form() -> None:
    signature = RequestValidator(TWILIO_TOKEN).compute_signature(TWILIO_URL, PARAMS)
    assert twilio(PARAMS, {"x-twilio-signature": signature}) is None


def test_twilio_refuses_a_bad_a_missing_or_an_unconfigured_signature() -> None:
    signature = RequestValidator(TWILIO_TOKEN).compute_signature(TWILIO_URL, PARAMS)
    assert "does not match" in str(twilio({**PARAMS, "Body": "START"}, {"x-twilio-signature": signature}))
    other = RequestValidator("another-token").compute_signature(TWILIO_URL, PARAMS)
    assert "does not match" in str(twilio(PARAMS, {"x-twilio-signature": other}))
    internal = RequestValidator(TWILIO_TOKEN).compute_signature("http://10.0.0.5:8700/twilio/inbound", PARAMS)
    assert "PUBLIC_URL" in str(twilio(PARAMS, {"x-twilio-signature": internal}))
    assert "X-Twilio-Signature" in str(twilio(PARAMS, {}))
    assert "TWILIO_AUTH_TOKEN" in str(twilio(PARAMS, {"x-twilio-signature": signature}, token=None))
    bad_bytes = TwilioVerifier(TWILIO_TOKEN).check(Inbound(b"\xff\xfe", {"x-twilio-signature": signature}))
    assert bad_bytes == "body is not UTF-8 form data"


# -- Make.com -------------------------------------------------------------------------------------------------

MAKE_TOKEN, MAKE_SECRET = "make-webhook-token-for-tests-3e7a", "make-webhook-secret-for-tests-7c1d"  # noqa: S105


def make(headers: dict[str, str], body: bytes = b'{"job_id":"1"}', **keys: str | None) -> str | None:
    verifier = MakeVerifier(keys.get("token", MAKE_TOKEN), keys.get("secret", MAKE_SECRET))
    return verifier.check(Inbound(body, headers))


def test_make_accepts_its_bearer_token_or_a_body_hmac() -> None:
    body = b'{"job_id":"1"}'
    digest = hmac.new(MAKE_SECRET.encode(), body, hashlib.sha256).hexdigest()
    assert make({"authorization": f"Bearer {MAKE_TOKEN}"}) is None
    assert make({"authorization": f"bearer  {MAKE_TOKEN} "}) is None
    assert make({"x-signature": digest}) is None
    assert make({"x-signature": "sha256=" + digest.upper()}) is None


def test_make_refuses_a_wrong_token_a_tampered_body_a_missing_proof_or_no_configuration() -> None:
    digest = hmac.new(MAKE_SECRET.encode(), b'{"job_id":"1"}', hashlib.sha256).hexdigest()
    assert make({"authorization": f"Bearer {MAKE_TOKEN}x"}) is not None
    assert make({"authorization": f"Basic {MAKE_TOKEN}"}) is not None
    assert make({"x-signature": digest}, body=b'{"job_id":"2"}') is not None
    assert make({}) is not None
    assert make({"authorization": f"Bearer {MAKE_TOKEN}"}, token=None) is not None  # only the HMAC is set up
    assert "MAKE_WEBHOOK" in str(make({"authorization": f"Bearer {MAKE_TOKEN}"}, token=None, secret=None))


def test_every_verifier_has_the_one_interface() -> None:
    verifiers: list[Verifier] = [
        JobberVerifier(["s"]),
        SlackVerifier(["s"]),
        TwilioVerifier("t"),
        MakeVerifier("t", None),
    ]
    assert [v.provider for v in verifiers] == ["Jobber", "Slack", "Twilio", "Make.com"]
    assert all(v.configured for v in verifiers)
    assert all(isinstance(v.check(Inbound(b"{}", {})), str) for v in verifiers)  # unsigned: refused, with a reason


# -- one refusal, on every route that checks a provider ---------------------------------------------------------

SIGNED_ROUTES = (
    "/webhooks/jobber",
    "/webhooks/jobber/webhooks",
    "/slack/commands",
    "/twilio/inbound",
    "/twilio/status",
    "/api/webhooks/trigger-review",
)
LIMIT = 4096


@pytest.fixture
def gateway(db_url: str) -> Iterator[FastAPI]:
    app = make_gateway(
        db_url,
        gateway_max_body_bytes=LIMIT,
        twilio_auth_token=TWILIO_TOKEN,
        make_webhook_token=MAKE_TOKEN,
        slack_signing_secret="slack-signing-secret-for-tests-5f1b",
    )
    yield app
    close_gateway(app)


def post(app: FastAPI, path: str, body: bytes, headers: dict[str, str]) -> httpx.Response:
    async def go(client: httpx.AsyncClient) -> httpx.Response:
        return await client.post(path, content=body, headers=headers)

    return call(app, go)


@pytest.mark.parametrize("path", SIGNED_ROUTES)
def test_every_provider_route_refuses_in_the_same_shape(gateway: FastAPI, db_url: str, path: str) -> None:
    headers = {
        "content-type": "application/x-www-form-urlencoded",
        "x-twilio-signature": "x",
        "x-slack-signature": "v0=00",
        "x-slack-request-timestamp": str(int(time.time())),
        "x-jobber-hmac-sha256": "AAAA",
        "authorization": "Bearer wrong-token-wrong-token",
    }
    refused = post(gateway, path, b"a=1", headers)
    assert refused.status_code == 401
    assert refused.headers["content-type"] == "application/json"
    assert refused.json() == {"detail": "unauthorized"}
    too_large = post(gateway, path, b"a" * (LIMIT + 1), headers)
    assert too_large.status_code == 413 and too_large.json() == {"detail": "request body too large"}
    assert inbox_rows(db_url) == []


# -- the capped reader ----------------------------------------------------------------------------------------


def _receive(*messages: Message):  # type: ignore[no-untyped-def]
    queue = list(messages)
    pulled: list[int] = []

    async def receive() -> Message:
        message = queue.pop(0)
        pulled.append(len(message.get("body", b"")))
        return message

    return receive, pulled


def test_the_reader_stops_at_the_first_chunk_past_the_limit() -> None:
    chunks = [{"type": "http.request", "body": b"x" * 100, "more_body": True} for _ in range(50)]
    receive, pulled = _receive(*chunks)
    with pytest.raises(BodyTooLarge):
        asyncio.run(read_body(receive, None, 250))
    assert sum(pulled) == 300, "read up to the chunk that passed the limit, not one more"


def test_the_reader_refuses_a_declared_length_before_reading_and_reports_a_disconnect() -> None:
    receive, pulled = _receive({"type": "http.request", "body": b"x", "more_body": False})
    with pytest.raises(BodyTooLarge):
        asyncio.run(read_body(receive, b"251", 250))
    assert pulled == []
    receive, _ = _receive({"type": "http.request", "body": b"x", "more_body": True}, {"type": "http.disconnect"})
    with pytest.raises(ClientDisconnected):
        asyncio.run(read_body(receive, None, 250))
    receive, _ = _receive(
        {"type": "http.request", "body": b"ab", "more_body": True}, {"type": "http.request", "body": b"c"}
    )
    assert asyncio.run(read_body(receive, b" 3 ", 3)) == b"abc"
