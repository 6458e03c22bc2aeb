"""ReviewSettings: defaults, and clear errors naming the field."""

from __future__ import annotations

from datetime import time
from pathlib import Path

import pytest
from pydantic import ValidationError

from tasks.reviews.settings import ReviewSettings, format_validation_error


def test_defaults_are_the_documented_ones() -> None:
    s = ReviewSettings(review_link="https://g.page/r/x/review")
    assert (s.trigger, s.channels, s.delay_minutes, s.cooldown_days) == ("job_closed", "sms_then_email", 120, 180)
    assert (s.quiet_hours_start, s.quiet_hours_end) == (time(21), time(9))
    assert (s.follow_ups, s.follow_up_after_days, s.exclude_tag, s.dry_run) == (1, 3, "no-review", False)


@pytest.mark.parametrize(
    "changes,field",
    [
        ({}, "review_link"),
        ({"review_link": "g.page/r/x"}, "review_link"),
        ({"review_link": "javascript:alert(1)"}, "review_link"),
        ({"trigger": "job_complete"}, "trigger"),
        ({"channels": "fax"}, "channels"),
        ({"follow_ups": 3}, "follow_ups"),
        ({"delay_minutes": -1}, "delay_minutes"),
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"sender": "5125550100"}, "sender"),
        ({"email_from": "not-an-address"}, "email_from"),
        ({"sms_template": "../../etc/passwd"}, "sms_template"),
        ({"templates_dir": "/does/not/exist"}, "templates_dir"),
        ({"quiet_hours_start": "09:00", "quiet_hours_end": "09:00"}, "quiet_hours"),
        ({"unknown_option": 1}, "unknown_option"),
    ],
)
def test_invalid_settings_name_the_field(changes: dict[str, object], field: str) -> None:
    values: dict[str, object] = {"review_link": "https://g.page/r/x/review", **changes}
    if "review_link" in changes or not changes:
        values = {k: v for k, v in values.items() if k != "review_link" or changes}
    with pytest.raises(ValidationError) as caught:
        ReviewSettings(**values)  # type: ignore[arg-type]
    assert field in format_validation_error(caught.value)


def test_sender_accepts_a_number_or_a_messaging_service(tmp_path: Path) -> None:
    base = {"review_link": "https://g.page/r/x/review", "templates_dir": str(tmp_path)}
    assert ReviewSettings(**base, sender="+15125550100").sender == "+15125550100"  # type: ignore[arg-type]
    sid = "MG" + "a" * 32
    assert ReviewSettings(**base, sender=sid).sender == sid  # type: ignore[arg-type]
    assert ReviewSettings(**base, email_from="Evergreen <reviews@example.com>").email_from  # type: ignore[arg-type]


def test_settings_round_trip_as_deployment_parameters() -> None:
    s = ReviewSettings(review_link="https://g.page/r/x/review", trigger="invoice_paid", channels="both")
    assert ReviewSettings.model_validate(s.model_dump(mode="json")) == s


def test_the_cli_reads_settings_from_a_yaml_file_with_overrides(tmp_path: Path) -> None:
    from tasks.reviews.cli import load_review_settings

    path = tmp_path / "reviews.yaml"
    path.write_text("settings:\n  review_link: https://g.page/r/x/review\n  trigger: invoice_paid\n")
    loaded = load_review_settings(path, overrides={"channels": "email"})
    assert (loaded.trigger, loaded.channels) == ("invoice_paid", "email")
