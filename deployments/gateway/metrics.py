"""The gateway's Prometheus metrics: one registry per app, shared by every router.

Routers (and anything else holding the app) record through `metrics_for(app)`::

    from deployments.gateway.metrics import metrics_for
    metrics_for(request.app).slack_notifications.labels(outcome="sent").inc()
    metrics_for(request.app).request("/slack/commands", "ok", seconds=0.012)

`GET /metrics` (deployments/gateway/health.py) renders `render(app)`: the counters below plus gauges
read from the database at scrape time (inbox backlog, relay lag).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

# Acknowledgement latency buckets around Jobber's 1 s deadline and our 50 ms p99 target.
ACK_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)

__all__ = ["CONTENT_TYPE_LATEST", "GatewayMetrics", "metrics_for", "render"]


@dataclass
class GatewayMetrics:
    """Every metric the gateway exports, registered in the app's own registry."""

    registry: CollectorRegistry = field(default_factory=lambda: CollectorRegistry(auto_describe=True))

    def __post_init__(self) -> None:
        r = self.registry
        # labelled children, cached: `labels()` costs more than the increment on the webhook hot path
        self._counters: dict[tuple[str, str], Any] = {}
        self._histograms: dict[str, Any] = {}
        self.requests = Counter(
            "gateway_requests", "Requests answered, by endpoint and outcome.", ["endpoint", "outcome"], registry=r
        )
        self.ack_seconds = Histogram(
            "gateway_ack_seconds",
            "Time from the request's arrival to its answer (webhooks: after the durable write).",
            ["endpoint"],
            buckets=ACK_BUCKETS,
            registry=r,
        )
        self.inbox_batches = Counter("gateway_inbox_batches", "Group commits of the webhook inbox.", registry=r)
        self.inbox_batch_rows = Histogram(
            "gateway_inbox_batch_rows",
            "Webhooks per group commit.",
            buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500),
            registry=r,
        )
        self.inbox_commit_seconds = Histogram(
            "gateway_inbox_commit_seconds", "Duration of one group commit.", buckets=ACK_BUCKETS, registry=r
        )
        self.inbox_backlog = Gauge("gateway_inbox_backlog", "Inbox rows not yet relayed to Prefect.", registry=r)
        self.relay_lag_seconds = Gauge(
            "gateway_relay_lag_seconds", "Age of the oldest inbox row not yet relayed to Prefect.", registry=r
        )
        self.event_work = Gauge(
            "gateway_event_work",
            "Webhooks by the state of the work they cause: pending (waiting or being handled) | failed (set aside).",
            ["state"],
            registry=r,
        )
        self.event_work_age_seconds = Gauge(
            "gateway_event_work_age_seconds",
            "Age of the oldest webhook whose work is not done: alert when it grows (no event worker?).",
            registry=r,
        )
        self.relay_events = Counter(
            "gateway_relay_events",
            "Inbox rows sent to Prefect by this process's relay, by outcome (sent | rejected: refused for good).",
            ["outcome"],
            registry=r,
        )
        self.relay_set_aside = Gauge(
            "gateway_relay_set_aside",
            "Inbox rows set aside because Prefect refused their events for good (4xx): alert on > 0.",
            registry=r,
        )
        self.jobber_api_requests = Counter(
            "jobber_api_requests",
            "Jobber GraphQL requests made from this process, by outcome.",
            ["outcome"],
            registry=r,
        )
        self.jobber_api_cost = Counter(
            "jobber_api_query_cost", "Jobber query cost points spent (actualQueryCost).", registry=r
        )
        self.jobber_points_available = Gauge(
            "jobber_api_points_available",
            "Jobber query-cost points available at the last call.",
            ["account"],
            registry=r,
        )
        self.jobber_throttled = Gauge(
            "jobber_api_throttled_total", "THROTTLED answers from Jobber (all processes).", ["account"], registry=r
        )
        self.jobber_rate_limited = Gauge(
            "jobber_api_http_429_total", "HTTP 429 answers from Jobber (all processes).", ["account"], registry=r
        )
        self.jobber_requests_recorded = Gauge(
            "jobber_api_requests_recorded_total", "Jobber requests made by every process.", ["account"], registry=r
        )
        self.slack_outbox = Gauge(
            "slack_outbox",
            "Slack notifications in the outbox, by status (pending | sent | failed).",
            ["status"],
            registry=r,
        )
        self.slack_notifications = Counter(
            "slack_notifications", "Slack notifications, by outcome (sent | failed).", ["outcome"], registry=r
        )

    # -- small helpers other routers call ----------------------------------------------------------
    def request(self, endpoint: str, outcome: str, *, seconds: float | None = None) -> None:
        """Count one answered request (and its latency when given)."""
        counter = self._counters.get((endpoint, outcome))
        if counter is None:
            counter = self._counters[(endpoint, outcome)] = self.requests.labels(endpoint=endpoint, outcome=outcome)
        counter.inc()
        if seconds is not None:
            histogram = self._histograms.get(endpoint)
            if histogram is None:
                histogram = self._histograms[endpoint] = self.ack_seconds.labels(endpoint=endpoint)
            histogram.observe(seconds)

    def slack_notification(self, *, ok: bool) -> None:
        self.slack_notifications.labels(outcome="sent" if ok else "failed").inc()

    def jobber_usage(self, *, requests: int = 1, cost: float = 0.0, outcome: str = "ok") -> None:
        """Record Jobber API usage (for example from JobberClient.stats deltas)."""
        self.jobber_api_requests.labels(outcome=outcome).inc(requests)
        if cost:
            self.jobber_api_cost.inc(cost)


def metrics_for(app: Any) -> GatewayMetrics:
    """The app's metrics (created on first use and kept on `app.state.metrics`)."""
    state = app.state
    existing = getattr(state, "metrics", None)
    if isinstance(existing, GatewayMetrics):
        return existing
    created = GatewayMetrics()
    state.metrics = created
    return created


def render(app: Any) -> bytes:
    """Prometheus text exposition of the app's registry."""
    return generate_latest(metrics_for(app).registry)
