"""Hypothesis strategies for the gateway fuzz: bodies, headers, query strings and plausible-but-wrong
credentials for every scheme the gateway checks (Jobber HMAC, Slack v0, Twilio, Make bearer / X-Signature,
admin bearer / basic). None of them is ever correctly signed."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode

from hypothesis import strategies as st

from tests.gateway.fuzz_support import (
    ADMIN_TOKEN,
    ADMIN_USERNAME,
    ALL_METHODS,
    JOBBER_WEBHOOK_SECRET,
    MAKE_SECRET,
    MAKE_TOKEN,
    MAX_BODY,
    PATH_PARAM,
    PUBLIC_URL,
    REAL_SECRETS,
    SANDBOX_CLIENT_SECRET,
    SLACK_SECRET,
    TWILIO_TOKEN,
    Endpoint,
    FuzzRequest,
)


# -- generated requests ----------------------------------------------------------------------------------------
def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def _hmac(secret: str, data: bytes, algorithm: Any = hashlib.sha256) -> bytes:
    return hmac.new(secret.encode(), data, algorithm).digest()


printable = st.characters(min_codepoint=0x20, max_codepoint=0x7E)


def text(*, max_size: int) -> st.SearchStrategy[str]:
    """Any text a client can send: no lone surrogates (they have no UTF-8 encoding)."""
    return st.text(alphabet=st.characters(codec="utf-8"), max_size=max_size)


# Header values as the server would deliver them: any byte but controls (starlette decodes them as latin-1).
header_bytes = st.binary(max_size=80).map(lambda b: bytes(c for c in b if c >= 0x20 and c != 0x7F))
wrong_secrets = st.one_of(
    st.sampled_from(["", "secret", "wrong", SANDBOX_CLIENT_SECRET.upper(), JOBBER_WEBHOOK_SECRET + " "]),
    text(max_size=40),
).filter(lambda s: s not in REAL_SECRETS)
# Credentials near the real ones that still must not pass (strip() must not turn them into a real one).
wrong_tokens = st.one_of(
    st.sampled_from([t + "x" for t in (ADMIN_TOKEN, MAKE_TOKEN)] + [t[:-1] for t in (ADMIN_TOKEN, MAKE_TOKEN)]),
    st.sampled_from([ADMIN_TOKEN.upper(), MAKE_TOKEN.upper(), "null", "undefined", "", "Bearer"]),
    st.text(alphabet=printable, max_size=60),
).filter(lambda t: t.strip() not in REAL_SECRETS)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | text(max_size=30),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(text(max_size=12), children, max_size=4),
    max_leaves=12,
)
# Field names the endpoints read: Slack's form, Twilio's form, the Make.com trigger's JSON, Jobber's event.
form_keys = st.one_of(
    st.sampled_from(
        [
            "command",
            "text",
            "response_url",
            "ssl_check",
            "user_id",
            "team_id",
            "From",
            "To",
            "Body",
            "MessageSid",
            "SmsSid",
            "MessageStatus",
            "ErrorCode",
            "List-Unsubscribe",
            "email",
            "phone",
        ]
    ),
    text(max_size=12),
)
form_values = st.one_of(
    text(max_size=60),
    st.sampled_from(
        ["STOP", "START", "HELP", "1", "+15555550123", "https://hooks.slack.com/x", "delivered", "One-Click"]
    ),
)
form_bodies = st.lists(st.tuples(form_keys, form_values), max_size=6).map(lambda items: urlencode(items).encode())
jobber_events = st.fixed_dictionaries(
    {},
    optional={
        "topic": st.sampled_from(["JOB_CLOSED", "APP_DISCONNECT", "CLIENT_CREATE"]) | json_values,
        "accountId": text(max_size=40),
        "itemId": text(max_size=40),
        "occurredAt": st.sampled_from(["2025-01-24T15:30:00-06:00", "", "not a time"]) | text(max_size=20),
    },
).map(lambda event: json.dumps({"data": {"webHookEvent": event}}).encode())
make_bodies = st.fixed_dictionaries(
    {},
    optional={
        "client_name": text(max_size=30),
        "email": st.sampled_from(["a@example.com", "", "not-an-email"]) | text(max_size=20),
        "phone": st.sampled_from(["+15555550123", "555"]) | text(max_size=20),
        "job_id": text(max_size=20) | st.integers(),
        "review_link": st.sampled_from(["https://g.page/r/x", "javascript:alert(1)"]),
    },
).map(lambda data: json.dumps(data).encode())


def _huge(n: int, kind: str) -> bytes:
    if kind == "json":
        return b'{"k":"' + b"a" * max(n - 8, 0) + b'"}'
    if kind == "form":
        return b"Body=" + b"x" * max(n - 5, 0)
    return b"a" * n


huge_bodies = st.builds(
    _huge, st.integers(min_value=MAX_BODY - 8, max_value=MAX_BODY * 3), st.sampled_from(["json", "form", "raw"])
)
bodies = st.one_of(
    st.just(b""),
    st.binary(max_size=512),
    json_values.map(lambda v: json.dumps(v).encode()),
    form_bodies,
    jobber_events,
    make_bodies,
    huge_bodies,
)
content_types = st.one_of(
    st.none(),
    st.sampled_from(
        [
            "application/json",
            "application/x-www-form-urlencoded",
            "application/x-www-form-urlencoded; charset=utf-8",
            "multipart/form-data; boundary=xyz",
            "multipart/form-data",
            "text/plain",
            "application/xml",
            "application/json; charset=latin-1",
            "*/*",
            "",
        ]
    ),
    header_bytes.map(lambda b: b.decode("latin-1")),
)
path_texts = st.one_of(
    text(max_size=80),
    st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_", min_size=1, max_size=70),
    st.sampled_from(["", "x", "a" * 64, "a" * 65, "\x00", "a\x00b", "%00", "../admin/jobber", "..", " ", "null"]),
)
query_keys = st.one_of(
    st.sampled_from(["code", "state", "error", "error_description", "token", "bodySHA256", "format"]),
    text(max_size=12),
)
# A state shaped like the gateway's own (<unix time>.<nonce>.<signature>) but not signed with its secret.
no_dot = st.text(alphabet=st.characters(codec="utf-8", exclude_characters="."), max_size=16)
forged_states = st.one_of(
    st.tuples(st.integers(0, 1200), no_dot, no_dot).map(lambda t: f"{int(time.time()) - t[0]}.{t[1]}.{t[2]}"),
    st.tuples(st.sampled_from(["0", "²", "١٢٣", "9" * 30, ""]), no_dot, no_dot).map(".".join),
)
query_values = st.one_of(
    text(max_size=60),
    st.sampled_from(["access_denied", "invalid_scope", "", "1.nonce.sig", "abc"]),
    forged_states,
)
# The parameters the endpoints read, drawn together (OAuth's callback needs `code` and `state` at once).
known_query = st.fixed_dictionaries(
    {},
    optional={
        "code": st.sampled_from(["x", "abc123", ""]) | text(max_size=40),
        "state": forged_states | text(max_size=40),
        "error": st.sampled_from(["access_denied", "server_error", ""]) | text(max_size=20),
        "error_description": text(max_size=40),
    },
)


def _form_params(body: bytes) -> dict[str, str]:
    try:
        return dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
    except UnicodeDecodeError:
        return {}


def _twilio_signature(token: str, url: str, params: dict[str, str], algorithm: Any = hashlib.sha1) -> str:
    data = url + "".join(k + params[k] for k in sorted(params))
    return _b64(_hmac(token, data.encode(), algorithm))


@st.composite
def auth_headers(draw: st.DrawFn, path: str, body: bytes) -> list[tuple[str, str]]:
    """One group of plausible-but-wrong credentials for one of the gateway's schemes."""
    kind = draw(st.sampled_from(["jobber", "slack", "twilio", "bearer", "basic", "x-signature", "other"]))
    if kind == "jobber":
        value = draw(
            st.one_of(
                wrong_secrets.map(lambda s: _b64(_hmac(s, body))),  # the right body, a wrong secret
                st.just(_b64(_hmac(JOBBER_WEBHOOK_SECRET, body + b"\n"))),  # the right secret, another body
                st.just(_b64(_hmac(SANDBOX_CLIENT_SECRET, body + b" "))),
                st.binary(min_size=32, max_size=32).map(_b64),
                st.just(_hmac(JOBBER_WEBHOOK_SECRET, body + b"\n").hex()),  # hex instead of base64
                st.text(alphabet=printable, max_size=60),
            )
        )
        name = draw(st.sampled_from(["X-Jobber-Hmac-SHA256", "x-jobber-hmac-sha256"]))
        return [(name, value)]
    if kind == "slack":
        now = int(time.time())
        offset = draw(st.integers(min_value=301, max_value=10**7))
        stale = str(now - offset if draw(st.booleans()) else now + offset)
        timestamp, signature = draw(
            st.one_of(
                # correctly signed, but outside the five-minute window
                st.just((stale, "v0=" + _hmac(SLACK_SECRET, f"v0:{stale}:".encode() + body).hex())),
                # fresh, signed with a wrong secret
                wrong_secrets.map(lambda s: (str(now), "v0=" + _hmac(s, f"v0:{now}:".encode() + body).hex())),
                # fresh, the right secret over another body
                st.just((str(now), "v0=" + _hmac(SLACK_SECRET, f"v0:{now}:".encode() + body + b"&").hex())),
                # the right secret and time, another version prefix
                st.just((str(now), "v1=" + _hmac(SLACK_SECRET, f"v0:{now}:".encode() + body).hex())),
                st.tuples(
                    st.sampled_from(["", "abc", "-1", "1e9", "１２３", str(now) + "0" * 20, str(now)]),
                    st.text(alphabet=printable, max_size=70),
                ),
            )
        )
        return [("X-Slack-Request-Timestamp", timestamp), ("X-Slack-Signature", signature)]
    if kind == "twilio":
        params = _form_params(body)
        signature = draw(
            st.one_of(
                wrong_secrets.map(lambda s: _twilio_signature(s, PUBLIC_URL + path, params)),
                st.just(_twilio_signature(TWILIO_TOKEN, "http://evil.test" + path, params)),  # another URL
                st.just(_twilio_signature(TWILIO_TOKEN, PUBLIC_URL + path + "/", params)),
                st.binary(min_size=20, max_size=32).map(_b64),
                st.text(alphabet=printable, max_size=60),
            )
        )
        headers = [("X-Twilio-Signature", signature)]
        if draw(st.booleans()):
            setting = draw(
                st.sampled_from(["algorithm=HMAC_SHA256", "algorithm=MD5", "algorithm=", "key=x,algorithm=NONE", ""])
                | st.text(alphabet=printable, max_size=40)
            )
            headers.append(("X-Twilio-Webhooks-Signature-Settings", setting))
        return headers
    if kind == "bearer":
        scheme = draw(st.sampled_from(["Bearer ", "bearer ", "BEARER ", "Bearer", "Token "]))
        return [("Authorization", scheme + draw(wrong_tokens))]
    if kind == "basic":
        raw = draw(
            st.one_of(
                wrong_tokens.map(lambda t: f"{ADMIN_USERNAME}:{t}".encode()),  # right user, wrong password
                st.just(f"root:{ADMIN_TOKEN}".encode()),  # wrong user, right password
                st.just(ADMIN_TOKEN.encode()),  # no colon
                st.binary(max_size=40),
            )
        )
        encoded = draw(
            st.sampled_from([_b64(raw), _b64(raw).rstrip("="), "!!not base64!!", _b64(raw) + "\xe9", "\xe9"])
            | text(max_size=30).map(lambda t: t.encode("latin-1", "replace").decode("latin-1"))
        )
        return [("Authorization", "Basic " + encoded)]
    if kind == "x-signature":
        value = draw(
            st.one_of(
                wrong_secrets.map(lambda s: hmac.new(s.encode(), body, hashlib.sha256).hexdigest()),
                st.just("sha256=" + _hmac(MAKE_SECRET, body + b" ").hex()),
                st.just(_b64(_hmac(MAKE_SECRET, body + b" "))),
                st.text(alphabet=printable, max_size=70),
            )
        )
        return [("X-Signature", value)]
    name = draw(
        st.sampled_from(
            ["Content-Length", "Transfer-Encoding", "User-Agent", "Accept", "Cookie", "X-Forwarded-For", "Origin"]
        )
        | st.text(
            alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E, exclude_characters=":"), min_size=1
        ).filter(lambda n: n.lower() not in ("host", "content-length"))
    )  # (a garbage Host breaks the test client's redirect handling, not the app)
    if name == "Content-Length":
        # HTTP servers (h11, httptools) refuse a Content-Length that is not ASCII digits before the app sees it,
        # so only digits are sent: wrong ones (too small, too large, huge), never garbage.
        value = draw(
            st.sampled_from(["0", str(len(body) + 1), str(max(len(body) - 1, 0)), str(MAX_BODY + 1), "0" * 30])
            | st.integers(0, 10**20).map(str)
        )
        return [(name, value)]
    value = draw(
        st.sampled_from(["-1", "0", "abc", "chunked", "gzip, chunked", "facebookexternalhit/1.1", "Slackbot 1.0"])
        | header_bytes.map(lambda b: b.decode("latin-1"))
    )
    return [(name, value)]


