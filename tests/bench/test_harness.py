"""The end-to-end benches' own checks: a ledger that could not see a duplicate, a lost job or a night send
would let a soak pass that should fail. Here each is planted and must be caught; the injected faults must do
what the soak claims (a message created behind a lost answer, none behind a refusal, Jobber failing on cue).
A few seconds: no stack is started (bench/stack.py's processes are exercised by the benches themselves)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest
import sqlalchemy as sa

from bench.chaos_soak import in_quiet, quiet_window
from bench.fake_twilio_server import FakeTwilioServer
from bench.fault_proxy import FaultProxy
from bench.ledger import JobRecord, Ledger, balance
from tasks.delivery.base import OutgoingMessage
from tasks.delivery.sms import TwilioSmsChannel
from tasks.errors import DeliveryOutcomeUnknown
from tasks.store.models import Base

SID = "AC" + "c4" * 16
TOKEN = "harness-test-token"  # noqa: S105 - a local stand-in


@pytest.fixture
def twilio() -> Iterator[FakeTwilioServer]:
    with FakeTwilioServer(account_sid=SID, auth_token=TOKEN) as fake:
        yield fake


def channel(fake: FakeTwilioServer) -> TwilioSmsChannel:
    return TwilioSmsChannel(account_sid=SID, auth_token=TOKEN, from_number="+15005550006", base_url=fake.url, timeout=5)


def text(to: str, token: str) -> OutgoingMessage:
    return OutgoingMessage(channel="sms", to=to, body=f"Hi! How was it? http://x/r/{token}", idempotency_key=token)


def test_the_ledger_catches_a_planted_duplicate_and_a_lost_job(tmp_path: Path, twilio: FakeTwilioServer) -> None:
    url = f"sqlite:///{tmp_path / 'app.db'}"
    engine = sa.create_engine(url)
    Base.metadata.create_all(engine)
    tomorrow_9am = datetime.combine(date.today() + timedelta(days=1), time(9, 0), ZoneInfo("America/New_York"))
    rows = [  # job id, status, reason, click token, planned at
        ("J1", "sent", None, "tokenOne1", None),
        ("J2", "sent", None, "tokenTwo2", None),
        ("J3", "skipped", "no SMS-capable phone", "tokenThree", None),
        ("J4", "planned", None, "tokenFour", tomorrow_9am),  # deferred to the end of quiet hours (09:00)
        ("J5", "planned", "sms: Twilio 503", "tokenFive5", tomorrow_9am + timedelta(minutes=2)),  # a retry
    ]
    with engine.begin() as conn:
        for job_id, status, reason, token, planned in rows:
            conn.execute(
                sa.text(
                    "INSERT INTO review_requests (account_key, job_id, trigger, source, status, reason, click_token, "
                    "planned_at, recipient_timezone, attempts, follow_ups_sent, context, created_at, updated_at) "
                    "VALUES ('default', :job, 'job_closed', 'webhook', :status, :reason, :token, :planned, "
                    "'America/New_York', 0, 0, '{}', :now, :now)"
                ),
                {"job": job_id, "status": status, "reason": reason, "token": token, "planned": planned,
                 "now": datetime.now(UTC)},
            )  # fmt: skip
        conn.execute(  # J1's answer was lost: its delivery stays `unknown` until the next attempt reconciles
            sa.text(
                "INSERT INTO deliveries (review_request_id, idempotency_key, kind, channel, to_address, provider, "
                "status, attempts, updated_at) SELECT id, 'J1-initial', 'initial', 'sms', '+15125550101', "
                "'twilio', 'unknown', 1, :now FROM review_requests WHERE job_id = 'J1'"
            ),
            {"now": datetime.now(UTC)},
        )
    engine.dispose()
    sms = channel(twilio)
    sms.send(text("+15125550101", "tokenOne1"))
    sms.send(text("+15125550102", "tokenTwo2"))
    sms.send(text("+15125550102", "tokenTwo2"))  # the planted duplicate

    ledger = Ledger(url, twilio)
    for i, job_id in enumerate(("J1", "J2", "J3", "J4", "J5"), start=1):
        ledger.add(JobRecord(i, job_id, "soak", scheduled=0.0, close_status=200))
    ledger.refresh()
    jobs = list(ledger.jobs.values())

    strict = balance(jobs)
    assert (strict["one_message"], strict["duplicates"], strict["reason_recorded"]) == (1, 1, 1)
    assert strict["duplicate_jobs"][0]["number"] == 2 and len(strict["duplicate_jobs"][0]["sids"]) == 2
    assert strict["lost"] == 2 and not strict["balanced"]  # a deferral counts only when the bench allows it
    soak = balance(jobs, quiet_end=time(9, 0))
    assert soak["deferred_quiet_hours"] == 1
    assert soak["lost"] == 1 and soak["lost_jobs"][0]["number"] == 5  # a retry is not a quiet-hours deferral
    assert ledger.twilio_figures()["accepted_but_not_recorded_why"] == {
        "its delivery is still unknown/sending, awaiting reconciliation": 1,  # J1
        "unexplained (deliveries of the job: [])": 2,  # J2's two: nothing recorded them
    }
    assert ledger.outstanding() == 2  # J4 and J5: a message or a terminal reason accounts for J1-J3
    ledger.quiet_end = time(9, 0)
    ledger.refresh()
    assert ledger.outstanding() == 1  # J5: the soak lets a quiet-hours deferral account for J4
    ledger.engine.dispose()


def test_twilio_faults_refuse_without_a_message_or_lose_the_answer_of_one(twilio: FakeTwilioServer) -> None:
    faults = iter(["refuse", "accept_then_drop", "accept_then_5xx", None])
    twilio.faults = lambda: next(faults)
    sms = channel(twilio)
    for _ in range(3):
        with pytest.raises(DeliveryOutcomeUnknown):  # what the SDK sees is the same: no answer it can trust
            sms.send(text("+15125550101", "tokenOne1"))
    assert twilio.count() == 2  # the refusal created nothing; the two lost answers each created a message
    assert sms.send(text("+15125550101", "tokenOne1")).provider_message_id == twilio.snapshot()[-1].sid
    assert dict(twilio.fault_counts) == {"refuse": 1, "accept_then_drop": 1, "accept_then_5xx": 1}


def test_the_jobber_proxy_forwards_fails_at_the_rate_asked_and_goes_dark_in_an_outage(
    twilio: FakeTwilioServer,
) -> None:
    proxy = FaultProxy(twilio.url, error_rate=0.0).start()  # any HTTP service will do as the upstream
    path = f"/2010-04-01/Accounts/{SID}/Messages.json"
    try:
        with httpx.Client(base_url=proxy.url, auth=(SID, TOKEN), timeout=5) as http:
            assert http.get(path).json()["messages"] == []
            proxy.error_rate = 1.0
            assert [http.get(path).status_code for _ in range(4)] == [429, 500, 502, 503]
            assert http.get(path).headers["Retry-After"] == "2"  # the cycle starts again with the 429
            proxy.error_rate = 0.0
            proxy.outage.set()
            assert http.get(path).status_code == 503
            with pytest.raises(httpx.RemoteProtocolError):
                http.get(path)
            proxy.outage.clear()
            assert http.get(path).status_code == 200
    finally:
        proxy.stop()
    assert proxy.counts == {"forwarded": 2, "429": 2, "500": 1, "502": 1, "503": 1, "outage_503": 1, "outage_drop": 1}


def test_the_quiet_window_starts_at_mid_run_in_chicago_and_ends_there_in_honolulu() -> None:
    mid = datetime(2026, 12, 7, 21, 0, tzinfo=UTC)
    start, end = quiet_window(mid)
    assert (start.isoformat(), end.isoformat()) == ("15:00:00", "11:00:00")
    before, after = mid - timedelta(minutes=1), mid + timedelta(minutes=1)
    assert not in_quiet(before, "America/Chicago", start, end) and in_quiet(after, "America/Chicago", start, end)
    assert in_quiet(before, "Pacific/Honolulu", start, end) and not in_quiet(after, "Pacific/Honolulu", start, end)
    for zone in ("America/New_York", "America/Toronto", "America/Halifax"):  # quiet the whole run
        assert in_quiet(mid - timedelta(minutes=20), zone, start, end)
        assert in_quiet(mid + timedelta(minutes=20), zone, start, end)
    for zone in ("America/Denver", "America/Los_Angeles", "America/Vancouver"):  # never quiet
        assert not in_quiet(mid + timedelta(minutes=20), zone, start, end)
