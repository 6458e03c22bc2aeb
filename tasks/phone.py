"""Phone numbers and SMS lengths: E.164 normalisation, masking for logs, and GSM 03.38 segment counts.

Plain functions of a string, on the lowest floor of ``tasks/``: the store (opt-outs), delivery (Twilio,
the local outbox), reviews and the gateway all read phone numbers the same way.
"""

from __future__ import annotations

from typing import Literal

import phonenumbers

Encoding = Literal["GSM-7", "UCS-2"]

# GSM 03.38 default alphabet (one septet each) and its extension table (escape + character: two septets).
GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = frozenset("\f^{}\\[~]|€")

GSM7_SINGLE, GSM7_CONCATENATED = 160, 153  # septets per segment (a concatenated one loses 7 to its header)
UCS2_SINGLE, UCS2_CONCATENATED = 70, 67  # UTF-16 code units per segment


def to_e164(raw: str, default_region: str = "US") -> str | None:
    """`raw` as an E.164 number ("+15125550143"), or None when it is not a valid number.

    Accepts what people type: "(512) 555-0143", "+1 512-555-0143", "512.555.0143". Numbers without a
    country code are read in `default_region`.
    """
    if not raw or not raw.strip():
        return None
    try:
        number = phonenumbers.parse(raw.strip(), default_region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def mask_phone(number: str | None) -> str:
    """A number fit for logs: every digit but the last two replaced ("+1*******43")."""
    if not number:
        return "<none>"
    digits_seen = 0
    total_digits = sum(ch.isdigit() for ch in number)
    masked = []
    for ch in number:
        if ch.isdigit():
            digits_seen += 1
            masked.append(ch if digits_seen > total_digits - 2 else "*")
        else:
            masked.append(ch)
    return "".join(masked)


def is_gsm7(text: str) -> bool:
    """True when every character of `text` is in the GSM 03.38 alphabet (basic or extension table)."""
    return all(ch in GSM7_BASIC or ch in GSM7_EXTENSION for ch in text)


def _pack(units: list[int], single: int, concatenated: int) -> int:
    """Segments needed for characters of the given sizes, never splitting one character across two."""
    total = sum(units)
    if total <= single:
        return 1 if total else 0
    segments, used = 1, 0
    for size in units:
        if used + size > concatenated:
            segments, used = segments + 1, 0
        used += size
    return segments


def sms_segments(text: str) -> tuple[int, Encoding]:
    """How many SMS segments `text` costs, and the encoding a carrier will use.

    GSM-7 when every character is in the GSM 03.38 alphabet (extension-table characters such as `€`, `{`,
    `[` count twice): 160 septets in one segment, 153 per segment when concatenated. Anything else (an
    emoji, a curly quote, most accented capitals) makes the whole message UCS-2: 70 UTF-16 code units in
    one segment, 67 per segment when concatenated (an emoji outside the BMP takes two). An escape pair
    or a surrogate pair is never split across segments. An empty text is 0 segments.
    """
    if is_gsm7(text):
        return _pack([2 if ch in GSM7_EXTENSION else 1 for ch in text], GSM7_SINGLE, GSM7_CONCATENATED), "GSM-7"
    units = [len(ch.encode("utf-16-le")) // 2 for ch in text]
    return _pack(units, UCS2_SINGLE, UCS2_CONCATENATED), "UCS-2"
