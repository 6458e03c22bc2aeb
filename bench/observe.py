"""What an end-to-end bench reads from the running stack: the gateway's /metrics, the sandbox's counters,
Prefect's flow and task runs; and percentiles of a list of numbers.
"""

from __future__ import annotations

import statistics
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import httpx


def scrape_metrics(url: str, token: str, workers: int) -> dict[str, Any] | None:
    """Gateway /metrics: ack histogram buckets of jobber_webhook, webhook outcomes, inbox backlog, relay lag.

    With several gateway processes each has its own registry and a scrape reaches one of them: scrape until
    `workers` distinct registries were seen (call this only while no webhooks arrive) and add them up.
    """
    from prometheus_client.parser import text_string_to_metric_families

    seen: dict[tuple[Any, ...], dict[str, Any]] = {}
    for _ in range(max(1, workers) * 12):
        try:
            text = httpx.get(f"{url}/metrics", headers={"Authorization": f"Bearer {token}"}, timeout=10).text
        except httpx.HTTPError:
            continue
        snap: dict[str, Any] = {"buckets": {}, "count": 0.0, "sum": 0.0, "outcomes": {}, "backlog": None, "lag": None}
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                labels = sample.labels
                if sample.name == "gateway_ack_seconds_bucket" and labels.get("endpoint") == "jobber_webhook":
                    snap["buckets"][float(labels["le"])] = sample.value
                elif sample.name == "gateway_ack_seconds_count" and labels.get("endpoint") == "jobber_webhook":
                    snap["count"] = sample.value
                elif sample.name == "gateway_ack_seconds_sum" and labels.get("endpoint") == "jobber_webhook":
                    snap["sum"] = sample.value
                elif sample.name == "gateway_requests_total" and labels.get("endpoint") == "jobber_webhook":
                    snap["outcomes"][labels.get("outcome", "?")] = sample.value
                elif sample.name == "gateway_inbox_backlog":
                    snap["backlog"] = sample.value
                elif sample.name == "gateway_relay_lag_seconds":
                    snap["lag"] = sample.value
        key = (snap["count"], tuple(sorted(snap["outcomes"].items())))
        seen.setdefault(key, snap)
        if len(seen) >= max(1, workers):
            break
    if not seen:
        return None
    total: dict[str, Any] = {"buckets": Counter(), "count": 0.0, "sum": 0.0, "outcomes": Counter(), "registries": 0}
    for snap in seen.values():
        total["buckets"].update(snap["buckets"])
        total["count"] += snap["count"]
        total["sum"] += snap["sum"]
        total["outcomes"].update(snap["outcomes"])
        total["registries"] += 1
        total["backlog"], total["lag"] = snap["backlog"], snap["lag"]
    total["buckets"], total["outcomes"] = dict(total["buckets"]), dict(total["outcomes"])
    return total


def histogram_quantile(q: float, start: dict[str, Any] | None, end: dict[str, Any] | None) -> dict[str, Any]:
    """Prometheus-style quantile (linear within a bucket) of the bucket deltas between two scrapes."""
    if not end:
        return {"n": None, "p": None, "bucket_le": None}
    before = (start or {}).get("buckets", {})
    deltas = sorted((le, cum - before.get(le, 0.0)) for le, cum in end["buckets"].items())
    total = deltas[-1][1] if deltas else 0.0
    if total <= 0:
        return {"n": 0, "p": None, "bucket_le": None}
    rank = q * total
    prev_le, prev_cum = 0.0, 0.0
    for le, cum in deltas:
        if cum >= rank:
            if le == float("inf"):
                finite = [b for b, _ in deltas if b != float("inf")]
                return {"n": int(total), "p": max(finite, default=prev_le), "bucket_le": "+Inf"}
            p = prev_le + (le - prev_le) * ((rank - prev_cum) / (cum - prev_cum) if cum > prev_cum else 1.0)
            return {"n": int(total), "p": p, "bucket_le": le}
        prev_le, prev_cum = le, cum
    return {"n": int(total), "p": None, "bucket_le": None}


