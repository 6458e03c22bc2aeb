"""The local outbox: one file per idempotency key, a log line per message, read back by find_sent."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime
from pathlib import Path

from tasks.delivery.base import OutgoingMessage
from tasks.delivery.local import LOG_NAME, OutboxChannel


def sms(
    key: str = "1:initial", body: str = "Hi John! How was your Water Heater Installation with Mike?"
) -> OutgoingMessage:
    return OutgoingMessage(channel="sms", to="+15125550143", body=body, idempotency_key=key)


def test_a_message_is_written_as_json_and_logged(tmp_path: Path) -> None:
    outbox = OutboxChannel(root=tmp_path / "outbox")

    result = outbox.send(sms())

    files = list((tmp_path / "outbox").glob("*.json"))
    assert [f.name for f in files] == [outbox.path_for(sms()).name]
    record = json.loads(files[0].read_text())
    assert record["to"] == "+15125550143"
    assert record["body"].startswith("Hi John!")
    assert record["segments"] == 1 and record["encoding"] == "GSM-7"
    assert record["id"] == result.provider_message_id
    log = (tmp_path / "outbox" / LOG_NAME).read_text().splitlines()
    assert len(log) == 1 and json.loads(log[0])["id"] == result.provider_message_id
    assert (result.provider, result.status) == ("outbox", "sent")


def test_the_same_key_is_written_once(tmp_path: Path) -> None:
    outbox = OutboxChannel(root=tmp_path)
    first = outbox.send(sms())
    again = outbox.send(sms(body="a changed body"))
    other = outbox.send(sms(key="1:follow_up_1"))

    assert first == again != other
    assert len(outbox.messages()) == 2
    assert len((tmp_path / LOG_NAME).read_text().splitlines()) == 2
    assert json.loads(outbox.path_for(sms()).read_text())["body"].startswith("Hi John!")


def test_concurrent_sends_of_one_key_write_once(tmp_path: Path) -> None:
    outbox = OutboxChannel(root=tmp_path)
    results = []
    barrier = threading.Barrier(8)

    def send() -> None:
        barrier.wait()
        results.append(outbox.send(sms()))

    threads = [threading.Thread(target=send) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len({r.provider_message_id for r in results}) == 1
    assert len((tmp_path / LOG_NAME).read_text().splitlines()) == 1
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".tmp")] == []


def test_find_sent_reads_the_outbox_back(tmp_path: Path) -> None:
    outbox = OutboxChannel(root=tmp_path)
    assert outbox.find_sent(sms(), since=datetime.now(UTC)) is None
    sent = outbox.send(sms())
    assert outbox.find_sent(sms(), since=datetime.now(UTC)) == sent
    # Another instance over the same folder (a restarted worker) sees it too.
    assert OutboxChannel(root=tmp_path).find_sent(sms(), since=datetime.now(UTC)) == sent


def test_email_keeps_subject_html_and_unsubscribe(tmp_path: Path) -> None:
    outbox = OutboxChannel(root=tmp_path)
    message = OutgoingMessage(
        channel="email",
        to="john@example.com",
        body="text",
        html="<p>html</p>",
        subject="How did we do?",
        idempotency_key="5:initial",
        unsubscribe_url="https://x.example/u/1",
        metadata={"job": "J-5"},
    )
    outbox.send(message)

    [record] = outbox.messages()
    assert record["subject"] == "How did we do?"
    assert record["html"] == "<p>html</p>"
    assert record["unsubscribe_url"] == "https://x.example/u/1"
    assert record["metadata"] == {"job": "J-5"}
    assert "segments" not in record
