"""tasks/retry.py: backoff bounds and jitter, Retry-After in both forms, `is_transient` on the exceptions the
libraries really raise, and Prefect tasks that spend their retries on transient errors only."""

from __future__ import annotations

import importlib
import pkgutil
import random
import socket
import sqlite3
import urllib.error
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import httpx
import pytest
import requests
import sqlalchemy as sa
from prefect import Task
from prefect.states import Completed, Failed
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.web.slack_response import SlackResponse
from twilio.base.exceptions import TwilioException, TwilioRestException

from tasks.errors import (
    ConfigurationError,
    DeliveryOutcomeUnknown,
    JobberGraphQLError,
    JobberNotFound,
    JobberQueryTooExpensive,
    JobberRateLimited,
    JobberTransportError,
    PermanentDeliveryError,
    ReconnectRequired,
    TransientDeliveryError,
)
from tasks.retry import MAX_RETRY_AFTER_S, Backoff, is_transient, parse_retry_after, retry_transient

THROTTLED = [{"message": "Throttled", "extensions": {"code": "THROTTLED"}}]


# -- backoff ---------------------------------------------------------------------------------------------


def test_the_ceiling_doubles_from_base_to_cap_without_overflowing() -> None:
    policy = Backoff(base=0.5, cap=30.0)
    assert [policy.ceiling(n) for n in (0, 1, 2, 3, 7, 8)] == [0.5, 0.5, 1.0, 2.0, 30.0, 30.0]
    assert policy.ceiling(10_000) == 30.0  # a counter that ran for days does not overflow


@pytest.mark.parametrize("floor", [0.0, 0.5, 1.0])
def test_every_wait_lies_between_the_floor_and_the_ceiling(floor: float) -> None:
    policy = Backoff(base=1.0, cap=60.0, floor=floor)
    rng = random.Random(7)
    for attempt in range(1, 12):
        ceiling = policy.ceiling(attempt)
        for _ in range(200):
            assert floor * ceiling <= policy.seconds(attempt, rng=rng) <= ceiling
    assert Backoff(base=5.0, cap=900.0, floor=1.0).delay(3) == timedelta(seconds=20), "floor 1: no jitter"


def test_around_keeps_each_wait_within_its_spread_of_the_doubling_value() -> None:
    policy = Backoff.around(60, 3600, spread=0.2)
    rng = random.Random(3)
    for attempt, nominal in ((1, 60), (2, 120), (3, 240), (7, 3600), (30, 3600)):
        waits = [policy.seconds(attempt, rng=rng) for _ in range(500)]
        assert 0.8 * nominal <= min(waits) and max(waits) <= 1.2 * nominal
        assert min(waits) < 0.85 * nominal and max(waits) > 1.15 * nominal, "the whole spread is used"


def test_full_jitter_spreads_waits_uniformly_over_zero_to_the_ceiling() -> None:
    """Callers that failed together must not come back together: every tenth of the range gets its share."""
    policy = Backoff(base=10.0, cap=10.0)
    rng = random.Random(11)
    draws = [policy.seconds(1, rng=rng) for _ in range(20_000)]
    deciles = [0] * 10
    for draw in draws:
        deciles[min(int(draw), 9)] += 1
    assert all(1700 < count < 2300 for count in deciles), deciles
    assert 4.8 < sum(draws) / len(draws) < 5.2
    assert min(draws) < 0.05, "full jitter reaches down to (almost) no wait"


def test_a_retry_after_replaces_the_draw_and_is_capped() -> None:
    policy = Backoff(base=60.0, cap=3600.0, max_retry_after=1800.0)
    assert policy.seconds(1, retry_after=7.0) == 7.0
    assert policy.seconds(9, retry_after=86_400.0) == 1800.0
    for no_advice in (None, 0.0, -3.0):
        assert 0 <= policy.seconds(1, retry_after=no_advice) <= 60.0


# -- Retry-After -----------------------------------------------------------------------------------------

NOW = datetime(2026, 3, 9, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("12", 12.0),
        (" 1.5 ", 1.5),
        (["30", "60"], 30.0),  # a multi-valued header: the first value
        ("-5", 0.0),  # never negative
        ("0", 0.0),
        ("999999999", MAX_RETRY_AFTER_S),  # an absurd wait is capped
        ("inf", MAX_RETRY_AFTER_S),
        (format_datetime(NOW + timedelta(seconds=90), usegmt=True), 90.0),  # HTTP-date, in the future
        ("Mon, 09 Mar 2026 12:02:00 GMT", 120.0),
        ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0),  # in the past: retry now
        ("Mon, 09 Mar 2026 14:00:00 -0000", MAX_RETRY_AFTER_S),  # a date two hours ahead, capped
    ],
)
def test_retry_after_reads_seconds_and_http_dates(header: object, seconds: float) -> None:
    assert parse_retry_after(header, now=NOW) == seconds


