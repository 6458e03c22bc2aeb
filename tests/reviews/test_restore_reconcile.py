"""Issue 10, item 16: restoring a backup never re-sends a message sent after the snapshot. Requests planned
before the restore are reconciled with the provider (official Twilio SDK against the local stand-in)
before any send."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select

from tasks.reviews.decision import Decision
from tasks.reviews.rules.mapping import context_from_job
from tasks.reviews.usecases.plan import plan_request
from tasks.reviews.usecases.send import dispatch_due
from tasks.store.backup import create_backup, restore_backup
from tasks.store.db import dispose_engines, get_engine, unit_of_work
from tasks.store.models import Delivery, RestoreMark, ReviewRequest
from tests.delivery.fake_twilio import FakeTwilio
from tests.reviews.conftest import BRANDING, NOW, job_node, review_settings, twilio_channels


def plan(engine: Engine, job_id: str = "Z2lkOi8vSm9iYmVyL0pvYi8x", **node: Any) -> Decision:
    return plan_request(
        engine,
        context=context_from_job(job_node(id=job_id, **node)),
        settings=review_settings(channels="sms"),
        branding=BRANDING,
        account_key="default",
        trigger_item_id=job_id,
        trigger_at=NOW,
        source="webhook",
        now=NOW,
    )


def test_a_restored_snapshot_does_not_resend_what_went_out_after_it(
    db_url: str, engine: Engine, twilio: FakeTwilio, tmp_path: Path
) -> None:
    plan(engine)
    manifest = create_backup(database_url=db_url, backup_dir=tmp_path / "backups")
    channels = twilio_channels(twilio)
    assert [d.status for d in dispatch_due(engine, channels=channels, jobber=None, now=lambda: NOW).decisions] == [
        "sent"
    ]
    assert len(twilio.messages) == 1

    # Disaster: the database is lost and restored from the snapshot, which still has the request planned.
    target = f"sqlite:///{tmp_path / 'restored.db'}"
    restore_backup(manifest.path, database_url=target)
    restored = get_engine(target)
    with unit_of_work(restored) as session:
        assert session.scalars(select(ReviewRequest.status)).one() == "planned"
        assert session.scalars(select(RestoreMark)).one().last_request_id >= 1

    # A request planned after the restore is not held up by it.
    second = plan(
        restored,
        job_id="Z2lkOi8vSm9iYmVyL0pvYi8y",
        jobNumber=1043,
        client_id="client-2",
        client_firstName="Ana",
        client_emails=[{"address": "ana@example.com", "primary": True}],
        client_phones=[{"number": "+1 512-555-0199", "primary": True, "smsAllowed": True}],
    )
    assert second.status == "planned", second
    later = NOW + timedelta(minutes=1)
    decisions = dispatch_due(restored, channels=channels, jobber=None, now=lambda: later).decisions
    assert sorted(d.status for d in decisions) == ["sent", "sent"]
    posts = [form for method, _, form in twilio.requests if method == "POST"]
    assert len(posts) == 2, "the restored request was reconciled with Twilio, not sent twice"
    assert len(twilio.messages) == 2 and twilio.messages[1]["to"] == "+15125550199"
    with unit_of_work(restored) as session:
        sids = set(session.scalars(select(Delivery.provider_message_id)))
        assert sids == {m["sid"] for m in twilio.messages}
    dispose_engines()
