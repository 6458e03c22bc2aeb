"""The request-count limit answers HTTP 429 before any query cost is charged."""

from __future__ import annotations

from .conftest import Gql

QUERY = "{ clients(first: 10) { nodes { id } } }"


def test_429_with_retry_after_when_over_the_request_limit(make_sandbox) -> None:  # type: ignore[no-untyped-def]
    sb = make_sandbox(request_limit=3, request_window_s=60.0, restore_rate=0.0)
    gql = Gql(sb, sb.issue_tokens()["access_token"])
    for _ in range(3):
        assert gql.post(QUERY).status_code == 200
    available = sb.store.bucket.available()
    resp = gql.post(QUERY)
    assert resp.status_code == 429
    assert 1 <= int(resp.headers["Retry-After"]) <= 60
    assert "rate limit" in resp.json()["message"].lower()
    assert sb.store.stats.rate_limited_429 == 1
    assert sb.store.bucket.available() == available  # nothing charged


def test_retry_after_header_can_be_left_out(make_sandbox) -> None:  # type: ignore[no-untyped-def]
    sb = make_sandbox(request_limit=1, retry_after=False)
    gql = Gql(sb, sb.issue_tokens()["access_token"])
    assert gql.post(QUERY).status_code == 200
    resp = gql.post(QUERY)
    assert resp.status_code == 429
    assert "retry-after" not in resp.headers


def test_requests_are_allowed_again_after_the_window(make_sandbox) -> None:  # type: ignore[no-untyped-def]
    import time

    sb = make_sandbox(request_limit=2, request_window_s=0.5)
    gql = Gql(sb, sb.issue_tokens()["access_token"])
    assert [gql.post(QUERY).status_code for _ in range(3)] == [200, 200, 429]
    time.sleep(0.6)
    assert gql.post(QUERY).status_code == 200
