"""Time zones for recipients without an address: the phone number's region."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tasks.reviews.rules.timezones import zone_for_phone

SUMMER = datetime(2026, 6, 2, 9, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("phone", "zone"),
    [
        ("+14155550100", "America/Los_Angeles"),
        ("(512) 555-0142", "America/Chicago"),
        ("+12085550100", "America/Boise"),  # Boise and Los Angeles: the eastern one, so 21:00 is never passed
        ("+18005550100", None),  # toll-free: no region
        ("+447911123456", "Europe/London"),
        ("not a number", None),
    ],
)
def test_zone_for_phone(phone: str, zone: str | None) -> None:
    assert zone_for_phone(phone, at=SUMMER) == zone
