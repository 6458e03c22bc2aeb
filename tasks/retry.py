"""Retrying, one way for the whole project: how long to wait, what Retry-After says, and what is worth a retry.

Everything that tries again (the Jobber client, the event queue, review sending, the Slack dispatcher, the
gateway's relay, and every Prefect task declaring `retries`) takes its rules from here:

- `Backoff`: capped exponential backoff with jitter. Attempt n (1 for the first retry) may wait up to
  `min(cap, base * 2**(n-1))`; the wait is drawn uniformly from `[floor * ceiling, ceiling]`. `floor=0`
  is full jitter (the default: callers that fail together come back spread out), `floor=1` no jitter (the
  event queue, whose rows are meant to come back as one batch); `Backoff.around(60, 3600)` waits about
  1 min, 2, 4 ... 1 h, each within +-20 % (review sending). A Retry-After the provider gave replaces
  the draw, capped by `max_retry_after`.
- `parse_retry_after`: the header in both of its forms (delta-seconds and HTTP-date), never negative and
  never more than `MAX_RETRY_AFTER_S` (a server asking for a day gets an hour, and an absurd value cannot
  park a worker).
- `is_transient(exc)`: may this error go away by itself? True for the project's `TransientError`s (Jobber
  down or throttled, a provider's 429/5xx), network errors and timeouts (builtins, httpx, requests,
  urllib), HTTP 408/429/5xx answers, "database is locked", deadlocks, serialization failures and lost
  connections (wrapped by SQLAlchemy or raw from sqlite3 and psycopg), Jobber's THROTTLED, Twilio
  5xx/429/20429 and Slack's rate limits and outages. False for `PermanentError`s and everything else: a
  bug or a refusal does not heal by repetition.
- `retry_transient`: the Prefect `retry_condition_fn` built from `is_transient`, so a task's `retries`
  are spent on outages only; a permanent error fails the run at once. `transient_retries(5, 30, 120)`
  gives a `@task` its retries, their delays and this condition in one argument.

Third-party exceptions are recognised by the module that defines them, and that library is imported only
when such an exception is being classified: importing this module costs nothing.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any, TypedDict

from tasks.errors import JobberGraphQLError, PermanentError, TransientError

MAX_RETRY_AFTER_S = 3600.0
"""The longest wait a Retry-After header is read as."""

TRANSIENT_STATUS = frozenset({408, 425, 429})
"""HTTP statuses (besides every 5xx) that mean "try again later"."""

TWILIO_TRANSIENT_CODES = frozenset({20429, 20500, 20503})
"""Twilio's error codes for its rate limit (20429) and its own outages (20500, 20503)."""

SLACK_TRANSIENT_CODES = frozenset(
    {"ratelimited", "rate_limited", "internal_error", "fatal_error", "service_unavailable", "request_timeout"}
)
"""Slack's `ok: false` codes that mean "try again later" rather than "this will never work"."""

_SQL_TRANSIENT_TEXT = (
    "database is locked",
    "database table is locked",
    "deadlock detected",
    "could not serialize access",
    "server closed the connection",
    "connection refused",
    "connection reset",
    "terminating connection",
    "could not connect to server",
    "connection timed out",
)
_SQL_TRANSIENT_STATES = frozenset({"40001", "40P01", "08000", "08001", "08003", "08006", "57P01", "57P03"})

_shared_rng = random.Random()  # noqa: S311 - jitter, not cryptography


