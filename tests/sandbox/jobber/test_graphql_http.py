"""The GraphQL endpoint: auth, version header, seeded data, pagination, filters, by-id nulls."""

from __future__ import annotations

import time

import httpx

from sandbox.jobber import SandboxConfig, SandboxServer
from sandbox.jobber.ids import encode_id

from .conftest import VERSION, Gql

ACCOUNT_Q = "query { account { id name } }"


def test_server_starts_fast_and_serves_the_account() -> None:
    t0 = time.monotonic()
    with SandboxServer(SandboxConfig()) as sb:
        elapsed = time.monotonic() - t0
        body = Gql(sb, sb.issue_tokens()["access_token"])(ACCOUNT_Q)
    assert elapsed < 2.0
    assert sb.url.startswith("http://127.0.0.1:")
    assert body["data"]["account"]["name"] == "Evergreen Home Services"
    assert body["data"]["account"]["id"] == sb.store.account_id


def test_graphql_requires_a_valid_bearer_token(sandbox: SandboxServer) -> None:
    url = f"{sandbox.url}/api/graphql"
    no_auth = httpx.post(url, json={"query": ACCOUNT_Q}, headers={"X-JOBBER-GRAPHQL-VERSION": VERSION})
    forged = httpx.post(
        url,
        json={"query": ACCOUNT_Q},
        headers={"Authorization": "Bearer not.a.jwt", "X-JOBBER-GRAPHQL-VERSION": VERSION},
    )
    assert no_auth.status_code == 401
    assert no_auth.json() == {"message": "Unauthorized"}
    assert forged.status_code == 401


def test_expired_access_token_is_rejected(make_sandbox) -> None:  # type: ignore[no-untyped-def]
    # 3 s, not 1: on a loaded 2-core machine the first request alone once took over a second
    sb = make_sandbox(access_token_ttl_s=3)
    gql = Gql(sb, sb.issue_tokens()["access_token"])
    assert gql.post(ACCOUNT_Q).status_code == 200
    time.sleep(4.1)
    resp = gql.post(ACCOUNT_Q)
    assert resp.status_code == 401
    assert resp.json() == {"message": "Unauthorized"}


def test_version_header_is_required_and_recorded(sandbox: SandboxServer, gql: Gql) -> None:
    resp = httpx.post(
        f"{sandbox.url}/api/graphql", json={"query": ACCOUNT_Q}, headers={"Authorization": f"Bearer {gql.token}"}
    )
    assert resp.status_code == 400
    assert "X-JOBBER-GRAPHQL-VERSION" in resp.json()["message"]

    old = Gql(sandbox, gql.token, version="2024-01-10")(ACCOUNT_Q)
    assert "2024-01-10" in old["extensions"]["versioning"]["warning"]
    current = gql(ACCOUNT_Q)
    assert "versioning" not in current["extensions"]
    assert sandbox.store.versions_seen["2024-01-10"] >= 1
    assert sandbox.store.versions_seen[VERSION] >= 1


def test_demo_client_john_smith_has_the_water_heater_job(gql: Gql) -> None:
    body = gql("""
      query {
        clients(first: 1) {
          nodes {
            name firstName lastName isCompany
            emails { address primary }
            phones { number primary smsAllowed }
            clientProperties(first: 1) { nodes { address { city province postalCode country } } }
            jobs(first: 5) {
              nodes {
                jobNumber title jobStatus completedAt
                visits(first: 3) { nodes { isComplete assignedUsers(first: 3) { nodes { name { first full } } } } }
              }
            }
          }
        }
      }""")
    assert "errors" not in body
    john = body["data"]["clients"]["nodes"][0]
    assert john["name"] == "John Smith"
    assert john["emails"] == [{"address": "john.smith@example.com", "primary": True}]
    assert john["phones"][0]["smsAllowed"] is True
    assert john["phones"][0]["number"].startswith("+1 512")
    address = john["clientProperties"]["nodes"][0]["address"]
    assert (address["city"], address["province"], address["country"]) == ("Austin", "TX", "United States")
    job = next(j for j in john["jobs"]["nodes"] if j["jobNumber"] == 1042)
    assert job["title"] == "Water Heater Installation"
    assert job["jobStatus"] != "archived" and job["completedAt"] is None
    tech = job["visits"]["nodes"][0]["assignedUsers"]["nodes"][0]["name"]
    assert tech == {"first": "Mike", "full": "Mike Thompson"}


