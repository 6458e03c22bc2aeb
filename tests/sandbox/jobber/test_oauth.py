"""OAuth: authorize redirect, code exchange, refresh-token rotation, disconnect."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import httpx
import jwt

from sandbox.jobber import SandboxServer

from .conftest import VERSION, Gql

CALLBACK = "http://localhost:8000/auth/jobber/callback"
INVALID_GRANT = {"error": "invalid_grant", "error_description": "The provided refresh token is not valid."}


def _authorize(sb: SandboxServer, **extra: str) -> httpx.Response:
    params = {"response_type": "code", "client_id": sb.cfg.client_id, "redirect_uri": CALLBACK, **extra}
    return httpx.get(f"{sb.url}/api/oauth/authorize", params=params, follow_redirects=False)


def _token(sb: SandboxServer, **form: str) -> httpx.Response:
    data = {"client_id": sb.cfg.client_id, "client_secret": sb.cfg.client_secret, **form}
    return httpx.post(f"{sb.url}/api/oauth/token", data=data)


def test_authorization_code_flow_gives_working_tokens(make_sandbox) -> None:  # type: ignore[no-untyped-def]
    sb = make_sandbox()
    resp = _authorize(sb, state="xyz123")
    assert resp.status_code == 302
    location = urlsplit(resp.headers["location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == CALLBACK
    query = parse_qs(location.query)
    assert query["state"] == ["xyz123"]
    tokens = _token(sb, grant_type="authorization_code", code=query["code"][0], redirect_uri=CALLBACK)
    assert tokens.status_code == 200
    body = tokens.json()
    assert set(body) == {"access_token", "refresh_token"}
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert claims["account_id"] == sb.store.account_id
    assert claims["exp"] > claims["iat"]
    account = Gql(sb, body["access_token"])("{ account { id } }")
    assert account["data"]["account"]["id"] == sb.store.account_id
    # a code works once
    again = _token(sb, grant_type="authorization_code", code=query["code"][0], redirect_uri=CALLBACK)
    assert again.status_code == 401
    assert [e.topic for e in sb.store.events] == ["APP_CONNECT"]


def test_denied_authorization_redirects_without_parameters(make_sandbox) -> None:  # type: ignore[no-untyped-def]
    sb = make_sandbox()
    resp = _authorize(sb, state="abc", deny="1")
    assert resp.status_code == 302
    assert resp.headers["location"] == CALLBACK


def test_refresh_rotates_and_the_old_token_dies(make_sandbox) -> None:  # type: ignore[no-untyped-def]
    sb = make_sandbox()
    first = sb.issue_tokens()
    rotated = _token(sb, grant_type="refresh_token", refresh_token=first["refresh_token"])
    assert rotated.status_code == 200
    new = rotated.json()
    assert new["refresh_token"] != first["refresh_token"]
    assert "expires_in" not in new
    reuse = _token(sb, grant_type="refresh_token", refresh_token=first["refresh_token"])
    assert reuse.status_code == 401
    assert reuse.json() == INVALID_GRANT
    assert sb.store.stats.token_refreshes == 1
    assert sb.store.stats.refresh_token_reuse == 1
    unknown = _token(sb, grant_type="refresh_token", refresh_token="never-issued")
    assert unknown.json() == INVALID_GRANT
    assert sb.store.stats.refresh_token_reuse == 1  # unknown is not a reuse
    assert _token(sb, grant_type="refresh_token", refresh_token=new["refresh_token"]).status_code == 200


def test_wrong_client_secret_is_invalid_client(make_sandbox) -> None:  # type: ignore[no-untyped-def]
    sb = make_sandbox()
    tokens = sb.issue_tokens()
    resp = _token(sb, grant_type="refresh_token", refresh_token=tokens["refresh_token"], client_secret="nope")
    assert resp.status_code == 401
    assert resp.json() == {"error": "invalid_client"}


def test_disconnect_kills_every_token(make_sandbox) -> None:  # type: ignore[no-untyped-def]
    sb = make_sandbox()
    tokens = sb.issue_tokens()
    gql = Gql(sb, tokens["access_token"])
    assert gql.post("{ account { id } }").status_code == 200
    sb.store.disconnect()
    assert gql.post("{ account { id } }").status_code == 401
    resp = _token(sb, grant_type="refresh_token", refresh_token=tokens["refresh_token"])
    assert resp.status_code == 401 and resp.json() == INVALID_GRANT
    assert sb.store.events[-1].topic == "APP_DISCONNECT"


def test_app_disconnect_mutation_answers_then_revokes(make_sandbox) -> None:  # type: ignore[no-untyped-def]
    sb = make_sandbox()
    gql = Gql(sb, sb.issue_tokens()["access_token"])
    body = gql("mutation { appDisconnect { app { name } userErrors { message } } }")
    assert body["data"]["appDisconnect"] == {"app": {"name": "Sandbox App"}, "userErrors": []}
    after = httpx.post(
        f"{sb.url}/api/graphql",
        json={"query": "{ account { id } }"},
        headers={"Authorization": f"Bearer {gql.token}", "X-JOBBER-GRAPHQL-VERSION": VERSION},
    )
    assert after.status_code == 401
    assert sb.store.events[-1].topic == "APP_DISCONNECT"
