"""The admin page (`/admin/jobber`, Jobber's Manage App URL): who may see it, what its queries find on SQLite
and PostgreSQL, the server-drawn chart, and the page as a real headless Chromium renders it."""

from __future__ import annotations

import base64
import re
import shutil
import struct
import subprocess
import zlib
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr
from sqlalchemy import Engine

from tasks.admin.chart import SERIES, nice_ticks, weekly_chart_svg
from tasks.admin.dashboard import WeekCounts, load_dashboard, week_start
from tasks.admin.masking import mask_address, mask_email, mask_phone, mask_text
from tasks.store import accounts
from tasks.store.db import get_engine, session_factory, unit_of_work
from tasks.store.migrate import upgrade_database
from tasks.store.models import Delivery, ReviewRequest, Suppression, SyncWatermark, WebhookInbox
from tests.gateway.test_oauth import gateway, make_settings, serve

ADMIN_TOKEN = "admin-token-for-tests-5b7c1e"  # noqa: S105 - a test value
SVG_NS = "{http://www.w3.org/2000/svg}"
FIXED_NOW = datetime(2025, 6, 18, 12, 0, tzinfo=UTC)  # a Wednesday: this week started Monday 2025-06-16

FAILED_PHONE = "+15551234567"
OPTED_OUT_PHONE = "+15559876543"
RECONNECT_REASON = "Jobber no longer accepts this connection's refresh token. Connect the app to Jobber again."
FAILURE_REASON = "Twilio 21211: the number +15551234567 is not a valid phone number"


# -- data ----------------------------------------------------------------------------------------------
def seed(engine: Engine, now: datetime) -> None:
    """Two accounts (one needing reconnect), a webhook backlog, sync watermarks, review requests, opt-outs."""
    with unit_of_work(engine) as s:
        accounts.ensure_account(s, key="default", jobber_account_id="acc-1", name="Evergreen Home Services")
        accounts.save_tokens(
            s, account_key="default", access_token="a", refresh_token="r", access_expires_at=now + timedelta(hours=1)
        )
        accounts.ensure_account(s, key="north", jobber_account_id="acc-2", name="North Lawn Care")
        accounts.mark_reconnect_needed(s, account_key="north", reason=RECONNECT_REASON)

        def inbox(n: int, topic: str, age: timedelta, *, relayed: bool, error: str | None = None) -> WebhookInbox:
            return WebhookInbox(
                dedupe_key=f"k{n}",
                account_id="acc-1",
                topic=topic,
                item_id=f"item-{n}",
                occurred_at=(now - age).isoformat(),
                body="{}",
                received_at=now - age,
                relayed_at=now - age + timedelta(seconds=1) if relayed else None,
                relay_attempts=1 if error else 0,
                last_error=error,
            )

        s.add_all(
            [
                inbox(1, "CLIENT_CREATE", timedelta(hours=2), relayed=True),
                inbox(2, "JOB_CLOSED", timedelta(minutes=20), relayed=False),
                inbox(3, "INVOICE_UPDATE", timedelta(minutes=10), relayed=False, error="Prefect API unreachable"),
                inbox(4, "VISIT_COMPLETE", timedelta(minutes=1), relayed=False),
                inbox(5, "QUOTE_SENT", timedelta(days=3), relayed=True),
            ]
        )
        s.add_all(
            [
                SyncWatermark(
                    account_key="default",
                    resource="clients",
                    watermark=now - timedelta(minutes=11),
                    last_success_at=now - timedelta(minutes=10),
                ),
                SyncWatermark(
                    account_key="default",
                    resource="invoices",
                    watermark=now - timedelta(hours=3, minutes=1),
                    last_success_at=now - timedelta(hours=3),
                ),
                SyncWatermark(account_key="default", resource="jobs", resume_cursor="cursor-7"),
            ]
        )

        def review(job: int, name: str, age: timedelta, **values: Any) -> ReviewRequest:
            request = ReviewRequest(
                account_key="default",
                job_id=f"job-{job}",
                job_number=job,
                recipient_name=name,
                trigger="JOB_CLOSED",
                planned_at=now - age,
                created_at=now - age,
                **values,
            )
            s.add(request)
            s.flush()
            return request

        def delivery(request: ReviewRequest, status: str, **values: Any) -> None:
            s.add(
                Delivery(
                    review_request_id=request.id,
                    idempotency_key=f"{request.id}:initial",
                    kind="initial",
                    channel=request.channel or "sms",
                    to_address=request.recipient_phone or request.recipient_email or "",
                    provider="twilio" if request.channel == "sms" else "smtp",
                    status=status,
                    **values,
                )
            )

        review(900, "Old Timer", timedelta(weeks=20), channel="sms", status="sent", sent_at=now - timedelta(weeks=20))
        lee = review(
            1040,
            "Lee Park",
            timedelta(days=9),
            channel="email",
            recipient_email="lee.park@example.com",
            status="sent",
            sent_at=now - timedelta(days=9),
        )
        delivery(lee, "delivered", sent_at=now - timedelta(days=9))
        sam = review(
            1041,
            "Sam Ortega",
            timedelta(days=2),
            channel="sms",
            recipient_phone="+15550001111",
            status="sent",
            sent_at=now - timedelta(days=2),
            clicked_at=now - timedelta(days=1),
        )
        delivery(sam, "delivered", sent_at=now - timedelta(days=2))
        dana = review(
            1042,
            "Dana Whitfield",
            timedelta(days=1),
            channel="sms",
            recipient_phone=FAILED_PHONE,
            status="failed",
            reason=FAILURE_REASON,
        )
        delivery(dana, "failed", error_code="21211", error_message=f"Invalid 'To' Phone Number: {FAILED_PHONE}")
        review(1043, "Kim Ng", timedelta(hours=-2), channel="sms", recipient_phone="+15557654321", status="planned")
        s.add_all(
            [
                Suppression(
                    channel="sms",
                    address=OPTED_OUT_PHONE,
                    reason="stop",
                    source="inbound_sms",
                    created_at=now - timedelta(hours=3),
                ),
                Suppression(
                    channel="email",
                    address="gone@example.com",
                    reason="unsubscribe",
                    source="email_link",
                    created_at=now - timedelta(days=10),
                ),
            ]
        )


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'admin.db'}"
    upgrade_database(url)
    return url


