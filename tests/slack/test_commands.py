"""The `/jobber` answers, from a database the tests fill (SQLite and PostgreSQL): newest first, at most ten,
filters that match what people type, user text kept out of SQL and names escaped for mrkdwn."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from tasks.slack.commands import (
    SlashCommand,
    answer_from_database,
    is_slack_response_url,
    parse_slash_command,
)
from tasks.store.db import unit_of_work
from tasks.store.models import Client, Invoice, Job

BASE = datetime(2026, 11, 1, tzinfo=UTC)


def fill(engine: Engine, *, clients: int = 12) -> None:
    """`clients` clients (client 0 oldest), one job and one invoice each, plus a few awkward names."""
    statuses = ["late", "archived", "upcoming", "requires_invoicing"]
    invoice_statuses = ["paid", "awaiting_payment", "past_due", "draft"]
    with unit_of_work(engine) as session:
        for i in range(clients):
            created = BASE + timedelta(days=i)
            session.add(
                Client(
                    id=f"C{i}",
                    name=f"Client {i:02d}",
                    primary_email=f"c{i}@example.com",
                    primary_phone=f"+1512555{i:04d}",
                    jobber_created_at=created,
                    is_archived=False,
                )
            )
            session.add(
                Job(
                    id=f"J{i}",
                    job_number=1000 + i,
                    title=f"Job title {i}",
                    job_status=statuses[i % 4],
                    client_id=f"C{i}",
                    total=100.0 + i,
                    jobber_created_at=created,
                )
            )
            session.add(
                Invoice(
                    id=f"I{i}",
                    invoice_number=str(2000 + i),
                    invoice_status=invoice_statuses[i % 4],
                    client_id=f"C{i}",
                    total=50.0 + i,
                    balance=0.0 if i % 4 == 0 else 50.0 + i,
                    jobber_created_at=created,
                    due_date=created + timedelta(days=30),
                )
            )
        session.add(Client(id="X1", name="<!channel> & <@U999> Plumbing", jobber_created_at=BASE - timedelta(days=30)))
        session.add(Client(id="X2", name="100% Clean_Co", jobber_created_at=BASE - timedelta(days=31)))


def ask(engine: Engine, text: str) -> dict[str, Any]:
    return answer_from_database(engine, SlashCommand(command="/jobber", text=text))


def sections(answer: dict[str, Any]) -> list[str]:
    return [b["text"]["text"] for b in answer["blocks"] if b["type"] == "section"]


def test_clients_newest_first_at_most_ten(engine: Engine) -> None:
    fill(engine)
    answer = ask(engine, "clients")
    assert answer["response_type"] == "ephemeral"
    rows = sections(answer)[1:]
    assert len(rows) == 10
    assert rows[0].startswith("*Client 11*") and rows[-1].startswith("*Client 02*")
    assert answer["blocks"][-1]["elements"][0]["text"] == "Showing the 10 newest of 14"


def test_client_search_by_name_email_or_phone(engine: Engine) -> None:
    fill(engine)
    assert [r.split("*")[1] for r in sections(ask(engine, "clients client 07"))[1:]] == ["Client 07"]
    assert [r.split("*")[1] for r in sections(ask(engine, "clients C3@EXAMPLE"))[1:]] == ["Client 03"]
    assert [r.split("*")[1] for r in sections(ask(engine, "clients 5550011"))[1:]] == ["Client 11"]


def test_like_wildcards_and_sql_in_the_search_are_just_text(engine: Engine) -> None:
    fill(engine)
    assert [r.split("*")[1] for r in sections(ask(engine, "clients 100%"))[1:]] == ["100% Clean_Co"]
    assert sections(ask(engine, "clients %"))[1:] == [sections(ask(engine, "clients 100%"))[1]]
    assert len(sections(ask(engine, "clients _"))) == 2  # only the name that really has an underscore
    answer = ask(engine, "clients '; DROP TABLE clients; --")
    assert answer["text"].startswith("No clients match")
    with unit_of_work(engine) as session:
        assert session.execute(select(func.count()).select_from(Client)).scalar_one() == 14


def test_names_are_escaped_for_mrkdwn(engine: Engine) -> None:
    fill(engine)
    rendered = json.dumps(ask(engine, "clients plumbing"))
    assert "<!channel>" not in rendered and "<@U999>" not in rendered
    assert "&lt;!channel&gt; &amp; &lt;@U999&gt; Plumbing" in rendered


@pytest.mark.parametrize(
    ("text", "expected_numbers"),
    [
        ("jobs late", [1008, 1004, 1000]),
        ("jobs closed", [1009, 1005, 1001]),
        ("jobs requires invoicing", [1011, 1007, 1003]),
        ("jobs #1005", [1005]),
        ("jobs 1005", [1005]),
        ("jobs title 1", [1011, 1010, 1001]),
        ("jobs client 04", [1004]),
    ],
)
def test_jobs_by_status_number_or_search(engine: Engine, text: str, expected_numbers: list[int]) -> None:
    fill(engine)
    rows = sections(ask(engine, text))[1:]
    assert [int(r.split("#")[1].split(" ")[0]) for r in rows] == expected_numbers


def test_jobs_show_client_status_and_total(engine: Engine) -> None:
    fill(engine)
    first = sections(ask(engine, "jobs"))[1]
    assert first == "*#1011 Job title 11* for Client 11\nrequires invoicing · $111.00"


@pytest.mark.parametrize(
    ("status", "numbers"),
    [
        ("paid", ["2008", "2004", "2000"]),
        ("overdue", ["2010", "2006", "2002"]),
        ("awaiting payment", ["2009", "2005", "2001"]),
    ],
)
def test_invoices_by_status(engine: Engine, status: str, numbers: list[str]) -> None:
    fill(engine)
    rows = sections(ask(engine, f"invoices {status}"))[1:]
    assert [r.split("#")[1].split("*")[0] for r in rows] == numbers


def test_unpaid_invoices_and_an_unknown_status(engine: Engine) -> None:
    fill(engine)
    unpaid = sections(ask(engine, "invoices unpaid"))[1:]
    assert len(unpaid) == 6 and not any(("\npaid" in r or "\ndraft" in r) for r in unpaid)
    assert "balance $" in unpaid[0]
    answer = ask(engine, "invoices <sometime>")
    assert "Unknown invoice status “&lt;sometime&gt;”." in sections(answer)[0]


@pytest.mark.parametrize("text", ["", "help", "frobnicate", "<!here>"])
def test_help_and_unknown_subcommands(engine: Engine, text: str) -> None:
    answer = ask(engine, text)
    body = json.dumps(answer)
    assert answer["response_type"] == "ephemeral" and "/jobber clients [search]" in body
    assert "<!here>" not in body
    if text not in ("", "help"):
        assert "Unknown command" in body


def test_an_empty_database_says_so(engine: Engine) -> None:
    assert ask(engine, "jobs")["text"] == "No jobs synced yet."


def test_parse_slacks_form_body() -> None:
    body = (
        b"token=x&team_id=T1&channel_id=C1&user_id=U1&command=%2Fjobber&text=jobs+++late"
        b"&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1%2F1%2Fabc&trigger_id=1.2.3"
    )
    command = parse_slash_command(body)
    assert (command.command, command.subcommand, command.argument) == ("/jobber", "jobs", "late")
    assert command.response_url == "https://hooks.slack.com/commands/T1/1/abc" and command.user_id == "U1"


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        ("https://hooks.slack.com/commands/T1DC2JH3J/397700885554/96rGlfmibIGlgcZRskXaIFfN", True),
        ("https://hooks.slack.com/actions/T1/2/abc", True),
        ("http://hooks.slack.com/commands/T1/2/abc", False),
        ("https://hooks.slack.com.evil.example/commands/T1/2/abc", False),
        ("https://evil.example/hooks.slack.com/commands/T1/2/abc", False),
        ("https://user@hooks.slack.com/commands/T1/2/abc", False),
        ("https://hooks.slack.com:8443/commands/T1/2/abc", False),
        ("https://hooks.slack.com/commands/T1/2/abc?x=1", False),
        ("https://hooks.slack.com/services/T1/B1/xyz", False),
        ("https://HOOKS.slack.com/commands/T1/2/abc", False),
        ("https://hooks.slack.com/commands/../../x", False),
    ],
)
def test_response_url_must_be_on_hooks_slack_com(url: str, ok: bool) -> None:
    assert is_slack_response_url(url) is ok
