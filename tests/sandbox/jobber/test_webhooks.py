"""Signed webhooks in Jobber's exact shape, delivered in the background, with retries and chaos."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections import Counter
from datetime import datetime

import httpx

from .conftest import Gql, Receiver


def _verify(secret: str, body: bytes, header: str) -> bool:
    expected = base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()
    return hmac.compare_digest(expected, header)


def _events(receiver: Receiver) -> list[dict]:  # type: ignore[type-arg]
    return [json.loads(r.body)["data"]["webHookEvent"] for r in receiver.received]


def test_close_job_sends_a_signed_job_closed_webhook(make_sandbox, receiver: Receiver) -> None:  # type: ignore[no-untyped-def]
    sb = make_sandbox(webhook_url=receiver.url, client_secret="s3cr3t-for-hmac")
    resp = httpx.post(f"{sb.url}/sandbox/actions/close_job", json={"job_number": 1042})
    assert resp.status_code == 200
    job = resp.json()
    assert job["jobStatus"] == "archived" and job["title"] == "Water Heater Installation"
    assert sb.store.flush_webhooks(10)

    closed = [r for r in receiver.received if json.loads(r.body)["data"]["webHookEvent"]["topic"] == "JOB_CLOSED"]
    assert len(closed) == 1
    req = closed[0]
    assert req.headers["content-type"] == "application/json"
    assert _verify("s3cr3t-for-hmac", req.body, req.headers["x-jobber-hmac-sha256"])
    assert not _verify("wrong-secret", req.body, req.headers["x-jobber-hmac-sha256"])
    event = json.loads(req.body)["data"]["webHookEvent"]
    assert set(event) == {"topic", "appId", "accountId", "itemId", "occurredAt"}
    assert event["itemId"] == job["id"]
    assert event["accountId"] == sb.store.account_id
    assert event["appId"] == sb.store.app_id
    assert datetime.fromisoformat(event["occurredAt"]).utcoffset() is not None
    topics = [e["topic"] for e in _events(receiver)]
    assert {"JOB_CLOSED", "JOB_UPDATE", "VISIT_COMPLETE"} <= set(topics)

    # the change is visible through the API, the visit keeps its technician
    gql = Gql(sb, sb.issue_tokens()["access_token"])
    data = gql(
        """query($id: EncodedId!) { job(id: $id) { jobStatus completedAt
                    visits(first: 3) { nodes { isComplete assignedUsers(first: 2) { nodes { name { full } } } } }
                  } }""",
        {"id": job["id"]},
    )["data"]["job"]
    assert data["jobStatus"] == "archived" and data["completedAt"]
    assert data["visits"]["nodes"][0]["isComplete"] is True
    assert data["visits"]["nodes"][0]["assignedUsers"]["nodes"][0]["name"]["full"] == "Mike Thompson"
    log = [e for e in sb.store.webhook_log if e.topic == "JOB_CLOSED"]
    assert log[0].status_code == 200 and log[0].attempts == 1 and log[0].ok


def test_duplicate_rate_one_sends_every_event_twice(make_sandbox, receiver: Receiver) -> None:  # type: ignore[no-untyped-def]
    sb = make_sandbox(webhook_url=receiver.url, webhook_duplicate_rate=1.0)
    invoice = next(i for i in sb.store.invoices if i.invoice_status == "awaiting_payment")
    resp = httpx.post(f"{sb.url}/sandbox/actions/mark_invoice_paid", json={"invoice_id": invoice.id})
    assert resp.json()["invoiceStatus"] == "paid"
    assert sb.store.flush_webhooks(10)
    counts = Counter((e["topic"], e["itemId"]) for e in _events(receiver))
    payment_id = resp.json()["paymentIds"][-1]
    assert counts == {("INVOICE_UPDATE", invoice.id): 2, ("PAYMENT_CREATE", payment_id): 2}
    bodies = Counter(r.body for r in receiver.received)
    assert set(bodies.values()) == {2}  # identical duplicates, as at-least-once delivery does
    assert sum(1 for e in sb.store.webhook_log if e.duplicate) == 2


def test_legacy_occured_at_key(make_sandbox, receiver: Receiver) -> None:  # type: ignore[no-untyped-def]
    sb = make_sandbox(webhook_url=receiver.url, webhook_legacy_occured_at=True)
    sb.store.create_client("Ada", "Lovelace", email="ada@example.com")
    assert sb.store.flush_webhooks(10)
    event = _events(receiver)[0]
    assert event["topic"] == "CLIENT_CREATE"
    assert "occuredAt" in event and "occurredAt" not in event


def test_failed_deliveries_are_retried_then_given_up(make_sandbox, receiver: Receiver) -> None:  # type: ignore[no-untyped-def]
    sb = make_sandbox(webhook_url=receiver.url, webhook_retry_backoff_s=0.02, webhook_max_attempts=3)
    receiver.statuses = [500, 503]
    first = sb.store.create_client("Grace", "Hopper")
    assert sb.store.flush_webhooks(10)
    entry = sb.store.webhook_log[-1]
    assert (entry.topic, entry.item_id, entry.status_code, entry.attempts, entry.ok) == (
        "CLIENT_CREATE",
        first.id,
        200,
        3,
        True,
    )

    receiver.statuses = [500, 500, 500]
    sb.store.update_client(first.id, last_name="Hopper-Murray")
    assert sb.store.flush_webhooks(10)
    failed = sb.store.webhook_log[-1]
    assert (failed.topic, failed.status_code, failed.attempts, failed.ok) == ("CLIENT_UPDATE", 500, 3, False)
    assert len(receiver.received) == 6


def test_unreachable_receiver_is_logged_not_raised(make_sandbox) -> None:  # type: ignore[no-untyped-def]
    sb = make_sandbox(webhook_url="http://127.0.0.1:9/nowhere", webhook_retry_backoff_s=0.01, webhook_max_attempts=2)
    sb.store.create_client("Alan", "Turing")
    assert sb.store.flush_webhooks(10)
    entry = sb.store.webhook_log[-1]
    assert entry.ok is False and entry.status_code is None and entry.attempts == 2 and entry.error


def test_graphql_mutations_emit_webhooks(make_sandbox, receiver: Receiver) -> None:  # type: ignore[no-untyped-def]
    sb = make_sandbox(webhook_url=receiver.url)
    gql = Gql(sb, sb.issue_tokens()["access_token"])
    visit = next(v for v in sb.store.visits if not v.is_complete)
    body = gql(
        """mutation($id: EncodedId!) { visitComplete(visitId: $id) {
                    visit { id isComplete completedAt } userErrors { message path } } }""",
        {"id": visit.id},
    )
    assert body["data"]["visitComplete"]["userErrors"] == []
    assert body["data"]["visitComplete"]["visit"]["isComplete"] is True
    assert sb.store.flush_webhooks(10)
    topics = [(e["topic"], e["itemId"]) for e in _events(receiver)]
    assert ("VISIT_COMPLETE", visit.id) in topics and ("VISIT_UPDATE", visit.id) in topics


def test_shuffle_and_delay_still_deliver_everything(make_sandbox, receiver: Receiver) -> None:  # type: ignore[no-untyped-def]
    sb = make_sandbox(webhook_url=receiver.url, webhook_shuffle=True, webhook_delay_s=(0.0, 0.2))
    ids = [sb.store.create_client(f"Client{i}", "Shuffle").id for i in range(12)]
    assert sb.store.flush_webhooks(10)
    got = [e["itemId"] for e in _events(receiver)]
    assert sorted(got) == sorted(ids)


def test_webhook_url_can_be_changed_at_run_time(make_sandbox, receiver: Receiver) -> None:  # type: ignore[no-untyped-def]
    sb = make_sandbox()
    sb.store.create_client("Before", "Config")
    resp = httpx.post(f"{sb.url}/sandbox/config", json={"webhook_url": receiver.url, "webhook_duplicate_rate": 0})
    assert resp.json()["settings"]["webhook_url"] == receiver.url
    sb.store.create_client("After", "Config")
    assert sb.store.flush_webhooks(10)
    assert [e["topic"] for e in _events(receiver)] == ["CLIENT_CREATE"]
    state = httpx.get(f"{sb.url}/sandbox/state").json()
    assert state["webhook_url"] == receiver.url and state["webhooks"]["delivered"] == 1


def test_several_senders_deliver_every_webhook_once(make_sandbox, receiver: Receiver) -> None:  # type: ignore[no-untyped-def]
    sb = make_sandbox(webhook_url=receiver.url, webhook_senders=4)
    jobs = [j for j in sb.store.jobs if j.job_status != "archived"][:10]
    for job in jobs:
        sb.store.close_job(job_id=job.id)
    assert sb.store.flush_webhooks(20)
    sent = [(e.topic, e.item_id, e.occurred_at) for e in sb.store.events]
    got = Counter((e["topic"], e["itemId"], e["occurredAt"]) for e in _events(receiver))
    assert set(got) == set(sent) and set(got.values()) == {1}, "a webhook was lost or sent twice"
    assert len({entry.status_code for entry in sb.store.webhook_log}) == 1
