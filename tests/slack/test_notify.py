"""From Jobber events to Slack messages, against a Jobber sandbox (the item is refetched, since webhooks
carry only ids) and through the real slack-sdk to a local Slack endpoint."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine

from tasks.jobber.auth import StaticTokenProvider
from tasks.jobber.client import JobberClient
from tasks.settings import Settings
from tasks.slack.dispatch import ChannelPacer, dispatch_pending
from tasks.slack.factory import build_slack_sender
from tasks.slack.notify import dedupe_key, notify_event, notify_review_failed, plan_notification
from tasks.slack.routing import ChannelRoutes
from tasks.store.db import unit_of_work
from tasks.store.models import ReviewRequest

from .builders import fetcher, invoice_node
from .conftest import FakeSlack

ROUTES = ChannelRoutes(default="#ops")


@pytest.fixture
def jobber(own_sandbox: Any) -> Iterator[JobberClient]:
    client = JobberClient(
        graphql_url=own_sandbox.url + "/api/graphql",
        api_version="2025-04-16",
        tokens=StaticTokenProvider(own_sandbox.issue_tokens()["access_token"]),
    )
    yield client
    client.close()


def _dispatch(engine: Engine, fake: FakeSlack) -> Any:
    settings = Settings(_env_file=None, slack_bot_token="xoxb-1-test", slack_base_url=fake.url)  # type: ignore[call-arg]
    return dispatch_pending(engine, build_slack_sender(settings), pacer=ChannelPacer(min_interval_s=0))


def test_a_closed_job_posts_one_message_with_the_job_and_client(
    engine: Engine, fake_slack: FakeSlack, own_sandbox: Any, jobber: JobberClient
) -> None:
    store = own_sandbox.store
    job = next(j for j in store.jobs if j.job_status != "archived")
    store.close_job(job_id=job.id)
    event = {"topic": "JOB_CLOSED", "item_id": job.id, "account_id": store.account_id}
    outcomes = [notify_event(engine, ROUTES, jobber=lambda: jobber, **event) for _ in range(2)]  # a duplicate
    assert [o.status for o in outcomes] == ["queued", "duplicate"]
    assert _dispatch(engine, fake_slack).sent == 1

    (post,) = fake_slack.posts
    client_name = next(r["client"] for r in store.list_jobs() if r["id"] == job.id)
    assert post["text"] == f"Job #{job.job_number} closed: {job.title} for {client_name}"
    assert job.title in str(post["blocks"]) and client_name in str(post["blocks"])
    assert post["channel"] == "#ops" and post["blocks"][0]["type"] == "section"


def test_a_paid_invoice_is_announced_once_from_either_webhook(
    engine: Engine, fake_slack: FakeSlack, own_sandbox: Any, jobber: JobberClient
) -> None:
    store = own_sandbox.store
    invoice = next(i for i in store.invoices if i.invoice_status in ("awaiting_payment", "past_due"))
    store.mark_invoice_paid(invoice.id)
    payment = invoice.payment_records[-1]
    by_payment = notify_event(
        engine, ROUTES, topic="PAYMENT_CREATE", item_id=payment.id, account_id=store.account_id, jobber=lambda: jobber
    )
    by_update = notify_event(
        engine, ROUTES, topic="INVOICE_UPDATE", item_id=invoice.id, account_id=store.account_id, jobber=lambda: jobber
    )
    assert (by_payment.status, by_update.status) == ("queued", "duplicate")
    _dispatch(engine, fake_slack)
    (post,) = fake_slack.posts
    assert post["text"].startswith(f"Invoice #{invoice.invoice_number} paid by")


def test_an_unpaid_invoice_update_is_skipped_with_the_reason(
    engine: Engine, own_sandbox: Any, jobber: JobberClient
) -> None:
    invoice = next(
        i for i in own_sandbox.store.invoices if i.invoice_status == "draft" or i.invoice_status == "awaiting_payment"
    )
    outcome = notify_event(
        engine, ROUTES, topic="INVOICE_UPDATE", item_id=invoice.id, account_id="A", jobber=lambda: jobber
    )
    assert outcome.status == "skipped" and "not paid" in outcome.reason


def test_a_kind_without_a_channel_is_skipped_without_asking_jobber(engine: Engine) -> None:
    def no_jobber() -> JobberClient:
        raise AssertionError("Jobber must not be called for a kind nobody wants")

    routes = ChannelRoutes(default=None, by_kind={"job_closed": "#ops"})
    outcome = notify_event(engine, routes, topic="QUOTE_APPROVED", item_id="Q1", account_id="A", jobber=no_jobber)
    assert outcome.status == "skipped" and outcome.reason == "no channel for quote_approved"
    other = notify_event(engine, routes, topic="VISIT_COMPLETE", item_id="V1", account_id="A", jobber=lambda: None)  # type: ignore[arg-type,return-value]
    assert other.status == "skipped" and other.kind is None


def test_a_job_reopened_and_closed_again_is_announced_again() -> None:
    first = plan_notification(
        topic="JOB_CLOSED", item_id="J", account_id="A", fetch=fetcher(job={"completedAt": "2026-01-01T00:00:00Z"})
    )
    again = plan_notification(
        topic="JOB_CLOSED", item_id="J", account_id="A", fetch=fetcher(job={"completedAt": "2026-02-01T00:00:00Z"})
    )
    assert first.dedupe_key != again.dedupe_key  # type: ignore[union-attr]


def test_a_payment_without_an_invoice_is_skipped() -> None:
    fetch = fetcher(paymentRecord={"id": "P", "invoice": None}, invoice=invoice_node())
    planned = plan_notification(topic="PAYMENT_CREATE", item_id="P", account_id="A", fetch=fetch)
    assert "not for an invoice" in planned.reason  # type: ignore[union-attr]


def test_dedupe_keys_fit_the_column() -> None:
    assert dedupe_key("job_closed", "A", "J1", None) == "job_closed:A:J1:"
    assert len(dedupe_key("job_closed", "A" * 300, "J1")) <= 200


def _review_request(engine: Engine, **fields: Any) -> int:
    values: dict[str, Any] = {
        "job_id": "J9",
        "job_number": 1099,
        "trigger": "job_closed",
        "status": "failed",
        "reason": "Twilio 21211: invalid 'To' phone number",
        "channel": "sms",
        "recipient_name": "Ann <Lee>",
        "attempts": 2,
        "context": {"job_title": "Deck Staining"},
    }
    values.update(fields)
    with unit_of_work(engine) as session:
        request = ReviewRequest(**values)
        session.add(request)
        session.flush()
        return request.id


def test_a_failed_review_request_is_posted_once(engine: Engine, fake_slack: FakeSlack) -> None:
    request_id = _review_request(engine)
    routes = ChannelRoutes(default="#ops", by_kind={"review_failed": "#reviews"})
    first = notify_review_failed(request_id, engine=engine, routes=routes)
    again = notify_review_failed(request_id, engine=engine, routes=routes)
    assert (first.status, again.status) == ("queued", "duplicate")
    _dispatch(engine, fake_slack)
    (post,) = fake_slack.posts
    assert post["channel"] == "#reviews"
    assert post["text"] == "Review request to Ann &lt;Lee&gt; failed: Twilio 21211: invalid 'To' phone number"
    assert "#1099 Deck Staining" in str(post["blocks"])


def test_the_review_failed_event_goes_through_notify_event(engine: Engine) -> None:
    request_id = _review_request(engine, job_id="J10")
    outcome = notify_event(
        engine, ROUTES, topic="REVIEW_FAILED", item_id=str(request_id), account_id=None, jobber=lambda: None
    )  # type: ignore[arg-type,return-value]
    assert outcome.status == "queued" and outcome.kind == "review_failed"


def test_a_review_request_that_did_not_fail_is_not_posted(engine: Engine) -> None:
    request_id = _review_request(engine, job_id="J11", status="sent")
    outcome = notify_review_failed(request_id, engine=engine, routes=ROUTES)
    assert outcome.status == "skipped" and "not failed" in outcome.reason
    assert notify_review_failed(987654, engine=engine, routes=ROUTES).status == "skipped"
