"""Property-based fuzz of EVERY route of the gateway: no 5xx, and nothing stored for a request that fails verification.

The routes come from the app itself (`app.routes`, walked through FastAPI's included routers), so a new endpoint
is fuzzed without touching this file. Each route gets generated requests: one of its methods (or a wrong one),
random bytes / JSON / form bodies (some at or over GATEWAY_MAX_BODY_BYTES, some streamed without a
Content-Length), random query strings, content types and garbage headers, and plausible-but-wrong credentials
for every scheme the gateway checks (Jobber HMAC, Slack v0, Twilio, Make bearer / X-Signature, admin bearer /
basic). Every secret is configured, so every verification path runs. No request is ever correctly signed,
so no table may change: checked after every request (the diff names the request) and after each route's run.

OAuth's connect is admin-only and its callback needs a state bound to the admin's cookie, so no fuzzed code
reaches Jobber's token endpoint; the gateway is pointed at a local Jobber sandbox all the same. Oversized
bodies streamed without Content-Length (up to 25 MiB) and the edge requests the fuzz found are sent on every
run by test_fuzz_edge_requests.py; the strategies are in fuzz_strategies.py, the checks in fuzz_support.py.
"""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from hypothesis import HealthCheck, Phase, given, settings

from tests.gateway.fuzz_strategies import requests_for
from tests.gateway.fuzz_support import (
    GUARDED_TABLES,
    POSTGRES_EXAMPLES,
    REQUIRED_PATHS,
    ROUTES,
    SQLITE_EXAMPLES,
    Endpoint,
    FuzzRequest,
    assert_nothing_stored,
    count_query,
    exercise,
    row_counts,
)


def test_route_enumeration_covers_every_documented_endpoint() -> None:
    paths = {endpoint.path for endpoint in ROUTES}
    missing = sorted(REQUIRED_PATHS - paths)
    assert not missing, f"route enumeration missed {missing}; found {sorted(paths)}"
    by_path = {endpoint.path: endpoint.methods for endpoint in ROUTES}
    assert {"GET", "POST"} <= by_path["/u/{token}"], f"/u/{{token}} methods: {by_path['/u/{token}']}"
    assert "POST" in by_path["/webhooks/jobber"], by_path["/webhooks/jobber"]


@pytest.mark.parametrize("endpoint", ROUTES, ids=str)
def test_every_route_never_5xx_and_stores_nothing_unverified(
    endpoint: Endpoint, fuzz_gateway: FastAPI, db_url: str
) -> None:
    counting = count_query(fuzz_gateway.state.engine)
    baseline = row_counts(fuzz_gateway.state.engine, counting)
    assert all(baseline[t] == 0 for t in GUARDED_TABLES), f"the database is not empty before the fuzz: {baseline}"
    sent: list[str] = []

    @settings(
        max_examples=SQLITE_EXAMPLES if db_url.startswith("sqlite") else POSTGRES_EXAMPLES,
        deadline=None,
        phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink],  # no slow "explain"
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(req=requests_for(endpoint))
    def fuzz(req: FuzzRequest) -> None:
        sent.append(f"route {endpoint}: {req.describe()}")
        exercise(fuzz_gateway, endpoint, req, counting)

    fuzz()
    assert_nothing_stored(fuzz_gateway, baseline, counting, f"route {endpoint}", sent)