@dataclass(frozen=True, slots=True)
class Backoff:
    """Capped exponential backoff with jitter; see the module docstring. All times in seconds."""

    base: float
    cap: float
    floor: float = 0.0
    max_retry_after: float = MAX_RETRY_AFTER_S

    @classmethod
    def around(
        cls, base: float, cap: float, *, spread: float = 0.2, max_retry_after: float = MAX_RETRY_AFTER_S
    ) -> Backoff:
        """Waits of about base, 2*base ... cap, each drawn within +-`spread` of that value (never near zero)."""
        high = 1.0 + spread
        return cls(base=base * high, cap=cap * high, floor=(1.0 - spread) / high, max_retry_after=max_retry_after)

    def ceiling(self, attempt: int) -> float:
        """The longest wait before retry number `attempt` (1 for the first retry): base, 2*base, ... cap."""
        exponent = min(max(attempt - 1, 0), 64)
        return float(min(self.cap, self.base * math.ldexp(1.0, exponent)))

    def seconds(self, attempt: int, *, retry_after: float | None = None, rng: random.Random | None = None) -> float:
        """The wait before retry number `attempt`: the provider's Retry-After when it gave one (capped),
        else a draw in [floor * ceiling, ceiling]."""
        if retry_after is not None and retry_after > 0:
            return float(min(retry_after, self.max_retry_after))
        ceiling = self.ceiling(attempt)
        low = ceiling * min(max(self.floor, 0.0), 1.0)
        return low if low >= ceiling else (rng or _shared_rng).uniform(low, ceiling)

    def delay(self, attempt: int, *, retry_after: float | None = None, rng: random.Random | None = None) -> timedelta:
        """`seconds` as a timedelta, for rows that wait in the database (`not_before = now + delay`)."""
        return timedelta(seconds=self.seconds(attempt, retry_after=retry_after, rng=rng))