def admin_app(database_url: str, **settings: Any) -> FastAPI:
    values: dict[str, Any] = {"database_url": database_url, "admin_token": SecretStr(ADMIN_TOKEN)}
    values.update(settings)
    return gateway(make_settings(**values))


@pytest.fixture
def admin_client(sqlite_url: str) -> Iterator[httpx.Client]:
    with serve(lambda _: admin_app(sqlite_url)) as url, httpx.Client(base_url=url) as client:
        yield client


def basic(username: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()}


BEARER = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def svg_of(html: str) -> ElementTree.Element:
    match = re.search(r"<svg\b.*?</svg>", html, re.DOTALL)
    assert match, "no inline <svg> in the page"
    return ElementTree.fromstring(match.group(0))


def bars(svg: ElementTree.Element) -> list[ElementTree.Element]:
    return [r for r in svg.iter(f"{SVG_NS}rect") if r.get("class") == "bar"]


# -- masking -------------------------------------------------------------------------------------------
def test_phone_numbers_keep_only_their_last_two_digits() -> None:
    assert mask_phone("+15551234567") == "+•••••••••67"
    assert mask_phone("(555) 123-4567") == "••••••••67"
    assert mask_phone("7") == "•"
    assert mask_phone(None) == ""
    assert mask_email("jane.doe@example.com") == "j•••@example.com"
    assert mask_address("+15551234567", "sms").endswith("67")
    assert mask_address("a@b.co", None) == "a•••@b.co"
    assert (
        mask_text("Twilio 21610: +15551234567 unsubscribed in 2025")
        == "Twilio 21610: +•••••••••67 unsubscribed in 2025"
    )
    assert mask_text("call 5551234567 now") == "call ••••••••67 now"


# -- the chart -----------------------------------------------------------------------------------------
def test_nice_ticks_cover_the_maximum_in_round_steps() -> None:
    assert nice_ticks(0) == [0, 1]
    assert nice_ticks(3) == [0, 1, 2, 3]
    assert nice_ticks(7) == [0, 2, 4, 6, 8]
    assert nice_ticks(48) == [0, 10, 20, 30, 40, 50]
    assert nice_ticks(130) == [0, 50, 100, 150]


