"""The client against the sandbox's real limits: long pagination, a read larger than the bucket, 429s."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sandbox.jobber import SandboxConfig, SandboxServer
from tasks.errors import JobberQueryTooExpensive
from tasks.jobber.auth import StaticTokenProvider
from tasks.jobber.client import JobberClient
from tasks.jobber.documents import load_document


def client_for(server: SandboxServer) -> JobberClient:
    return JobberClient(
        graphql_url=server.url + "/api/graphql",
        api_version="2025-04-16",
        tokens=StaticTokenProvider(server.issue_tokens()["access_token"]),
    )


@pytest.fixture(scope="module")
def big() -> Iterator[SandboxServer]:
    with SandboxServer(SandboxConfig(seed=9, clients=3000, jobs=10, invoices=10, quotes=2, restore_rate=50_000)) as s:
        yield s


def test_pagination_walks_thousands_of_records_once_each(big: SandboxServer) -> None:
    client = client_for(big)
    ids = [node["id"] for node in client.paginate(load_document("sync/ids_clients"), path=("clients",))]
    assert len(ids) == 3000 and len(set(ids)) == 3000
    assert client.stats.requests <= 3000 // 50 + 2


def test_a_read_larger_than_the_bucket_is_paced_and_never_throttled() -> None:
    cfg = SandboxConfig(seed=4, clients=300, jobs=5, invoices=5, quotes=2, bucket_max=3000, restore_rate=3000)
    with SandboxServer(cfg) as server:
        client = client_for(server)
        nodes = list(client.paginate(load_document("sync/clients"), path=("clients",), page_size=20))
        assert len(nodes) == 300
        assert client.stats.cost_actual > cfg.bucket_max * 2, "the read really was larger than the bucket"
        assert client.stats.throttled == 0 and server.store.stats.throttled == 0
        assert client.pacer.total_wait_s > 0, "the pacer did the waiting instead of Jobber"


def test_request_limit_429_is_retried_after_the_retry_after_delay() -> None:
    cfg = SandboxConfig(seed=4, clients=5, jobs=5, invoices=5, quotes=2, request_limit=3, request_window_s=1.0)
    with SandboxServer(cfg) as server:
        slept: list[float] = []
        client = client_for(server)
        real_sleep = client._sleep

        def sleep(seconds: float) -> None:
            slept.append(seconds)
            real_sleep(seconds)

        client._sleep = sleep
        for _ in range(6):
            assert client.execute(load_document("account/get"))["account"]["id"]
        assert client.stats.rate_limited >= 1 and server.store.stats.rate_limited_429 >= 1
        assert slept and all(0 < s <= 1.5 for s in slept), "waited what Retry-After said, not a blind backoff"


def test_a_query_over_the_bucket_maximum_fails_fast_against_the_sandbox() -> None:
    cfg = SandboxConfig(seed=4, clients=5, jobs=5, invoices=5, quotes=2, bucket_max=200)
    with SandboxServer(cfg) as server:
        client = client_for(server)
        slept: list[float] = []
        client._sleep = slept.append
        with pytest.raises(JobberQueryTooExpensive, match=r"'BigRead'.*201 points.*maximumAvailable 200"):
            client.execute("query BigRead { clients(first: 100) { nodes { id name } } }")
        assert server.store.stats.graphql_requests == 1 and slept == [], "one request, no retries"