def parse_retry_after(value: object, *, cap: float = MAX_RETRY_AFTER_S, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header: delta-seconds or an HTTP date (a list takes its first
    value, as some clients give multi-valued headers). None when absent or unreadable; never negative and
    never more than `cap`."""
    if isinstance(value, list | tuple):
        value = value[0] if value else None
    if value is None:
        return None
    text = str(value).strip()
    if not text:
        return None
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    if math.isnan(seconds):
        return None
    return float(min(max(0.0, seconds), cap))


def is_transient(exc: BaseException) -> bool:
    """May `exc` go away by itself, so that trying again later can succeed? See the module docstring."""
    if isinstance(exc, PermanentError):
        return False
    if isinstance(exc, TransientError):
        return True
    if isinstance(exc, JobberGraphQLError):
        return "THROTTLED" in exc.codes
    if isinstance(exc, ConnectionError | TimeoutError):  # builtins: refused, reset, broken pipe, socket timeout
        return True
    for cls in type(exc).__mro__:
        check = _BY_LIBRARY.get(cls.__module__.partition(".")[0])
        if check is not None:
            return check(exc)
    return False


def transient_status(status: int | None) -> bool:
    """An HTTP status that asks to try again later: 408, 425, 429 or any 5xx."""
    return status is not None and (status in TRANSIENT_STATUS or 500 <= status <= 599)


def _httpx(exc: BaseException) -> bool:
    import httpx

    if isinstance(exc, httpx.HTTPStatusError):
        return transient_status(exc.response.status_code)
    return isinstance(exc, httpx.TimeoutException | httpx.NetworkError | httpx.RemoteProtocolError | httpx.ProxyError)


def _requests(exc: BaseException) -> bool:
    import requests

    if isinstance(exc, requests.HTTPError) and exc.response is not None:
        return transient_status(exc.response.status_code)
    return isinstance(exc, requests.ConnectionError | requests.Timeout)


def _urllib(exc: BaseException) -> bool:
    from urllib.error import HTTPError, URLError

    if isinstance(exc, HTTPError):
        return transient_status(exc.code)
    return isinstance(exc, URLError)  # DNS, refused, reset, timeout: the way to the server is down


def _urllib3(exc: BaseException) -> bool:
    from urllib3.exceptions import NewConnectionError, ProtocolError
    from urllib3.exceptions import TimeoutError as Urllib3Timeout

    return isinstance(exc, Urllib3Timeout | NewConnectionError | ProtocolError)


def _sqlalchemy(exc: BaseException) -> bool:
    from sqlalchemy import exc as sa

    if isinstance(exc, sa.DisconnectionError | sa.TimeoutError):  # a dropped connection, the pool exhausted
        return True
    if isinstance(exc, sa.DBAPIError):
        if exc.connection_invalidated:
            return True
        if getattr(exc.orig, "sqlstate", None) in _SQL_TRANSIENT_STATES:
            return True
        if isinstance(exc, sa.OperationalError):
            return _driver(exc.orig if exc.orig is not None else exc, operational=True)
    return False


def _driver(exc: BaseException, *, operational: bool = False) -> bool:
    """A database driver's own error (sqlite3, psycopg), raised where SQLAlchemy does not wrap it."""
    if getattr(exc, "sqlstate", None) in _SQL_TRANSIENT_STATES:
        return True
    operational = operational or any(cls.__name__ == "OperationalError" for cls in type(exc).__mro__)
    return operational and any(marker in str(exc).lower() for marker in _SQL_TRANSIENT_TEXT)


def _twilio(exc: BaseException) -> bool:
    from twilio.base.exceptions import TwilioRestException

    if not isinstance(exc, TwilioRestException):
        return False
    return transient_status(int(exc.status or 0)) or int(exc.code or 0) in TWILIO_TRANSIENT_CODES


def _slack(exc: BaseException) -> bool:
    from slack_sdk.errors import SlackApiError

    if not isinstance(exc, SlackApiError):
        return False
    return transient_status(slack_status(exc)) or slack_error_code(exc) in SLACK_TRANSIENT_CODES


def slack_status(exc: Any) -> int:
    """The HTTP status of a SlackApiError's response (0 when it has none)."""
    return int(getattr(exc.response, "status_code", 0) or 0)


def slack_error_code(exc: Any) -> str:
    """Slack's `error` code from a SlackApiError's response ("" when it has none)."""
    data = getattr(exc.response, "data", None)
    return str(data.get("error") or "") if isinstance(data, dict) else ""


_BY_LIBRARY: dict[str, Callable[[BaseException], bool]] = {
    "httpx": _httpx,
    "requests": _requests,
    "urllib": _urllib,
    "urllib3": _urllib3,
    "sqlalchemy": _sqlalchemy,
    "sqlite3": _driver,
    "psycopg": _driver,
    "twilio": _twilio,
    "slack_sdk": _slack,
}


def retry_transient(_task: Any, _task_run: Any, state: Any) -> bool:
    """Prefect's `retry_condition_fn`: spend a task's `retries` only on a transient error (`is_transient`).

    `@task(retries=3, retry_delay_seconds=[5, 30, 120], retry_condition_fn=retry_transient)`
    """
    try:
        error = state.result(raise_on_failure=False)
    except Exception as exc:  # noqa: BLE001 - a result that cannot be read is classified by what was raised
        error = exc
    return isinstance(error, BaseException) and is_transient(error)


class PrefectRetries(TypedDict):
    """The retry arguments of a Prefect `@task`, as `transient_retries` builds them."""

    retries: int
    retry_delay_seconds: list[float]
    retry_condition_fn: Callable[[Any, Any, Any], bool]


def transient_retries(*delays: float) -> PrefectRetries:
    """`@task(..., **transient_retries(5, 30, 120))`: one retry per delay (seconds), on transient errors only."""
    return {"retries": len(delays), "retry_delay_seconds": list(delays), "retry_condition_fn": retry_transient}


__all__ = [
    "MAX_RETRY_AFTER_S",
    "SLACK_TRANSIENT_CODES",
    "TWILIO_TRANSIENT_CODES",
    "Backoff",
    "PrefectRetries",
    "is_transient",
    "parse_retry_after",
    "retry_transient",
    "slack_error_code",
    "slack_status",
    "transient_retries",
    "transient_status",
]