def test_the_chart_draws_one_bar_per_series_and_week_with_axes_and_legend() -> None:
    weeks = [WeekCounts(date(2025, 3, 31) + timedelta(weeks=i)) for i in range(12)]
    weeks[10] = WeekCounts(date(2025, 6, 9), sent=8, delivered=7, clicked=3, opted_out=1)
    weeks[11] = WeekCounts(date(2025, 6, 16), sent=4, delivered=4, clicked=1, opted_out=0)
    svg = ElementTree.fromstring(weekly_chart_svg(weeks, title="Review <requests> & more"))

    groups = [g for g in svg.iter(f"{SVG_NS}g") if g.get("class") == "week"]
    assert [g.get("data-week") for g in groups] == [w.week_start.isoformat() for w in weeks]
    drawn = bars(svg)
    assert len(drawn) == 12 * len(SERIES)
    values = {(b.get("data-series"), b.get("data-value")) for b in drawn if b.get("data-value") != "0"}
    assert values == {("sent", "8"), ("delivered", "7"), ("clicked", "3"), ("opted_out", "1"), ("sent", "4")} | {
        ("delivered", "4"),
        ("clicked", "1"),
    }
    heights = {b.get("data-value"): float(b.get("height") or 0) for b in drawn}
    assert heights["8"] > heights["4"] > heights["1"] > 0 == heights["0"]
    texts = [t.text for t in svg.iter(f"{SVG_NS}text")]
    assert {"Sent", "Delivered", "Clicked", "Opted out"} <= set(texts)  # the legend
    assert {"Review requests", "Week starting (Monday, UTC)"} <= set(texts)  # axis titles
    assert {"Mar 31", "Jun 16", "0", "8"} <= set(texts)  # week and count labels
    assert svg.findtext(f"{SVG_NS}title") == "Review <requests> & more"  # escaped, still valid XML


def test_an_empty_chart_still_has_axes() -> None:
    svg = ElementTree.fromstring(weekly_chart_svg([]))
    assert "No data yet" in [t.text for t in svg.iter(f"{SVG_NS}text")]


# -- the queries (SQLite and PostgreSQL) -------------------------------------------------------------
def test_the_dashboard_queries_find_what_the_page_shows(db_url: str) -> None:
    engine = get_engine(db_url)
    seed(engine, FIXED_NOW)
    with session_factory(engine)() as session:
        d = load_dashboard(session, now=FIXED_NOW)

    assert [(a.key, a.name, a.status, a.has_tokens, a.needs_action) for a in d.accounts] == [
        ("default", "Evergreen Home Services", "connected", True, False),
        ("north", "North Lawn Care", "reconnect_needed", False, True),
    ]
    assert d.accounts[1].reason == RECONNECT_REASON

    w = d.webhooks
    assert (w.last_topic, w.last_received_at) == ("VISIT_COMPLETE", FIXED_NOW - timedelta(minutes=1))
    assert (w.received_24h, w.backlog, w.failing) == (4, 3, 1)
    assert w.oldest_unrelayed_at == FIXED_NOW - timedelta(minutes=20)
    assert w.relay_lag_s == pytest.approx(1200)

    sync = {s.resource: s for s in d.sync}
    assert not sync["clients"].stale and sync["clients"].age_s == pytest.approx(600)
    assert sync["invoices"].stale
    assert sync["jobs"].stale and sync["jobs"].resuming and sync["jobs"].last_success_at is None

    assert [r.job_number for r in d.review_requests] == [1043, 1042, 1041, 1040, 900]
    failed = d.review_requests[1]
    assert (failed.client, failed.channel, failed.status, failed.to) == (
        "Dana Whitfield",
        "sms",
        "failed",
        "+•••••••••67",
    )
    assert failed.reason == "Twilio 21211: the number +•••••••••67 is not a valid phone number"
    assert failed.delivery_status == "failed"
    assert failed.delivery_error == "[21211] Invalid 'To' Phone Number: +•••••••••67"
    assert d.review_requests[3].to == "l•••@example.com"

    assert (d.opt_outs.total, d.opt_outs.by_channel) == (2, {"email": 1, "sms": 1})
    assert [(o.channel, o.address, o.reason) for o in d.opt_outs.latest] == [
        ("sms", "+•••••••••43", "stop"),
        ("email", "g•••@example.com", "unsubscribe"),
    ]

    assert len(d.weeks) == 12
    assert (d.weeks[0].week_start, d.weeks[-1].week_start) == (date(2025, 3, 31), date(2025, 6, 16))
    by_week = {
        w.week_start: (w.sent, w.delivered, w.clicked, w.opted_out)
        for w in d.weeks
        if any((w.sent, w.delivered, w.clicked, w.opted_out))
    }
    assert by_week == {
        date(2025, 6, 16): (1, 1, 1, 1),  # Sam: sent Mon, delivered, clicked Tue; the STOP 3 h ago
        date(2025, 6, 9): (1, 1, 0, 0),  # Lee, nine days ago
        date(2025, 6, 2): (0, 0, 0, 1),  # the email unsubscribe, ten days ago (a Sunday)
    }