def test_missing_or_malformed_ids_return_null_without_errors(gql: Gql) -> None:
    body = gql(
        "query($a: EncodedId!, $b: EncodedId!) { job(id: $a) { id } client(id: $b) { id } }",
        {"a": encode_id("Job", 999_999), "b": "definitely-not-an-id"},
    )
    assert body["data"] == {"job": None, "client": None}
    assert "errors" not in body


def test_validation_errors_come_back_with_http_200(gql: Gql) -> None:
    resp = gql.post("query { clients(first: 2) { nodes { id noSuchField } } }")
    assert resp.status_code == 200
    body = resp.json()
    assert "noSuchField" in body["errors"][0]["message"]
    assert "data" not in body
    assert "cost" in body["extensions"]


def test_paginate_through_every_client_with_first_and_after(sandbox: SandboxServer, gql: Gql) -> None:
    seen: list[str] = []
    after = None
    pages = 0
    while True:
        body = gql(
            """query($after: String) { clients(first: 7, after: $after) {
                        nodes { id } pageInfo { endCursor hasNextPage hasPreviousPage } } }""",
            {"after": after},
        )
        conn = body["data"]["clients"]
        seen += [n["id"] for n in conn["nodes"]]
        pages += 1
        assert conn["pageInfo"]["hasPreviousPage"] is (pages > 1)
        if not conn["pageInfo"]["hasNextPage"]:
            break
        after = conn["pageInfo"]["endCursor"]
    expected = [c.id for c in sandbox.store.clients]
    assert seen == expected
    assert len(set(seen)) == sandbox.store.cfg.clients == 50
    assert pages == 8


def test_page_size_is_capped_and_edges_carry_cursors(gql: Gql) -> None:
    body = gql("query { jobs(first: 500) { edges { cursor node { id } } totalCount } }")
    edges = body["data"]["jobs"]["edges"]
    assert len(edges) == 80  # fewer than the 100 cap
    assert len({e["cursor"] for e in edges}) == 80
    assert body["data"]["jobs"]["totalCount"] == 80


def test_jobs_sort_by_updated_at_descending(gql: Gql) -> None:
    body = gql("""query { jobs(first: 30, sort: [{key: UPDATED_AT, direction: DESCENDING}]) {
                    nodes { updatedAt } } }""")
    stamps = [n["updatedAt"] for n in body["data"]["jobs"]["nodes"]]
    assert stamps == sorted(stamps, reverse=True)
    assert len(stamps) == 30


def test_updated_at_filter_finds_recently_touched_records(sandbox: SandboxServer, gql: Gql) -> None:
    before = gql("query { clients(first: 1) { nodes { updatedAt } } }")["data"]["clients"]["nodes"][0]
    assert before["updatedAt"].endswith("Z")
    touched = set(sandbox.store.touch_random(12, seed=7))
    mark = max(c.updated_at for c in sandbox.store.clients).strftime("%Y-%m-%dT%H:%M:%SZ")
    body = gql(
        """query($after: ISO8601DateTime) {
                    clients(first: 100, filter: {updatedAt: {after: $after}}) { nodes { id } }
                    invoices(first: 100, filter: {updatedAt: {after: $after}}) { nodes { id } } }""",
        {"after": mark},
    )
    found = {n["id"] for n in body["data"]["clients"]["nodes"]} | {n["id"] for n in body["data"]["invoices"]["nodes"]}
    client_or_invoice = {i for i in touched if sandbox.store.get_any(i).typename in ("Client", "Invoice")}
    assert client_or_invoice <= found


def test_status_filters_use_schema_enums(gql: Gql) -> None:
    body = gql("""query {
        invoices(first: 100, filter: {status: paid}) { nodes { invoiceStatus amounts { invoiceBalance } } }
        jobs(first: 100, filter: {status: archived}) { nodes { jobStatus completedAt } }
        visits(first: 5, filter: {completedAt: {after: "2000-01-01T00:00:00Z"}}) { nodes { isComplete } }
      }""")
    paid = body["data"]["invoices"]["nodes"]
    assert paid and all(n["invoiceStatus"] == "paid" and n["amounts"]["invoiceBalance"] == 0 for n in paid)
    archived = body["data"]["jobs"]["nodes"]
    assert archived and all(n["jobStatus"] == "archived" and n["completedAt"] for n in archived)
    assert all(n["isComplete"] for n in body["data"]["visits"]["nodes"])