def _fill(path: str, draw: st.DrawFn) -> str:
    return PATH_PARAM.sub(lambda _: quote(draw(path_texts), safe=""), path)


@st.composite
def requests_for(draw: st.DrawFn, endpoint: Endpoint) -> FuzzRequest:
    own = sorted(endpoint.methods)
    wrong = [m for m in ALL_METHODS if m not in endpoint.methods]
    use_wrong = bool(wrong) and draw(st.integers(0, 4)) == 0  # one request in five uses a method the route lacks
    method = draw(st.sampled_from(wrong if use_wrong else own))
    path = _fill(endpoint.path, draw)
    if draw(st.integers(0, 9)) == 0:
        path = path.rstrip("/") + "/" if not path.endswith("/") else path.rstrip("/") or "/"
    query = tuple(draw(known_query).items()) + tuple(draw(st.lists(st.tuples(query_keys, query_values), max_size=3)))
    body = draw(bodies)
    headers: list[tuple[str, str]] = []
    content_type = draw(content_types)
    if content_type is not None:
        headers.append(("Content-Type", content_type))
    for group in draw(st.lists(auth_headers(path, body), max_size=4)):
        headers.extend(group)
    return FuzzRequest(
        method=method,
        path=path,
        query=query,
        headers=tuple((name, value.encode()) for name, value in headers),  # a server passes UTF-8 bytes on
        body=body,
        # one in six streamed without Content-Length; oversized bodies one in two (read until the cap)
        chunked=bool(body) and draw(st.integers(0, 1 if len(body) > MAX_BODY else 5)) == 0,
    )
