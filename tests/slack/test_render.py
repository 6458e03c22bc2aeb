"""Rendering is pure: each kind's template makes valid Block Kit that says what happened, and names from
Jobber can never inject mentions or links."""

from __future__ import annotations

import json

import pytest

from tasks.errors import RenderError
from tasks.slack.context import client_context, invoice_context, job_context, quote_context
from tasks.slack.mrkdwn import escape, link, money, slack_date
from tasks.slack.render import SlackMessage, render_message

from .builders import client_node, invoice_node, job_node, quote_node


def _all_text(message: SlackMessage) -> str:
    return message.text + json.dumps(message.blocks, ensure_ascii=False)


def test_job_closed_names_the_job_the_client_and_who_did_it() -> None:
    message = render_message("job_closed", {"job": job_context(job_node())})
    text = _all_text(message)
    assert message.text == "Job #1042 closed: Water Heater Installation for John Smith"
    assert "<https://secure.getjobber.com/work_orders/1|#1042 Water Heater Installation>" in text
    assert "Mike Thompson" in text and "$1,850.00" in text and "4821 Barton Springs Rd, Austin" in text
    assert "<!date^" in text  # shown in each reader's own time zone


@pytest.mark.parametrize(
    ("kind", "context", "expected"),
    [
        ("client_created", {"client": client_context(client_node())}, "New client: Ada Lovelace"),
        (
            "invoice_created",
            {"invoice": invoice_context(invoice_node())},
            "New invoice #2002 for Diego Hernandez: $405.71",
        ),
        (
            "invoice_paid",
            {"invoice": invoice_context(invoice_node())},
            "Invoice #2002 paid by Diego Hernandez: $405.71",
        ),
        ("quote_approved", {"quote": quote_context(quote_node())}, "Quote #302 approved by Jacob Jackson: $707.93"),
    ],
)
def test_every_kind_renders_block_kit(kind: str, context: dict[str, object], expected: str) -> None:
    message = render_message(kind, context)
    assert message.text == expected
    assert message.blocks[0]["type"] == "section"
    for block in message.blocks:
        assert block["type"] in ("section", "context", "divider")
        for f in block.get("fields", []):
            assert f["type"] == "mrkdwn" and f["text"]


def test_names_cannot_inject_mentions_or_links() -> None:
    node = job_node(title="<!channel> Pipes & <https://evil.example|click>", client={"id": "c", "name": "<@U123>"})
    message = render_message("job_closed", {"job": job_context(node)})
    text = _all_text(message)
    assert "<!channel>" not in text and "<@U123>" not in text and "<https://evil.example" not in text
    assert "&lt;!channel&gt; Pipes &amp; &lt;https://evil.example¦click&gt;" in text
    assert "&lt;@U123&gt;" in message.text


def test_a_non_https_jobber_link_is_not_linked() -> None:
    message = render_message("job_closed", {"job": job_context(job_node(jobberWebUri="javascript:alert(1)"))})
    assert "javascript:" not in _all_text(message)


def test_missing_optional_fields_drop_out_instead_of_rendering_blanks() -> None:
    node = client_node(emails=[], phones=[], billingAddress=None, createdAt=None)
    message = render_message("client_created", {"client": client_context(node)})
    assert [b["type"] for b in message.blocks] == ["section", "context"]
    assert "*Email*" not in _all_text(message)


def test_a_template_typo_fails_loudly() -> None:
    with pytest.raises(Exception, match="undefined"):
        render_message("job_closed", {"jb": {}})


def test_a_template_that_is_not_json_is_refused(tmp_path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "job_closed.json.j2").write_text("not json {{ job.title }}")
    with pytest.raises(RenderError, match="valid JSON"):
        render_message("job_closed", {"job": {"title": "x"}}, templates_dir=tmp_path)


def test_payload_round_trip() -> None:
    message = render_message("quote_approved", {"quote": quote_context(quote_node())})
    assert SlackMessage.from_payload(json.loads(json.dumps(message.as_payload()))) == message


def test_mrkdwn_helpers() -> None:
    assert escape("A & B <x>") == "A &amp; B &lt;x&gt;"
    assert link("https://x.example/a", "a|b") == "<https://x.example/a|a¦b>"
    assert link("http://x.example/a", "label") == "label"
    assert money(1234.5) == "$1,234.50" and money(None) == "" and money(-3) == "-$3.00"
    assert slack_date("2026-12-01T23:11:31Z") == "<!date^1796166691^{date_short_pretty}|Dec 1, 2026>"
    assert slack_date(None) == ""