@pytest.mark.parametrize("header", [None, "", "   ", "soon", "nan", [], "Mon, 99 Foo 2026"])
def test_an_absent_or_unreadable_retry_after_is_none(header: object) -> None:
    assert parse_retry_after(header, now=NOW) is None


def test_the_retry_after_cap_is_the_callers() -> None:
    assert parse_retry_after("600", cap=120.0) == 120.0


# -- is_transient ----------------------------------------------------------------------------------------


def _raised(call: object) -> BaseException:
    try:
        call()  # type: ignore[operator]
    except BaseException as exc:  # noqa: BLE001 - the test wants the exception object itself
        return exc
    raise AssertionError("nothing was raised")


def _http_error(status: int) -> httpx.HTTPStatusError:
    transport = httpx.MockTransport(lambda request: httpx.Response(status))
    with httpx.Client(transport=transport) as client:
        error = _raised(lambda: client.get("http://jobber.test/api").raise_for_status())
    assert isinstance(error, httpx.HTTPStatusError)
    return error


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_httpx_network_errors_timeouts_and_retryable_statuses_are_transient() -> None:
    refused = _raised(lambda: httpx.get(f"http://127.0.0.1:{_closed_port()}/", timeout=2))
    assert isinstance(refused, httpx.ConnectError) and is_transient(refused)
    assert is_transient(httpx.ReadTimeout("slow")) and is_transient(httpx.PoolTimeout("busy"))
    assert is_transient(httpx.RemoteProtocolError("peer closed connection without sending complete message"))
    for status in (408, 429, 500, 502, 503, 504):
        assert is_transient(_http_error(status)), status
    for status in (400, 401, 403, 404, 422):
        assert not is_transient(_http_error(status)), status
    unsupported = _raised(lambda: httpx.get("ftp://127.0.0.1/"))
    assert isinstance(unsupported, httpx.UnsupportedProtocol) and not is_transient(unsupported)


def test_requests_and_urllib_errors_as_twilio_and_slack_sdks_raise_them() -> None:
    port = _closed_port()
    refused = _raised(lambda: requests.get(f"http://127.0.0.1:{port}/", timeout=2))
    assert isinstance(refused, requests.ConnectionError) and is_transient(refused)
    url_error = _raised(lambda: urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2))  # noqa: S310
    assert isinstance(url_error, urllib.error.URLError) and is_transient(url_error)
    assert is_transient(urllib.error.HTTPError("http://x", 503, "unavailable", None, None))  # type: ignore[arg-type]
    assert not is_transient(urllib.error.HTTPError("http://x", 404, "not found", None, None))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("status", "code", "transient"),
    [
        (503, 20503, True),
        (500, None, True),
        (429, 20429, True),
        (400, 20429, True),  # Twilio's "Too Many Requests" code, whatever the status
        (400, 21211, False),  # invalid 'To' number
        (400, 21610, False),  # the recipient unsubscribed
        (401, 20003, False),  # bad credentials
    ],
)
def test_twilio_5xx_and_20429_are_transient(status: int, code: int | None, transient: bool) -> None:
    error = TwilioRestException(status, "https://api.twilio.com/2010-04-01/Accounts/AC1/Messages.json", "x", code)
    assert is_transient(error) is transient
    assert not is_transient(TwilioException("Credentials are required to create a TwilioClient"))


def _slack_error(status: int, error: str) -> SlackApiError:
    response = SlackResponse(
        client=WebClient(token="xoxb-test"),
        http_verb="POST",
        api_url="https://slack.com/api/chat.postMessage",
        req_args={},
        data={"ok": False, "error": error},
        headers={},
        status_code=status,
    )
    raised = _raised(response.validate)
    assert isinstance(raised, SlackApiError)
    return raised


@pytest.mark.parametrize(
    ("status", "error", "transient"),
    [
        (429, "ratelimited", True),
        (200, "ratelimited", True),
        (200, "internal_error", True),
        (503, "service_unavailable", True),
        (200, "channel_not_found", False),
        (200, "invalid_auth", False),
        (200, "not_in_channel", False),
    ],
)
def test_slack_rate_limits_and_outages_are_transient(status: int, error: str, transient: bool) -> None:
    assert is_transient(_slack_error(status, error)) is transient


def test_sqlite_database_is_locked_is_transient_and_a_missing_table_is_not(tmp_path: Path) -> None:
    path = tmp_path / "locked.db"
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("CREATE TABLE t (x INTEGER)")
    holder.execute("BEGIN EXCLUSIVE")
    engine = sa.create_engine(f"sqlite:///{path}", connect_args={"timeout": 0})
    try:
        with engine.connect() as conn:
            locked = _raised(lambda: conn.execute(sa.text("INSERT INTO t VALUES (1)")))
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    with engine.connect() as conn:
        missing = _raised(lambda: conn.execute(sa.text("SELECT * FROM no_such_table")))
    engine.dispose()
    assert isinstance(locked, sa.exc.OperationalError) and "database is locked" in str(locked)
    assert is_transient(locked) and is_transient(locked.orig), "wrapped by SQLAlchemy or raw from the driver"
    assert isinstance(missing, sa.exc.OperationalError) and not is_transient(missing), "a bug does not heal"
    assert not is_transient(missing.orig)


