"""/healthz (public), /metrics (METRICS_TOKEN or the admin credentials) and the API docs (off, or admin only)."""

from __future__ import annotations

import base64
import logging
from collections.abc import Iterator

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families

from deployments.gateway.metrics import metrics_for
from tests.gateway.test_webhooks_support import call, close_gateway, make_gateway, post, signed_headers, webhook_body

METRICS_TOKEN = "metrics-token-for-tests-2d8f"  # noqa: S105 - test values
ADMIN_TOKEN = "admin-token-for-health-tests-6a1b"  # noqa: S105
SCRAPER = {"Authorization": f"Bearer {METRICS_TOKEN}"}


@pytest.fixture
def gateway(db_url: str) -> Iterator[FastAPI]:
    app = make_gateway(db_url, metrics_token=METRICS_TOKEN)
    yield app
    close_gateway(app)


def _get(app: FastAPI, path: str, headers: dict[str, str] | None = None) -> httpx.Response:
    """GET `path`; /metrics as Prometheus scrapes it (with METRICS_TOKEN) unless `headers` say otherwise."""
    if headers is None:
        headers = SCRAPER if path == "/metrics" else {}

    async def go(client: httpx.AsyncClient) -> httpx.Response:
        return await client.get(path, headers=headers)

    return call(app, go)


def _basic(username: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()}


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def test_healthz_reports_ok_with_the_database(gateway: FastAPI) -> None:
    resp = _get(gateway, "/healthz")
    assert resp.status_code == 200
    body = resp.json()
    assert body["status"] == "ok" and body["db"] == "ok"


def test_healthz_is_503_when_the_database_is_unreachable(tmp_path: object) -> None:
    from sqlalchemy import create_engine

    from deployments.gateway.app import create_app
    from tests.gateway.test_webhooks_support import make_settings

    dead = create_engine("postgresql+psycopg://nobody@127.0.0.1:1/none", connect_args={"connect_timeout": 2})
    app = create_app(make_settings("sqlite://"), engine=dead, relay=False)
    resp = _get(app, "/healthz")
    assert resp.status_code == 503
    assert resp.json()["db"] == "error"


def test_metrics_count_requests_latency_backlog_and_lag(gateway: FastAPI) -> None:
    ok = webhook_body(item_id="m-1")
    assert post(gateway, ok, signed_headers(ok)).status_code == 200
    assert post(gateway, ok, signed_headers(ok)).status_code == 200
    assert post(gateway, ok, {"X-Jobber-Hmac-SHA256": "bad"}).status_code == 401
    metrics_for(gateway).slack_notification(ok=True)
    metrics_for(gateway).slack_notification(ok=False)
    metrics_for(gateway).jobber_usage(requests=2, cost=150)

    resp = _get(gateway, "/metrics")
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/plain")
    samples = _samples(resp.text)
    requests = "gateway_requests_total"
    assert samples[(requests, (("endpoint", "jobber_webhook"), ("outcome", "stored")))] == 1
    assert samples[(requests, (("endpoint", "jobber_webhook"), ("outcome", "duplicate")))] == 1
    assert samples[(requests, (("endpoint", "jobber_webhook"), ("outcome", "unauthorized")))] == 1
    assert samples[("gateway_ack_seconds_count", (("endpoint", "jobber_webhook"),))] == 3
    assert samples[("gateway_inbox_backlog", ())] == 1
    assert samples[("gateway_relay_lag_seconds", ())] >= 0
    assert samples[("gateway_event_work", (("state", "pending"),))] == 1, "the stored webhook's work is waiting"
    assert samples[("gateway_event_work", (("state", "failed"),))] == 0
    assert samples[("gateway_event_work_age_seconds", ())] >= 0
    assert samples[("slack_notifications_total", (("outcome", "sent"),))] == 1
    assert samples[("slack_notifications_total", (("outcome", "failed"),))] == 1
    assert samples[("jobber_api_requests_total", (("outcome", "ok"),))] == 2
    assert samples[("jobber_api_query_cost_total", ())] == 150
    assert samples[("gateway_inbox_batches_total", ())] >= 1


def test_each_app_has_its_own_registry(db_url: str) -> None:
    one, two = make_gateway(db_url, metrics_token=METRICS_TOKEN), make_gateway(db_url, metrics_token=METRICS_TOKEN)
    try:
        metrics_for(one).slack_notification(ok=True)
        assert metrics_for(one) is metrics_for(one)
        assert metrics_for(one).registry is not metrics_for(two).registry
        text = _get(two, "/metrics").text
        assert 'slack_notifications_total{outcome="sent"}' not in text
    finally:
        close_gateway(one)
        close_gateway(two)


