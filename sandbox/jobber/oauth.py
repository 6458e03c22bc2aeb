"""OAuth 2.0 (authorization code grant) the way Jobber does it, plus access-token checks.

Access tokens are HS256 JWTs signed with a key private to this sandbox (claims: ``exp``, ``iat``,
``account_id``, ``app_id``, ``sub``, ``gen``). Refresh tokens are opaque and rotate on every use:
the old one dies at once, and reusing it answers 401 ``invalid_grant``. ``revoke_all`` (app
disconnect) bumps a generation counter so every outstanding access and refresh token dies.
"""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import jwt
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

if TYPE_CHECKING:
    from .store import SandboxStore
    from .store.core import StoreCore

INVALID_REFRESH = {"error": "invalid_grant", "error_description": "The provided refresh token is not valid."}
INVALID_CODE = {
    "error": "invalid_grant",
    "error_description": "The provided authorization grant is invalid, "
    "expired, revoked, does not match the redirection URI used in the authorization request, "
    "or was issued to another client.",
}
INVALID_CLIENT = {"error": "invalid_client"}
CODE_TTL_S = 600.0


def _same(given: object, expected: str) -> bool:
    if not isinstance(given, str):
        return False
    return secrets.compare_digest(given.encode(), expected.encode())


class OAuthError(Exception):
    def __init__(self, status: int, body: dict[str, str]) -> None:
        super().__init__(body.get("error", "oauth_error"))
        self.status = status
        self.body = body


@dataclass
class _Code:
    redirect_uri: str | None
    expires: float


class TokenAuthority:
    def __init__(self, store: StoreCore) -> None:
        self._store = store
        self._key = secrets.token_bytes(32)
        self._lock = threading.Lock()
        self._codes: dict[str, _Code] = {}
        self._refresh: dict[str, int] = {}  # live refresh token -> generation
        self._rotated: set[str] = set()
        self._generation = 1

    @property
    def cfg(self) -> Any:
        return self._store.cfg

    # -- issuing --------------------------------------------------------------------------------
    def _access_token(self) -> str:
        now = int(time.time())
        claims = {
            "sub": self._store.owner_id,
            "account_id": self._store.account_id,
            "app_id": self._store.app_id,
            "client_id": self.cfg.client_id,
            "iat": now,
            "exp": now + int(self.cfg.access_token_ttl_s),
            "gen": self._generation,
            "jti": secrets.token_hex(8),
        }
        return jwt.encode(claims, self._key, algorithm="HS256")

    def issue(self) -> dict[str, str]:
        with self._lock:
            refresh = secrets.token_urlsafe(32)
            self._refresh[refresh] = self._generation
            return {"access_token": self._access_token(), "refresh_token": refresh}

    def create_code(self, redirect_uri: str | None) -> str:
        code = secrets.token_urlsafe(24)
        with self._lock:
            self._codes[code] = _Code(redirect_uri, time.monotonic() + CODE_TTL_S)
        return code

    # -- grants ---------------------------------------------------------------------------------
    def _check_client(self, client_id: str | None, client_secret: str | None) -> None:
        ok_id = _same(client_id, self.cfg.client_id)
        ok_secret = _same(client_secret, self.cfg.client_secret)
        if not (ok_id and ok_secret):
            raise OAuthError(401, INVALID_CLIENT)

    def exchange_code(
        self, client_id: str | None, client_secret: str | None, code: str | None, redirect_uri: str | None
    ) -> dict[str, str]:
        self._check_client(client_id, client_secret)
        with self._lock:
            entry = self._codes.pop(code or "", None)
        if entry is None or entry.expires < time.monotonic():
            raise OAuthError(401, INVALID_CODE)
        if entry.redirect_uri and redirect_uri and entry.redirect_uri != redirect_uri:
            raise OAuthError(401, INVALID_CODE)
        tokens = self.issue()
        self._store.on_app_connect()
        return tokens

    def refresh(self, client_id: str | None, client_secret: str | None, refresh_token: str | None) -> dict[str, str]:
        self._check_client(client_id, client_secret)
        token = refresh_token or ""
        with self._lock:
            gen = self._refresh.pop(token, None)
            if gen is None or gen != self._generation:
                if token in self._rotated:
                    self._store.bump("refresh_token_reuse")
                raise OAuthError(401, INVALID_REFRESH)
            self._rotated.add(token)
            new_refresh = secrets.token_urlsafe(32)
            self._refresh[new_refresh] = self._generation
            access = self._access_token()
        self._store.bump("token_refreshes")
        return {"access_token": access, "refresh_token": new_refresh}

    def revoke_all(self) -> None:
        with self._lock:
            self._generation += 1
            self._rotated.update(self._refresh)
            self._refresh.clear()
            self._codes.clear()

    # -- verification ---------------------------------------------------------------------------
    def verify(self, token: str) -> dict[str, Any] | None:
        try:
            claims: dict[str, Any] = jwt.decode(token, self._key, algorithms=["HS256"], options={"require": ["exp"]})
        except jwt.PyJWTError:
            return None
        if claims.get("gen") != self._generation:
            return None
        return claims


# -- HTTP handlers ------------------------------------------------------------------------------
def _with_query(url: str, params: dict[str, str]) -> str:
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True) + list(params.items())
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query), parts.fragment))


async def authorize(request: Request) -> Response:
    store: SandboxStore = request.app.state.sandbox
    q = request.query_params
    redirect_uri = q.get("redirect_uri")
    if not redirect_uri:
        err = {"error": "invalid_request", "error_description": "redirect_uri is required"}
        return JSONResponse(err, 400)
    if q.get("client_id") != store.cfg.client_id:
        return JSONResponse(INVALID_CLIENT, 400)
    if q.get("response_type", "code") != "code":
        return JSONResponse({"error": "unsupported_response_type"}, 400)
    if q.get("deny") in ("1", "true", "yes"):
        return RedirectResponse(redirect_uri, status_code=302)
    params = {"code": store.tokens.create_code(redirect_uri)}
    if q.get("state"):
        params["state"] = q["state"]
    return RedirectResponse(_with_query(redirect_uri, params), status_code=302)


async def token(request: Request) -> Response:
    store: SandboxStore = request.app.state.sandbox
    form: dict[str, Any]
    if request.headers.get("content-type", "").startswith("application/json"):
        try:
            form = dict(await request.json())
        except ValueError:
            form = {}
    else:  # application/x-www-form-urlencoded (parsed here: no python-multipart needed)
        raw = (await request.body()).decode("utf-8", errors="replace")
        form = dict(parse_qsl(raw, keep_blank_values=True))
    form.update({k: v for k, v in request.query_params.items() if k not in form})
    grant = form.get("grant_type")
    try:
        if grant == "authorization_code":
            body = store.tokens.exchange_code(
                form.get("client_id"), form.get("client_secret"), form.get("code"), form.get("redirect_uri")
            )
        elif grant == "refresh_token":
            body = store.tokens.refresh(form.get("client_id"), form.get("client_secret"), form.get("refresh_token"))
        else:
            return JSONResponse({"error": "unsupported_grant_type"}, 400)
    except OAuthError as exc:
        return JSONResponse(exc.body, exc.status)
    return JSONResponse(body)
