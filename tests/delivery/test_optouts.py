"""tasks.store.optouts and the review ledger on SQLite and PostgreSQL: suppressions, inbound SMS keywords and
replies (ledger.record_inbound), delivery receipts (ledger.record_receipt)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import Engine, func, select

from tasks.reviews.ledger import record_inbound, record_receipt
from tasks.store.db import get_engine, unit_of_work
from tasks.store.models import Delivery, InboundMessage, ReviewRequest, Suppression, utcnow
from tasks.store.optouts import classify_inbound, is_suppressed, suppress, suppression_for, unsuppress

CUSTOMER = "+15125550143"
OUR_NUMBER = "+15125550100"


@pytest.fixture
def engine(db_url: str) -> Engine:
    return get_engine(db_url)


def add_review_request(engine: Engine, *, job_id: str, phone: str, sent_minutes_ago: int | None) -> int:
    with unit_of_work(engine) as session:
        row = ReviewRequest(
            job_id=job_id,
            trigger="job_closed",
            status="sent" if sent_minutes_ago is not None else "planned",
            channel="sms",
            recipient_phone=phone,
            sent_at=utcnow() - timedelta(minutes=sent_minutes_ago) if sent_minutes_ago is not None else None,
        )
        session.add(row)
        session.flush()
        return row.id


def add_delivery(engine: Engine, *, sid: str, status: str = "sent") -> int:
    request_id = add_review_request(engine, job_id=f"job-{sid}", phone=CUSTOMER, sent_minutes_ago=1)
    with unit_of_work(engine) as session:
        row = Delivery(
            review_request_id=request_id,
            idempotency_key=f"{request_id}:initial",
            kind="initial",
            channel="sms",
            to_address=CUSTOMER,
            provider="twilio",
            provider_message_id=sid,
            status=status,
        )
        session.add(row)
        session.flush()
        return row.id


@pytest.mark.parametrize(
    ("body", "action"),
    [
        ("STOP", "opt_out"),
        ("stop", "opt_out"),
        ("  Stop \n", "opt_out"),
        ("Stop.", "opt_out"),
        ("STOPALL", "opt_out"),
        ("unsubscribe", "opt_out"),
        ("Cancel", "opt_out"),
        ("end", "opt_out"),
        ("QUIT", "opt_out"),
        ("revoke", "opt_out"),
        ("OptOut", "opt_out"),
        ("START", "opt_in"),
        ("yes", "opt_in"),
        ("Unstop", "opt_in"),
        ("HELP", "help"),
        ("info", "help"),
        ("Thanks, it was great!", "reply"),
        ("please stop texting me", "reply"),
        ("", "reply"),
    ],
)
def test_classify_inbound(body: str, action: str) -> None:
    assert classify_inbound(body) == action


@pytest.mark.parametrize(
    ("body", "action"),
    [
        # the keyword family, however it is typed
        ("OPT OUT", "opt_out"),
        ("opt-out", "opt_out"),
        ("Opt  -  Out!", "opt_out"),
        ("ＳＴＯＰ", "opt_out"),  # full-width letters (NFKC)
        ("ｏｐｔ－ｏｕｔ", "opt_out"),
        ("STOP 🛑", "opt_out"),
        ("🛑 stop 🛑", "opt_out"),
        ("S\u200bTOP", "opt_out"),  # a zero-width space inside the word
        ("Stop all", "opt_out"),
        ("STOP!!!", "opt_out"),
        ("stop, please", "opt_out"),  # a short courtesy tail
        ("Stop texting me", "opt_out"),
        ("Unsubscribe me please", "opt_out"),
        ("REVOKE", "opt_out"),
        ("opt in", "opt_in"),
        ("OPT-IN", "opt_in"),
        ("Ｓｔａｒｔ", "opt_in"),
        ("help!", "help"),
        ("Info please", "help"),
        # conversations stay replies
        ("please stop by tomorrow", "reply"),
        ("Stop by tomorrow at 3?", "reply"),
        ("End of story, great job!", "reply"),
        ("Cancel my appointment for Friday", "reply"),
        ("Yes thank you, Mike was great", "reply"),
        ("Yes thank you", "reply"),  # no tail for opt-in: answering the question must not re-subscribe
        ("🛑", "reply"),
    ],
)
def test_opt_out_words_are_honoured_however_they_are_typed(body: str, action: str) -> None:
    assert classify_inbound(body) == action


def test_suppress_is_idempotent_normalised_and_reversible(engine: Engine) -> None:
    with unit_of_work(engine) as session:
        assert suppress(session, channel="sms", address="(512) 555-0143", reason="sms_stop", source="test")
        assert not suppress(session, channel="sms", address=CUSTOMER, reason="twilio_21610", source="send")
        assert suppress(session, channel="email", address=" John@Example.COM ", reason="unsubscribe")
    with unit_of_work(engine) as session:
        assert is_suppressed(session, channel="sms", address="512.555.0143")
        assert not is_suppressed(session, channel="email", address=CUSTOMER)
        assert is_suppressed(session, channel="email", address="john@example.com")
        row = suppression_for(session, channel="sms", address=CUSTOMER)
        assert row is not None and row.reason == "sms_stop" and row.address == CUSTOMER  # the first reason stays
    with unit_of_work(engine) as session:
        assert unsuppress(session, channel="sms", address="+1 512-555-0143")
        assert not unsuppress(session, channel="sms", address=CUSTOMER)
    with unit_of_work(engine) as session:
        assert not is_suppressed(session, channel="sms", address=CUSTOMER)
        assert is_suppressed(session, channel="email", address="JOHN@example.com")


def test_stop_suppresses_and_start_lifts_it(engine: Engine) -> None:
    with unit_of_work(engine) as session:
        assert (
            record_inbound(session, message_sid="SM1", from_number=CUSTOMER, to_number=OUR_NUMBER, body=" stop ")
            == "opt_out"
        )
    with unit_of_work(engine) as session:
        assert is_suppressed(session, channel="sms", address=CUSTOMER)
        assert (
            record_inbound(session, message_sid="SM2", from_number=CUSTOMER, to_number=OUR_NUMBER, body="START")
            == "opt_in"
        )
    with unit_of_work(engine) as session:
        assert not is_suppressed(session, channel="sms", address=CUSTOMER)
        actions = session.scalars(select(InboundMessage.action).order_by(InboundMessage.id)).all()
        assert actions == ["opt_out", "opt_in"]


def test_a_duplicate_message_sid_is_recorded_and_acted_on_once(engine: Engine) -> None:
    with unit_of_work(engine) as session:
        record_inbound(session, message_sid="SM1", from_number=CUSTOMER, to_number=OUR_NUMBER, body="STOP")
    with unit_of_work(engine) as session:
        record_inbound(session, message_sid="SM2", from_number=CUSTOMER, to_number=OUR_NUMBER, body="START")
    with unit_of_work(engine) as session:
        # Twilio retries the first webhook: it must not suppress the number again.
        assert (
            record_inbound(session, message_sid="SM1", from_number=CUSTOMER, to_number=OUR_NUMBER, body="STOP")
            == "opt_out"
        )
    with unit_of_work(engine) as session:
        assert session.scalar(select(func.count()).select_from(InboundMessage)) == 2
        assert not is_suppressed(session, channel="sms", address=CUSTOMER)


def test_a_reply_marks_the_newest_sent_review_request_replied(engine: Engine) -> None:
    older = add_review_request(engine, job_id="j1", phone=CUSTOMER, sent_minutes_ago=600)
    newest = add_review_request(engine, job_id="j2", phone=CUSTOMER, sent_minutes_ago=5)
    planned = add_review_request(engine, job_id="j3", phone=CUSTOMER, sent_minutes_ago=None)
    other = add_review_request(engine, job_id="j4", phone="+15125550199", sent_minutes_ago=1)

    with unit_of_work(engine) as session:
        assert (
            record_inbound(
                session, message_sid="SM9", from_number=CUSTOMER, to_number=OUR_NUMBER, body="It was great, thanks!"
            )
            == "reply"
        )
    with unit_of_work(engine) as session:
        replied = {r.id: r.replied_at for r in session.scalars(select(ReviewRequest))}
    assert replied[newest] is not None
    assert replied[older] is None and replied[planned] is None and replied[other] is None


def test_help_changes_nothing(engine: Engine) -> None:
    request_id = add_review_request(engine, job_id="j1", phone=CUSTOMER, sent_minutes_ago=5)
    with unit_of_work(engine) as session:
        assert record_inbound(session, message_sid="SM3", from_number=CUSTOMER, to_number=None, body="help") == "help"
    with unit_of_work(engine) as session:
        assert session.get(ReviewRequest, request_id).replied_at is None  # type: ignore[union-attr]
        assert session.scalar(select(func.count()).select_from(Suppression)) == 0


def test_delivery_status_moves_forward_only(engine: Engine) -> None:
    delivery_id = add_delivery(engine, sid="SMaaa", status="sending")

    def status() -> tuple[str, str | None]:
        with unit_of_work(engine) as session:
            row = session.get(Delivery, delivery_id)
            assert row is not None
            return row.status, row.error_code

    with unit_of_work(engine) as session:
        assert record_receipt(session, provider_message_id="SMaaa", status="sent", error_code=None)
    assert status() == ("sent", None)
    with unit_of_work(engine) as session:
        assert not record_receipt(session, provider_message_id="SMaaa", status="queued", error_code=None)
        assert record_receipt(session, provider_message_id="SMaaa", status="undelivered", error_code="30003")
    assert status() == ("undelivered", "30003")
    with unit_of_work(engine) as session:
        # A late "sent", or another final status, never replaces a final one.
        assert not record_receipt(session, provider_message_id="SMaaa", status="sent", error_code=None)
        assert not record_receipt(session, provider_message_id="SMaaa", status="delivered", error_code=None)
        assert not record_receipt(session, provider_message_id="SMunknown", status="delivered", error_code=None)
    assert status() == ("undelivered", "30003")


def test_delivered_straight_from_sent(engine: Engine) -> None:
    delivery_id = add_delivery(engine, sid="SMbbb")
    with unit_of_work(engine) as session:
        assert record_receipt(session, provider_message_id="SMbbb", status="delivered", error_code=None)
    with unit_of_work(engine) as session:
        assert session.get(Delivery, delivery_id).status == "delivered"  # type: ignore[union-attr]
