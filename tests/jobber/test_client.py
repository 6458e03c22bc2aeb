"""The Jobber client against a fake network (httpx.MockTransport): errors, throttling, retries, pacing."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tasks.errors import (
    JobberGraphQLError,
    JobberPermissionError,
    JobberQueryTooExpensive,
    JobberRateLimited,
    JobberResponseError,
    JobberTransportError,
    JobberUserError,
    ReconnectRequired,
)
from tasks.jobber.auth import StaticTokenProvider
from tasks.jobber.client import JobberClient
from tasks.jobber.throttle import CostPacer, QueryCost

QUERY = "query Clients { clients(first: 10) { nodes { id name } } }"
MUTATION = 'mutation Close { jobClose(jobId: "x", input: {}) { job { id } userErrors { message path } } }'


def cost(requested: float = 10, available: float = 9_000, actual: float | None = None) -> dict[str, Any]:
    return {
        "cost": {
            "requestedQueryCost": requested,
            "actualQueryCost": requested if actual is None else actual,
            "throttleStatus": {"maximumAvailable": 10_000, "currentlyAvailable": available, "restoreRate": 500},
        }
    }


class Recorder:
    def __init__(self, responses: list[httpx.Response | Exception]) -> None:
        self.responses = list(responses)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        item = self.responses.pop(0)
        if isinstance(item, Exception):
            raise item
        return item


def make_client(
    handler: Callable[[httpx.Request], httpx.Response], sleeps: list[float] | None = None, **kw: Any
) -> JobberClient:
    slept = sleeps if sleeps is not None else []
    return JobberClient(
        graphql_url="https://jobber.test/api/graphql",
        api_version="2025-04-16",
        tokens=kw.pop("tokens", StaticTokenProvider("tok-1")),
        transport=httpx.MockTransport(handler),
        sleep=slept.append,
        **kw,
    )


def ok(data: dict[str, Any], **extra: Any) -> httpx.Response:
    return httpx.Response(200, json={"data": data, "extensions": cost(), **extra})


def test_sends_token_version_header_and_returns_data() -> None:
    rec = Recorder([ok({"clients": {"nodes": [{"id": "1", "name": "John Smith"}]}})])
    client = make_client(rec)
    data = client.execute(QUERY)
    assert data["clients"]["nodes"][0]["name"] == "John Smith"
    sent = rec.requests[0]
    assert sent.headers["Authorization"] == "Bearer tok-1"
    assert sent.headers["X-JOBBER-GRAPHQL-VERSION"] == "2025-04-16"
    assert json.loads(sent.content)["operationName"] == "Clients"


def test_graphql_errors_on_http_200_raise() -> None:
    rec = Recorder([httpx.Response(200, json={"data": None, "errors": [{"message": "Field 'nope' doesn't exist"}]})])
    with pytest.raises(JobberGraphQLError, match="nope"):
        make_client(rec).execute(QUERY)


def test_hidden_fields_mean_a_missing_scope() -> None:
    body = {"data": None, "errors": [{"message": "clients was hidden due to permissions"}]}
    with pytest.raises(JobberPermissionError, match="scope"):
        make_client(Recorder([httpx.Response(200, json=body)])).execute(QUERY)


def test_disconnected_app_asks_for_reconnect() -> None:
    body = {"errors": [{"message": "User has disconnected this app from their Jobber account"}]}
    with pytest.raises(ReconnectRequired, match="Connect the app"):
        make_client(Recorder([httpx.Response(200, json=body)])).execute(QUERY)


def test_user_errors_raise_with_jobbers_message() -> None:
    body = {"data": {"jobClose": {"job": None, "userErrors": [{"message": "Job is already closed", "path": ["x"]}]}}}
    rec = Recorder([httpx.Response(200, json=body)])
    with pytest.raises(JobberUserError, match="already closed") as info:
        make_client(rec).mutate(MUTATION, payload="jobClose")
    assert info.value.user_errors[0]["path"] == ["x"]


@pytest.mark.parametrize(
    "response",
    [
        httpx.Response(200, text="<html>gateway</html>"),
        httpx.Response(200, json=[1, 2]),
        httpx.Response(200, json={"extensions": {"cost": "weird"}}),
        httpx.Response(404, text="not here"),
    ],
)
def test_malformed_answers_become_response_errors(response: httpx.Response) -> None:
    with pytest.raises(JobberResponseError):
        make_client(Recorder([response])).execute(QUERY)


def test_throttled_query_waits_and_retries() -> None:
    throttled = httpx.Response(
        200,
        json={"errors": [{"message": "Throttled", "extensions": {"code": "THROTTLED"}}], "extensions": cost(1200, 200)},
    )
    sleeps: list[float] = []
    client = make_client(Recorder([throttled, ok({"clients": {"nodes": []}})]), sleeps)
    assert client.execute(QUERY) == {"clients": {"nodes": []}}
    assert client.stats.throttled == 1
    # (1200 - 200) / 500 = 2 s, plus jitter under 0.25 s
    assert 2.0 <= sleeps[0] < 2.3


def test_429_honours_retry_after() -> None:
    sleeps: list[float] = []
    rec = Recorder([httpx.Response(429, headers={"Retry-After": "7"}), ok({"clients": {"nodes": []}})])
    client = make_client(rec, sleeps)
    client.execute(QUERY)
    assert sleeps == [7.0]
    assert client.stats.rate_limited == 1


def test_a_query_that_can_never_fit_the_bucket_fails_at_once_naming_it_and_its_cost() -> None:
    # Jobber answers THROTTLED also when requestedQueryCost exceeds maximumAvailable: waiting never helps.
    too_big = httpx.Response(
        200,
        json={
            "errors": [{"message": "Throttled", "extensions": {"code": "THROTTLED"}}],
            "extensions": cost(12_000, 10_000, actual=0),
        },
    )
    sleeps: list[float] = []
    rec = Recorder([too_big] * 8)
    client = make_client(rec, sleeps)
    with pytest.raises(JobberQueryTooExpensive, match=r"'Clients'.*12000.*maximumAvailable 10000") as info:
        client.execute(QUERY)
    error = info.value
    assert (error.requested, error.maximum, error.document) == (12_000, 10_000, "the operation 'Clients'")
    assert len(rec.requests) == 1 and sleeps == [], "no retry, no wait: it can never fit"
    with pytest.raises(JobberQueryTooExpensive):
        client.execute(QUERY)
    assert len(rec.requests) == 1, "known to be too big: Jobber is not even asked again"


def test_a_time_budget_is_never_waited_past() -> None:
    """A caller holding a lease (the review dispatcher) gives the client a budget: a Retry-After of an hour, or
    backoffs adding up past the budget, end the call at once instead of sleeping through the lease."""
    sleeps: list[float] = []
    rec = Recorder([httpx.Response(429, headers={"Retry-After": "3600"})])
    client = make_client(rec, sleeps)
    with client.time_budget(120), pytest.raises(JobberRateLimited) as info:
        client.execute(QUERY)
    assert info.value.retry_after == 3600 and sleeps == [] and len(rec.requests) == 1

    sleeps.clear()
    rec = Recorder([httpx.Response(503)] * 10)
    client = make_client(rec, sleeps, max_backoff_s=30.0)
    with client.time_budget(60), pytest.raises(JobberTransportError):
        client.execute(QUERY)
    assert sum(sleeps) <= 60, sleeps

    # Outside a budget nothing changes: Retry-After is honoured.
    sleeps.clear()
    rec = Recorder([httpx.Response(429, headers={"Retry-After": "90"}), ok({"clients": {"nodes": []}})])
    make_client(rec, sleeps).execute(QUERY)
    assert sleeps == [90.0]


def test_429_gives_up_after_retries() -> None:
    rec = Recorder([httpx.Response(429, headers={"Retry-After": "1"})] * 3)
    with pytest.raises(JobberRateLimited) as info:
        make_client(rec, max_retries=2).execute(QUERY)
    assert info.value.retry_after == 1.0
    assert len(rec.requests) == 3


def test_reads_retry_5xx_and_timeouts() -> None:
    rec = Recorder([httpx.Response(502), httpx.ReadTimeout("slow"), ok({"clients": {"nodes": []}})])
    client = make_client(rec)
    client.execute(QUERY)
    assert len(rec.requests) == 3
    assert client.stats.retries == 2


def test_mutations_are_not_retried_after_a_timeout_or_5xx() -> None:
    for failure in (httpx.ReadTimeout("slow"), httpx.Response(500)):
        rec = Recorder([failure, ok({})])
        with pytest.raises(JobberTransportError):
            make_client(rec).mutate(MUTATION, payload="jobClose")
        assert len(rec.requests) == 1, "a mutation that may have run must not be sent again"


def test_mutations_are_retried_when_jobber_cannot_have_run_them() -> None:
    body = {"data": {"jobClose": {"job": {"id": "x"}, "userErrors": []}}}
    rec = Recorder([httpx.ConnectError("refused"), httpx.Response(429), httpx.Response(200, json=body)])
    assert make_client(rec).mutate(MUTATION, payload="jobClose")["job"] == {"id": "x"}
    assert len(rec.requests) == 3


def test_401_refreshes_once_and_retries() -> None:
    class Provider:
        account_key = "a"

        def __init__(self) -> None:
            self.refreshed = 0

        def access_token(self) -> str:
            return "old"

        def after_unauthorized(self, rejected: str) -> str:
            assert rejected == "old"
            self.refreshed += 1
            return "new"

    provider = Provider()
    rec = Recorder([httpx.Response(401, json={"message": "Unauthorized"}), ok({"clients": {"nodes": []}})])
    make_client(rec, tokens=provider).execute(QUERY)
    assert provider.refreshed == 1
    assert rec.requests[1].headers["Authorization"] == "Bearer new"


def test_static_token_401_says_how_to_fix() -> None:
    rec = Recorder([httpx.Response(401, json={"message": "Unauthorized"})])
    with pytest.raises(ReconnectRequired, match="JOBBER_API_KEY"):
        make_client(rec).execute(QUERY)


def test_versioning_warning_is_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    ext = {**cost(), "versioning": {"warning": "Version 2025-04-16 will be retired on 2026-10-16"}}
    rec = Recorder([httpx.Response(200, json={"data": {}, "extensions": ext})] * 2)
    client = make_client(rec)
    with caplog.at_level("WARNING"):
        client.execute(QUERY)
        client.execute(QUERY)
    assert [r.getMessage() for r in caplog.records].count(
        "Jobber API version 2025-04-16: Version 2025-04-16 will be retired on 2026-10-16"
    ) == 1


def test_pacer_waits_for_the_bucket_to_refill() -> None:
    now = [100.0]
    sleeps: list[float] = []

    def sleep(s: float) -> None:
        sleeps.append(s)
        now[0] += s

    pacer = CostPacer(clock=lambda: now[0], sleep=sleep)
    pacer.observe(QueryCost(requested=0, actual=0, maximum_available=10_000, currently_available=300, restore_rate=500))
    assert pacer.reserve(1_300) == pytest.approx(2.0)
    # the reservation took the points: the next request of 500 must wait a further second
    assert pacer.reserve(500) == pytest.approx(1.0)