def test_an_empty_database_gives_an_empty_dashboard(db_url: str) -> None:
    with session_factory(get_engine(db_url))() as session:
        d = load_dashboard(session, now=FIXED_NOW)
    assert d.accounts == () and d.sync == () and d.review_requests == ()
    assert (d.webhooks.last_topic, d.webhooks.backlog, d.webhooks.relay_lag_s) == (None, 0, None)
    assert d.opt_outs.total == 0
    assert [w.sent for w in d.weeks] == [0] * 12
    assert week_start(FIXED_NOW) == date(2025, 6, 16)


# -- who may see the page ------------------------------------------------------------------------------
@pytest.mark.parametrize("token", [None, "changeme", ""], ids=["unset", "placeholder", "empty"])
def test_without_an_admin_token_the_page_is_closed_and_says_what_to_set(sqlite_url: str, token: str | None) -> None:
    app = admin_app(sqlite_url, admin_token=SecretStr(token) if token is not None else None)
    with serve(lambda _: app) as url, httpx.Client(base_url=url) as client:
        page = client.get("/admin/jobber", headers=basic("admin", token or ""))
        data = client.get("/admin/jobber.json", headers={"Authorization": f"Bearer {token or 'anything'}"})
    assert page.status_code == 503 and "ADMIN_TOKEN" in page.text
    assert data.status_code == 503 and "ADMIN_TOKEN" in data.json()["detail"]


@pytest.mark.parametrize("length", [1, 8, 15])
def test_a_short_admin_token_keeps_the_page_closed_and_is_named_at_startup(
    sqlite_url: str, length: int, caplog: pytest.LogCaptureFixture
) -> None:
    import logging

    from deployments.gateway.app import create_app
    from tests.gateway.test_webhooks_support import close_gateway

    short = "k7Q2pX9mZ4vR1tY8"[:length]
    with caplog.at_level(logging.ERROR, logger="deployments.gateway.app"):
        close_gateway(create_app(make_settings(database_url=sqlite_url, admin_token=SecretStr(short)), relay=False))
    assert any(f"ADMIN_TOKEN is too short ({length} characters)" in r.getMessage() for r in caplog.records)
    app = admin_app(sqlite_url, admin_token=SecretStr(short))
    with serve(lambda _: app) as url, httpx.Client(base_url=url) as client:
        page = client.get("/admin/jobber", headers=basic("admin", short))  # the right credentials
        data = client.get("/admin/jobber.json", headers={"Authorization": f"Bearer {short}"})
    assert page.status_code == 503 and "ADMIN_TOKEN is too short" in page.text and "at least 16" in page.text
    assert data.status_code == 503 and "ADMIN_TOKEN is too short" in data.json()["detail"]


def test_an_admin_token_of_sixteen_characters_is_accepted(sqlite_url: str) -> None:
    token = "k7Q2pX9mZ4vR1tY8"
    app = admin_app(sqlite_url, admin_token=SecretStr(token))
    with serve(lambda _: app) as url, httpx.Client(base_url=url) as client:
        assert client.get("/admin/jobber.json", headers={"Authorization": f"Bearer {token}"}).status_code == 200


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong-token"},
        {"Authorization": f"Bearer {ADMIN_TOKEN}x"},
        basic("admin", "wrong-token"),
        basic("someone", ADMIN_TOKEN),
        {"Authorization": "Basic !!!not-base64"},
        {"Authorization": f"Token {ADMIN_TOKEN}"},
    ],
    ids=["none", "wrong-bearer", "longer-bearer", "wrong-password", "wrong-user", "garbled-basic", "other-scheme"],
)
def test_wrong_or_missing_credentials_get_401_with_a_basic_challenge(
    admin_client: httpx.Client, headers: dict[str, str]
) -> None:
    for path in ("/admin/jobber", "/admin/jobber.json"):
        answer = admin_client.get(path, headers=headers)
        assert answer.status_code == 401
        assert answer.headers["www-authenticate"].startswith("Basic")
        assert "Evergreen" not in answer.text