def test_metrics_show_the_jobber_budget_and_slack_outbox_recorded_by_other_processes(
    gateway: FastAPI, sandbox: object
) -> None:
    from sandbox.jobber import SandboxServer
    from tasks.jobber.auth import StaticTokenProvider
    from tasks.jobber.client import JobberClient
    from tasks.jobber.usage import UsageRecorder

    assert isinstance(sandbox, SandboxServer)
    client = JobberClient(
        graphql_url=sandbox.url + "/api/graphql",
        api_version="2025-04-16",
        tokens=StaticTokenProvider(sandbox.issue_tokens()["access_token"]),
    )
    client.on_response = UsageRecorder(gateway.state.engine, account_key="acct-1", interval_s=0)
    client.execute("query { account { id } }")
    client.execute("query { account { id name } }")
    samples = _samples(_get(gateway, "/metrics").text)
    assert samples[("jobber_api_requests_recorded_total", (("account", "acct-1"),))] == 2
    assert 0 < samples[("jobber_api_points_available", (("account", "acct-1"),))] <= 10_000
    assert samples[("jobber_api_throttled_total", (("account", "acct-1"),))] == 0
    assert ("slack_outbox", (("status", "pending"),)) in samples
    client.close()


# -- who may read what ----------------------------------------------------------------------------------
def test_healthz_is_public_and_metrics_need_the_metrics_token_or_the_admin_credentials(db_url: str) -> None:
    app = make_gateway(db_url, metrics_token=METRICS_TOKEN, admin_token=ADMIN_TOKEN)
    try:
        assert _get(app, "/healthz").status_code == 200  # load balancers and uptime checks need no secret
        refused = [
            {},
            {"Authorization": f"Bearer {METRICS_TOKEN}x"},
            {"Authorization": f"Bearer {METRICS_TOKEN[:-1]}"},
            {"Authorization": METRICS_TOKEN},
            _basic("admin", "wrong-password-of-some-length"),
        ]
        for headers in refused:
            answer = _get(app, "/metrics", headers)
            assert answer.status_code == 401, headers
            assert "gateway_requests_total" not in answer.text
            assert "METRICS_TOKEN" in answer.json()["detail"]
        for headers in (SCRAPER, {"Authorization": f"Bearer {ADMIN_TOKEN}"}, _basic("admin", ADMIN_TOKEN)):
            answer = _get(app, "/metrics", headers)
            assert answer.status_code == 200 and "gateway_requests_total" in answer.text
    finally:
        close_gateway(app)


def test_without_any_token_metrics_are_closed_and_say_what_to_set(db_url: str) -> None:
    app = make_gateway(db_url)
    try:
        answer = _get(app, "/metrics", {"Authorization": "Bearer anything-at-all-here"})
    finally:
        close_gateway(app)
    assert answer.status_code == 401
    assert "METRICS_TOKEN" in answer.json()["detail"] and "ADMIN_TOKEN" in answer.json()["detail"]
    assert "gateway_requests_total" not in answer.text


def test_a_short_metrics_token_is_refused_and_named_at_startup(db_url: str, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR, logger="deployments.gateway.app"):
        app = make_gateway(db_url, metrics_token="short-token")
    try:
        answer = _get(app, "/metrics", {"Authorization": "Bearer short-token"})
    finally:
        close_gateway(app)
    assert answer.status_code == 401 and "METRICS_TOKEN is too short" in answer.json()["detail"]
    assert any("METRICS_TOKEN is too short (11 characters)" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("path", ["/docs", "/openapi.json", "/redoc"])
def test_the_api_docs_are_off_by_default(db_url: str, path: str) -> None:
    app = make_gateway(db_url, admin_token=ADMIN_TOKEN)
    try:
        assert _get(app, path, {"Authorization": f"Bearer {ADMIN_TOKEN}"}).status_code == 404
    finally:
        close_gateway(app)


def test_the_api_docs_when_turned_on_are_for_the_admin_only(db_url: str) -> None:
    app = make_gateway(db_url, admin_token=ADMIN_TOKEN, gateway_api_docs=True)
    try:
        assert _get(app, "/openapi.json", {}).status_code == 401
        assert _get(app, "/docs", {}).status_code == 401
        schema = _get(app, "/openapi.json", {"Authorization": f"Bearer {ADMIN_TOKEN}"})
        page = _get(app, "/docs", _basic("admin", ADMIN_TOKEN))
    finally:
        close_gateway(app)
    assert schema.status_code == 200 and "/webhooks/jobber" in schema.json()["paths"]
    assert page.status_code == 200 and "/openapi.json" in page.text