def test_sqlalchemy_disconnects_are_transient_and_integrity_errors_are_not(tmp_path: Path) -> None:
    refused = _raised(lambda: sa.create_engine(f"postgresql+psycopg://postgres@127.0.0.1:{_closed_port()}/x").connect())
    assert isinstance(refused, sa.exc.OperationalError) and is_transient(refused) and is_transient(refused.orig)
    dropped = sa.exc.OperationalError("SELECT 1", {}, Exception("SSL SYSCALL error"), connection_invalidated=True)
    assert is_transient(dropped)
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'unique.db'}")
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE u (x INTEGER UNIQUE)"))
        conn.execute(sa.text("INSERT INTO u VALUES (1)"))
        duplicate = _raised(lambda: conn.execute(sa.text("INSERT INTO u VALUES (1)")))
    engine.dispose()
    assert isinstance(duplicate, sa.exc.IntegrityError) and not is_transient(duplicate)


@pytest.mark.parametrize(
    ("error", "transient"),
    [
        (JobberTransportError("Jobber answered HTTP 503"), True),
        (JobberRateLimited("THROTTLED", retry_after=2.0), True),
        (JobberGraphQLError("Throttled", errors=THROTTLED), True),
        (JobberQueryTooExpensive("never fits", document="q", requested=12e3, maximum=1e4, errors=THROTTLED), False),
        (JobberGraphQLError("Field 'x' doesn't exist", errors=[{"message": "no"}]), False),
        (JobberNotFound("gone"), False),
        (ReconnectRequired("refresh token revoked"), False),
        (ConfigurationError("SLACK_CHANNELS is not valid JSON", variable="SLACK_CHANNELS"), False),
        (TransientDeliveryError("Twilio 429", retry_after=3.0), True),
        (PermanentDeliveryError("21211"), False),
        (DeliveryOutcomeUnknown("Twilio may have sent it"), False),  # reconcile, never resend blindly
        (ConnectionResetError(104, "reset"), True),
        (BrokenPipeError(), True),
        (TimeoutError(), True),
        (TimeoutError(), True),
        (ValueError("bad input"), False),
        (KeyError("x"), False),
    ],
)
def test_project_and_builtin_errors(error: BaseException, transient: bool) -> None:
    assert is_transient(error) is transient


# -- Prefect ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "retry"),
    [
        (JobberTransportError("503"), True),
        (JobberRateLimited("THROTTLED"), True),
        (JobberNotFound("gone"), False),
        (ConfigurationError("SLACK_CHANNELS is not valid JSON", variable="SLACK_CHANNELS"), False),
    ],
)
def test_the_retry_condition_reads_the_failed_state(error: Exception, retry: bool) -> None:
    assert retry_transient(None, None, Failed(data=error)) is retry
    assert retry_transient(None, None, Completed(data=1)) is False


def _all_prefect_tasks() -> dict[str, Task[..., object]]:
    import flows
    import tasks

    found: dict[str, Task[..., object]] = {}
    for package in (tasks, flows):
        for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
            if ".migrations" in info.name:
                continue
            module = importlib.import_module(info.name)
            for value in vars(module).values():
                if isinstance(value, Task):
                    found[f"{info.name}:{value.name}"] = value
    return found


def test_every_prefect_task_that_retries_retries_only_transient_errors() -> None:
    found = _all_prefect_tasks()
    retrying = {name: t for name, t in found.items() if t.retries}
    assert len(retrying) >= 4, sorted(retrying)  # reads of Jobber, Slack notification, review planning, refresh
    wrong = sorted(name for name, t in retrying.items() if t.retry_condition_fn is not retry_transient)
    assert wrong == [], "these retry on every error"


@pytest.mark.prefect
def test_a_prefect_task_retries_a_transient_error_and_not_a_permanent_one(prefect_server: None) -> None:
    from prefect import flow, task

    calls: list[str] = []

    @task(retries=2, retry_delay_seconds=0, retry_condition_fn=retry_transient)
    def flaky(kind: str) -> str:
        calls.append(kind)
        if kind == "transient" and len(calls) < 3:
            raise JobberTransportError("Jobber answered HTTP 503")
        if kind == "permanent":
            raise JobberNotFound("job 1042 is gone")
        return "done"

    @flow
    def run(kind: str) -> str:
        return flaky(kind)

    state = run("transient", return_state=True)
    assert state.is_completed() and state.result() == "done"
    assert calls == ["transient"] * 3, "two retries, then success"

    calls.clear()
    state = run("permanent", return_state=True)
    assert state.is_failed()
    assert calls == ["permanent"], "a permanent error is not retried"
