"""Slack request signing v0, checked against Slack's published example and the official SDK's verifier."""

from __future__ import annotations

import time

import pytest
from slack_sdk.signature import SignatureVerifier

from tasks.slack.signature import compute_signature, signing_secrets, verify_slack_signature

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


def _verify(**overrides: object):  # type: ignore[no-untyped-def]
    args: dict[str, object] = {
        "secrets": [DOC_SECRET],
        "body": DOC_BODY,
        "timestamp": DOC_TIMESTAMP,
        "signature": DOC_SIGNATURE,
        "now": int(DOC_TIMESTAMP) + 10,
    }
    args.update(overrides)
    return verify_slack_signature(**args)  # type: ignore[arg-type]


def test_slacks_published_example() -> None:
    assert compute_signature(DOC_SECRET, DOC_TIMESTAMP, DOC_BODY) == DOC_SIGNATURE
    assert _verify().valid


def test_agrees_with_the_official_sdk() -> None:
    now = int(time.time())
    body = b"command=%2Fjobber&text=jobs+late"
    signature = compute_signature("s3cret", str(now), body)
    headers = {"x-slack-request-timestamp": str(now), "x-slack-signature": signature}
    assert SignatureVerifier("s3cret").is_valid_request(body, headers)
    assert verify_slack_signature(secrets=["s3cret"], body=body, timestamp=str(now), signature=signature, now=now).valid


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"body": DOC_BODY + b"&text=x"}, "signature mismatch"),
        ({"secrets": ["another-secret"]}, "signature mismatch"),
        ({"signature": DOC_SIGNATURE.replace("v0=", "v1=")}, "version"),
        ({"signature": None}, "missing"),
        ({"timestamp": ""}, "missing"),
        ({"timestamp": "15314206l8"}, "malformed"),
        ({"now": int(DOC_TIMESTAMP) + 301}, "too old"),
        ({"now": int(DOC_TIMESTAMP) - 301}, "in the future"),
        ({"secrets": []}, "SLACK_SIGNING_SECRET"),
    ],
)
def test_refusals_say_why(overrides: dict[str, object], reason: str) -> None:
    check = _verify(**overrides)
    assert not check.valid and reason in check.reason
    assert DOC_SECRET not in check.reason


def test_five_minutes_either_way_is_accepted() -> None:
    assert _verify(now=int(DOC_TIMESTAMP) + 300).valid
    assert _verify(now=int(DOC_TIMESTAMP) - 300).valid


def test_rotation_accepts_the_old_and_the_new_secret() -> None:
    assert _verify(secrets=signing_secrets(f"new-secret-value, {DOC_SECRET}")).valid
    assert signing_secrets("changeme") == [] and signing_secrets(None) == []