def test_bearer_and_basic_auth_both_open_the_page(admin_client: httpx.Client) -> None:
    for headers in (BEARER, basic("admin", ADMIN_TOKEN)):
        answer = admin_client.get("/admin/jobber", headers=headers)
        assert answer.status_code == 200
        assert answer.headers["content-type"].startswith("text/html")
        assert answer.headers["cache-control"] == "no-store"
        assert "default-src 'none'" in answer.headers["content-security-policy"]
    assert admin_client.get("/admin/jobber.json", headers=BEARER).status_code == 200


def test_the_basic_auth_username_comes_from_settings(sqlite_url: str) -> None:
    app = admin_app(sqlite_url, admin_username="owner")
    with serve(lambda _: app) as url, httpx.Client(base_url=url) as client:
        assert client.get("/admin/jobber", headers=basic("owner", ADMIN_TOKEN)).status_code == 200
        assert client.get("/admin/jobber", headers=basic("admin", ADMIN_TOKEN)).status_code == 401


# -- what the page shows -------------------------------------------------------------------------------
def test_the_page_shows_the_rows_that_need_attention(db_url: str) -> None:
    now = datetime.now(UTC)
    seed(get_engine(db_url), now)
    with serve(lambda _: admin_app(db_url)) as url, httpx.Client(base_url=url) as client:
        page = client.get("/admin/jobber", headers=BEARER).text
        data = client.get("/admin/jobber.json", headers=BEARER).json()

    # The account that needs reconnecting, its reason and the way out.
    assert "North Lawn Care" in page and "reconnect needed" in page and RECONNECT_REASON.replace("'", "&#39;") in page
    assert page.count('href="/auth/jobber/connect"') == 2  # a Reconnect button per account
    # The webhook inbox and relay.
    assert "VISIT_COMPLETE" in page
    assert "3 waiting" in page and "1 failing" in page
    assert "20 min" in page  # relay lag: the oldest unrelayed webhook's age
    # Sync freshness.
    assert re.search(r'data-stale="true">\s*<td>invoices', page)
    assert re.search(r'data-stale="false">\s*<td>clients', page)
    # The failed review request with its reason, the number masked everywhere.
    assert "Dana Whitfield" in page and "#1042" in page and "Twilio 21211: the number +•••••••••67" in page
    assert "+•••••••••67" in page and "+•••••••••43" in page  # the request and the opt-out
    for digits in ("5551234567", "5559876543", "5550001111", "5557654321"):
        assert digits not in page
        assert digits not in str(data)
    assert 'class="opt-out-total">2<' in page
    # The chart: twelve weeks of bars, drawn on the server.
    svg = svg_of(page)
    weeks = [g.get("data-week") for g in svg.iter(f"{SVG_NS}g") if g.get("class") == "week"]
    assert len(weeks) == 12 and weeks[-1] == week_start(now).isoformat()
    totals = {name: 0 for name, _, _ in SERIES}
    for bar in bars(svg):
        totals[bar.get("data-series") or ""] += int(bar.get("data-value") or 0)
    assert totals == {"sent": 2, "delivered": 2, "clicked": 1, "opted_out": 2}
    assert "<script" not in page.lower()
    # The JSON has the same data.
    assert [a["status"] for a in data["accounts"]] == ["connected", "reconnect_needed"]
    assert data["accounts"][1]["needs_action"] is True
    assert data["webhooks"]["backlog"] == 3
    assert [w["sent"] for w in data["weeks"]] == [int(b.get("data-value") or 0) for b in bars(svg)][::4]


def test_a_page_with_no_account_offers_to_connect(admin_client: httpx.Client) -> None:
    page = admin_client.get("/admin/jobber", headers=BEARER).text
    assert "No Jobber account is connected yet" in page
    assert 'href="/auth/jobber/connect"' in page
    assert len(bars(svg_of(page))) == 12 * len(SERIES)


def test_text_from_the_database_is_escaped(sqlite_url: str) -> None:
    with unit_of_work(get_engine(sqlite_url)) as s:
        accounts.ensure_account(s, key="default", name="<script>alert(1)</script> & Sons")
    with serve(lambda _: admin_app(sqlite_url)) as url, httpx.Client(base_url=url) as client:
        page = client.get("/admin/jobber", headers=BEARER).text
    assert "<script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; Sons" in page


