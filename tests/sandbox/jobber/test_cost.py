"""Query cost numbers, the leaky bucket and THROTTLED answers (also for a query that can never fit)."""

from __future__ import annotations

import pytest

from sandbox.jobber import SandboxServer

from .conftest import Gql

THROTTLE_DOCS = "https://developer.getjobber.com/docs/using_jobbers_api/api_rate_limits"


def _cost(body: dict) -> dict:  # type: ignore[type-arg]
    return body["extensions"]["cost"]


@pytest.mark.parametrize(
    ("query", "requested", "actual"),
    [
        # 1 (clients) + 10 x (id + name) + pageInfo (1 + 2)
        ("{ clients(first: 10) { nodes { id name } pageInfo { hasNextPage endCursor } } }", 24, 24),
        # edges cost 0, cursor 1, node 0 + id + name: 1 + 4 x 3
        ("{ clients(first: 4) { edges { cursor node { id name } } } }", 13, 13),
        # nested connection: 1 + 5 x (id + jobs(1 + 3 x 2))
        ("{ clients(first: 5) { nodes { id jobs(first: 3) { nodes { id title } } } } }", 41, None),
        # no first -> costed as 100; only 80 jobs exist
        ("{ jobs { nodes { id } } }", 101, 81),
        # totalCount: 1 + 10 + (1 + 50% of 10)
        ("{ clients(first: 10) { totalCount nodes { id } } }", 17, 17),
        # plain objects and lists: account(1 + 2) + 1 + 3 x (name(1 + 1) + emails(1 + 1))
        ("{ account { id name } users(first: 3) { nodes { name { full } email { raw } } } }", 16, 16),
    ],
)
def test_query_cost_follows_jobbers_rules(
    make_sandbox,
    query: str,
    requested: int,  # type: ignore[no-untyped-def]
    actual: int | None,
) -> None:
    sb = make_sandbox(restore_rate=0.0)
    body = Gql(sb, sb.issue_tokens()["access_token"])(query)
    assert "errors" not in body
    cost = _cost(body)
    assert cost["requestedQueryCost"] == requested
    if actual is not None:
        assert cost["actualQueryCost"] == actual
    assert cost["actualQueryCost"] <= requested
    status = cost["throttleStatus"]
    assert status["maximumAvailable"] == 10_000
    assert status["currentlyAvailable"] == 10_000 - cost["actualQueryCost"]
    assert status["restoreRate"] == 0


def test_actual_cost_counts_the_nodes_really_returned(make_sandbox) -> None:  # type: ignore[no-untyped-def]
    sb = make_sandbox(restore_rate=0.0)
    gql = Gql(sb, sb.issue_tokens()["access_token"])
    john_jobs = len(sb.store.clients[0].jobs)
    body = gql("{ clients(first: 1) { nodes { jobs(first: 50) { nodes { id } } } } }")
    assert _cost(body)["requestedQueryCost"] == 1 + 1 * (1 + 50)
    assert _cost(body)["actualQueryCost"] == 1 + 1 + john_jobs


def test_throttled_when_the_bucket_is_empty(make_sandbox) -> None:  # type: ignore[no-untyped-def]
    sb = make_sandbox(bucket_max=200, restore_rate=1.0)
    gql = Gql(sb, sb.issue_tokens()["access_token"])
    query = "{ clients(first: 50) { nodes { id name } } }"  # 101 points
    first = gql(query)
    assert first["data"]["clients"]["nodes"]
    second = gql(query)
    assert "data" not in second
    assert second["errors"] == [
        {"message": "Throttled", "extensions": {"code": "THROTTLED", "documentation": THROTTLE_DOCS}}
    ]
    cost = _cost(second)
    assert cost["requestedQueryCost"] == 101
    assert cost["actualQueryCost"] == 0
    assert cost["throttleStatus"]["maximumAvailable"] == 200
    assert cost["throttleStatus"]["currentlyAvailable"] < 101
    assert cost["throttleStatus"]["restoreRate"] == 1
    assert sb.store.stats.throttled == 1


def test_bucket_restores_over_time(make_sandbox) -> None:  # type: ignore[no-untyped-def]
    sb = make_sandbox(bucket_max=200, restore_rate=400.0)
    gql = Gql(sb, sb.issue_tokens()["access_token"])
    query = "{ clients(first: 50) { nodes { id name } } }"
    assert "data" in gql(query)
    sb.store.bucket.set_available(0)
    assert gql(query)["errors"][0]["extensions"]["code"] == "THROTTLED"
    import time

    time.sleep(0.4)  # 160 points restored
    assert "data" in gql(query)


def test_a_query_over_the_maximum_never_runs_and_is_answered_throttled_as_jobber_does(make_sandbox) -> None:  # type: ignore[no-untyped-def]
    sb = make_sandbox(bucket_max=200)
    gql = Gql(sb, sb.issue_tokens()["access_token"])
    body = gql("{ clients(first: 100) { nodes { id name } } }")  # 201 > 200
    assert "data" not in body
    # Jobber's documented code for any query over budget: THROTTLED (no other code exists for "too big").
    assert body["errors"] == [
        {"message": "Throttled", "extensions": {"code": "THROTTLED", "documentation": THROTTLE_DOCS}}
    ]
    cost = _cost(body)
    assert cost["requestedQueryCost"] == 201 and cost["actualQueryCost"] == 0
    assert cost["throttleStatus"]["maximumAvailable"] == 200  # what tells a client it can never fit
    assert cost["throttleStatus"]["currentlyAvailable"] == 200
    assert sb.store.stats.max_cost_exceeded == 1


def test_stats_count_requests_and_root_fields(sandbox: SandboxServer, gql: Gql) -> None:
    before = sandbox.store.stats.queries_by_root_field["jobs"]
    requests_before = sandbox.store.stats.graphql_requests
    gql("{ jobs(first: 1) { nodes { id } } account { id } }")
    assert sandbox.store.stats.queries_by_root_field["jobs"] == before + 1
    assert sandbox.store.stats.graphql_requests == requests_before + 1
