"""E.164 normalisation, masking, and SMS segment counts (GSM 03.38 / UCS-2)."""

from __future__ import annotations

import pytest

from tasks.phone import mask_phone, sms_segments, to_e164


@pytest.mark.parametrize("raw", ["(512) 555-0143", "+1 512-555-0143", "512.555.0143", " 5125550143 ", "1-512-555-0143"])
def test_us_numbers_as_people_type_them(raw: str) -> None:
    assert to_e164(raw) == "+15125550143"


def test_other_regions() -> None:
    assert to_e164("020 7946 0958", default_region="GB") == "+442079460958"
    assert to_e164("+44 20 7946 0958") == "+442079460958"


@pytest.mark.parametrize("raw", ["", "   ", "12345", "555-0143", "not a number", "+1 000 000 0000"])
def test_invalid_numbers_are_none(raw: str) -> None:
    assert to_e164(raw) is None


def test_mask_keeps_only_the_last_two_digits() -> None:
    assert mask_phone("+15125550143") == "+*********43"
    assert mask_phone("(512) 555-0143") == "(***) ***-**43"
    assert mask_phone(None) == "<none>"


def test_160_gsm_characters_are_one_segment_and_161_are_two() -> None:
    assert sms_segments("a" * 160) == (1, "GSM-7")
    assert sms_segments("a" * 161) == (2, "GSM-7")
    assert sms_segments("a" * 306) == (2, "GSM-7")
    assert sms_segments("a" * 307) == (3, "GSM-7")


def test_extension_characters_count_twice_and_are_never_split() -> None:
    assert sms_segments("€" * 80) == (1, "GSM-7")  # 160 septets
    assert sms_segments("€" * 80 + "a") == (2, "GSM-7")
    # 152 plain septets, then an escape pair that does not fit the first segment's last septet.
    assert sms_segments("a" * 152 + "{" + "a" * 152) == (3, "GSM-7")
    assert sms_segments("a" * 151 + "{" + "a" * 153) == (2, "GSM-7")


def test_gsm_accents_stay_gsm_but_other_characters_switch_to_ucs2() -> None:
    assert sms_segments("Hi José! ¿Qué tal? Año Ñ £5 @home, Müller") == (1, "GSM-7")
    assert sms_segments("Ñandú") == (1, "UCS-2")  # GSM has ù but not ú
    assert sms_segments("Thanks for choosing us ⭐") == (1, "UCS-2")
    assert sms_segments("It’s done") == (1, "UCS-2")  # a curly apostrophe is not GSM


def test_ucs2_limits_and_emoji_surrogate_pairs() -> None:
    assert sms_segments("ā" * 70) == (1, "UCS-2")
    assert sms_segments("ā" * 71) == (2, "UCS-2")
    assert sms_segments("ā" * 134) == (2, "UCS-2")
    assert sms_segments("ā" * 135) == (3, "UCS-2")
    assert sms_segments("😀" * 35) == (1, "UCS-2")  # each emoji is two UTF-16 units
    assert sms_segments("😀" * 36) == (2, "UCS-2")
    assert sms_segments("a" * 66 + "😀" + "a" * 66) == (3, "UCS-2")  # the pair is not split across segments


def test_a_real_review_request() -> None:
    text = (
        "Hi John! How was your Water Heater Installation with Mike? Leave us a review: https://g.page/r/abc "
        "Reply STOP to opt out."
    )
    assert sms_segments(text) == (1, "GSM-7")
    assert sms_segments(text + " 🙏") == (2, "UCS-2")


def test_empty_text_is_no_segment() -> None:
    assert sms_segments("") == (0, "GSM-7")
