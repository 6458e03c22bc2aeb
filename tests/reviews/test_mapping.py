"""Jobber nodes -> the guide's fields; missing data never crashes; time zones from addresses."""

from __future__ import annotations

import pytest

from tasks.reviews.rules.mapping import context_from_invoice, context_from_job
from tasks.reviews.rules.timezones import zone_for_region
from tests.reviews.conftest import job_node


def test_john_smiths_job_maps_to_the_guides_fields() -> None:
    c = context_from_job(job_node())
    assert (c.job_number, c.job_title, c.job_status) == (1042, "Water Heater Installation", "archived")
    assert (c.client_name, c.client_first_name, c.short_client_name) == ("John Smith", "John", "John S.")
    assert (c.phone, c.sms_allowed, c.email) == ("+15125550142", True, "john.smith@example.com")
    assert c.technicians == ("Mike",)
    assert c.timezone == "America/Chicago"
    assert c.property_address == "4821 Barton Springs Rd, Austin, TX 78704"


def test_a_job_with_nothing_but_an_id_still_maps() -> None:
    c = context_from_job({"id": "j1", "client": None, "property": None, "visits": None})
    assert (c.job_id, c.client_first_name, c.phone, c.email, c.technicians, c.timezone) == (
        "j1", None, None, None, (), None,
    )  # fmt: skip
    assert c.label() == "job j1"


def test_the_sms_allowed_phone_is_preferred_over_the_primary_one() -> None:
    phones = [
        {"number": "512-555-0100", "primary": True, "smsAllowed": False},
        {"number": "(512) 555-0199", "primary": False, "smsAllowed": True},
    ]
    c = context_from_job(job_node(client_phones=phones))
    assert (c.phone, c.sms_allowed) == ("+15125550199", True)


def test_a_company_client_without_a_first_name_gets_the_fallback_greeting() -> None:
    c = context_from_job(job_node(client_firstName="", client_isCompany=True, client_name="Acme Condos"))
    assert c.client_first_name is None


def test_an_invoice_maps_through_its_first_job_and_an_invoice_without_a_job_keys_on_itself() -> None:
    invoice = {
        "id": "inv-1",
        "invoiceNumber": "2001",
        "invoiceStatus": "paid",
        "amounts": {"total": 2002.63},
        "client": job_node()["client"],
        "jobs": {"nodes": [job_node()]},
    }
    c = context_from_invoice(invoice)
    assert (c.job_id, c.invoice_total, c.invoice_status, c.total) == (
        "Z2lkOi8vSm9iYmVyL0pvYi8x",
        2002.63,
        "paid",
        2002.63,
    )
    lonely = context_from_invoice({**invoice, "jobs": {"nodes": []}})
    assert lonely.job_id == "invoice:inv-1" and lonely.phone == "+15125550142"


@pytest.mark.parametrize(
    "province,country,zone",
    [
        ("TX", "United States", "America/Chicago"),
        ("Texas", "USA", "America/Chicago"),
        ("NY", "US", "America/New_York"),
        ("AZ", "United States", "America/Phoenix"),
        ("ON", "Canada", "America/Toronto"),
        ("British Columbia", "CA", "America/Vancouver"),
        ("NL", "Canada", "America/St_Johns"),
        ("HI", None, "Pacific/Honolulu"),
        ("NS", "", "America/Halifax"),
        ("Bavaria", "Germany", None),
        (None, "United States", None),
    ],
)
def test_zone_from_state_or_province(province: str | None, country: str | None, zone: str | None) -> None:
    assert zone_for_region(province, country) == zone


def test_a_blank_primary_email_gives_way_to_the_next_address() -> None:
    """Jobber can hold an email entry whose address is only spaces: the customer still gets the email
    at the address that is there, as before the typed reading."""
    emails = [
        {"address": "   ", "primary": True},
        {"address": "jane@example.com", "primary": False},
    ]
    assert context_from_job(job_node(client_emails=emails)).email == "jane@example.com"