# -- in a real browser ---------------------------------------------------------------------------------
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


class InjectAuthorization:
    """ASGI middleware (tests only): adds the admin credentials a person would type into the browser's prompt."""

    def __init__(self, app: Any, value: str) -> None:
        self.app = app
        self.value = value.encode("latin-1")

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            headers = [(k, v) for k, v in scope["headers"] if k.lower() != b"authorization"]
            scope = {**scope, "headers": [*headers, (b"authorization", self.value)]}
        await self.app(scope, receive, send)


def chromium(*args: str, user_data_dir: Path) -> subprocess.CompletedProcess[bytes]:
    assert CHROMIUM is not None
    command = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        "--hide-scrollbars",
        "--run-all-compositor-stages-before-draw",  # else the screenshot may catch tiles not yet painted
        f"--user-data-dir={user_data_dir}",
        "--window-size=1280,1600",
        *args,
    ]
    return subprocess.run(command, capture_output=True, timeout=120, check=False)


def png_pixels(data: bytes) -> tuple[int, int, int, list[bytes]]:
    """Decode an 8-bit, non-interlaced RGB(A) PNG with zlib: (width, height, bytes per pixel, rows)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, header = 8, [], None
    while pos < len(data):
        length = int.from_bytes(data[pos : pos + 4], "big")
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat.append(body)
        elif kind == b"IEND":
            break
    assert header is not None
    width, height, depth, colour, _, _, interlace = header
    assert depth == 8 and interlace == 0 and colour in (2, 6), header
    bpp = 3 if colour == 2 else 4
    raw, stride = zlib.decompress(b"".join(idat)), width * bpp
    prev, rows = bytes(stride), []
    for y in range(height):
        start = y * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1 : start + 1 + stride])
        if kind == 1:  # Sub
            for i in range(bpp, stride):
                line[i] = (line[i] + line[i - bpp]) & 0xFF
        elif kind == 2:  # Up
            line = bytearray((a + b) & 0xFF for a, b in zip(line, prev, strict=True))
        elif kind == 3:  # Average
            for i in range(stride):
                line[i] = (line[i] + (((line[i - bpp] if i >= bpp else 0) + prev[i]) >> 1)) & 0xFF
        elif kind == 4:  # Paeth
            for i in range(stride):
                a, b = (line[i - bpp] if i >= bpp else 0), prev[i]
                c = prev[i - bpp] if i >= bpp else 0
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 0xFF
        prev = bytes(line)
        rows.append(prev)
    return width, height, bpp, rows


@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (apt-get install chromium); CI installs it")
def test_a_headless_browser_renders_the_page_with_its_chart(tmp_path: Path, sqlite_url: str) -> None:
    seed(get_engine(sqlite_url), datetime.now(UTC))
    app = InjectAuthorization(admin_app(sqlite_url), f"Bearer {ADMIN_TOKEN}")
    screenshot = tmp_path / "admin-jobber.png"
    with serve(lambda _: app) as url:
        shot = chromium(f"--screenshot={screenshot}", f"{url}/admin/jobber", user_data_dir=tmp_path / "profile")
        dom = chromium("--dump-dom", f"{url}/admin/jobber", user_data_dir=tmp_path / "profile")

    assert shot.returncode == 0, shot.stderr.decode(errors="replace")[-2000:]
    assert screenshot.exists() and screenshot.stat().st_size > 20_000
    width, height, bpp, rows = png_pixels(screenshot.read_bytes())
    assert (width, height) == (1280, 1600)
    samples = {rows[y][x * bpp : x * bpp + 3] for y in range(0, height, 40) for x in range(0, width, 40)}
    assert len(samples) >= 5, f"the screenshot is (nearly) one colour: {samples}"
    chart_blue = bytes.fromhex(SERIES[0][2][1:])  # the "Sent" bars' colour is somewhere on the page
    assert any(chart_blue in row for row in rows)

    assert dom.returncode == 0, dom.stderr.decode(errors="replace")[-2000:]
    rendered = dom.stdout.decode()
    assert "Evergreen Home Services" in rendered and "North Lawn Care" in rendered
    assert re.search(r"<svg\b[^>]*class=\"chart\"", rendered)
    assert rendered.count('class="bar"') == 12 * len(SERIES)