def sandbox_state(url: str) -> dict[str, Any]:
    try:
        return dict(httpx.get(f"{url}/sandbox/state", timeout=30).json())
    except (httpx.HTTPError, ValueError):
        return {}


def sandbox_counters(state: dict[str, Any]) -> dict[str, Any]:
    stats = state.get("stats", {})
    return {
        "points_charged": stats.get("points_charged"),
        "graphql_queries": sum((stats.get("queries_by_root_field") or {}).values()),
        "graphql_mutations": stats.get("mutations", 0),
        "throttled": stats.get("throttled", 0),
        "rate_limited_429": stats.get("rate_limited_429", 0),
        "webhooks_emitted": (state.get("webhooks") or {}).get("emitted"),
        "webhooks_pending": (state.get("webhooks") or {}).get("pending"),
        "webhooks_failed": (state.get("webhooks") or {}).get("failed"),
        "queries_by_root_field": dict(stats.get("queries_by_root_field") or {}),
    }


def prefect_runs(api: str, start: float, end: float, *, max_pages: int = 60) -> dict[str, Any]:
    """Flow and task runs whose expected start time falls in [start, end): counts, by flow / task and state."""
    window = {
        "after_": datetime.fromtimestamp(start, UTC).isoformat(),
        "before_": datetime.fromtimestamp(end, UTC).isoformat(),
    }
    out: dict[str, Any] = {}
    try:
        with httpx.Client(base_url=api, timeout=60) as http:
            flows = {f["id"]: f["name"] for f in http.post("/flows/filter", json={"limit": 200}).json()}
            out["flow_runs"] = http.post("/flow_runs/count", json={"flow_runs": {"expected_start_time": window}}).json()
            out["task_runs"] = http.post("/task_runs/count", json={"task_runs": {"expected_start_time": window}}).json()
            by_flow: Counter[str] = Counter()
            by_state: Counter[str] = Counter()
            lags: list[float] = []
            for page in range(max_pages):
                rows = http.post(
                    "/flow_runs/filter",
                    json={"flow_runs": {"expected_start_time": window}, "limit": 200, "offset": 200 * page},
                ).json()
                for r in rows:
                    by_flow[flows.get(r["flow_id"], r["flow_id"])] += 1
                    by_state[f"{flows.get(r['flow_id'], '?')}:{r.get('state_type')}"] += 1
                    if r.get("start_time") and r.get("expected_start_time"):
                        lags.append(
                            (
                                datetime.fromisoformat(r["start_time"])
                                - datetime.fromisoformat(r["expected_start_time"])
                            ).total_seconds()
                        )
                if len(rows) < 200:
                    break
            out["flow_runs_by_flow"] = dict(by_flow)
            out["flow_runs_by_state"] = dict(by_state)
            out["flow_run_start_lag_s"] = summary(lags)
            by_task: Counter[str] = Counter()
            task_states: Counter[str] = Counter()
            background = 0
            for page in range(max_pages):
                rows = http.post(
                    "/task_runs/filter",
                    json={"task_runs": {"expected_start_time": window}, "limit": 200, "offset": 200 * page},
                ).json()
                for r in rows:
                    key = str(r.get("task_key") or r.get("name") or "?")
                    by_task[key.rsplit("-", 1)[0] if "-" in key else key] += 1
                    task_states[str(r.get("state_type"))] += 1
                    background += r.get("flow_run_id") is None
                if len(rows) < 200:
                    break
            out["task_runs_by_task"] = dict(by_task.most_common(15))
            out["task_runs_by_state"] = dict(task_states)
            out["background_task_runs"] = background
    except (httpx.HTTPError, ValueError, KeyError) as exc:
        out["error"] = f"{type(exc).__name__}: {exc}"
    return out


def summary(values: list[float]) -> dict[str, Any]:
    if not values:
        return {"n": 0}
    ordered = sorted(values)

    def pct(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))], 3)

    return {
        "n": len(ordered),
        "p50": round(statistics.median(ordered), 3),
        "p95": pct(0.95),
        "p99": pct(0.99),
        "max": round(ordered[-1], 3),
        "mean": round(statistics.fmean(ordered), 3),
    }
