"""How the admin page shows contact details: enough to recognise a customer, not enough to copy a number."""

from __future__ import annotations

import re

MASK = "•"


def mask_phone(number: str | None) -> str:
    """Every digit but the last two hidden: `+15551234567` -> `+•••••••••67`."""
    if not number:
        return ""
    digits = [c for c in number if c.isdigit()]
    if len(digits) <= 2:
        return MASK * len(digits)
    prefix = "+" if number.strip().startswith("+") else ""
    return prefix + MASK * (len(digits) - 2) + "".join(digits[-2:])


def mask_email(address: str | None) -> str:
    """The first letter and the domain: `jane.doe@example.com` -> `j•••@example.com`."""
    if not address:
        return ""
    local, at, domain = address.rpartition("@")
    if not at:
        return MASK * 3
    return (local[:1] or MASK) + MASK * 3 + "@" + domain


def mask_address(address: str | None, channel: str | None = None) -> str:
    """A phone number or an email address (told apart by the channel, else by an `@`)."""
    if not address:
        return ""
    if channel == "email" or (channel is None and "@" in address):
        return mask_email(address)
    return mask_phone(address)


# E.164 numbers (+ and 8-15 digits) and bare runs of 10-15 digits: what provider error messages quote.
# Shorter runs (error codes like 21610, job numbers, years) are left alone.
_PHONE_IN_TEXT = re.compile(r"\+\d{8,15}\b|(?<![\w+])\d{10,15}\b")


def mask_text(text: str | None) -> str | None:
    """Free text (a failure reason, a provider's error) with any phone number in it masked."""
    if not text:
        return text
    return _PHONE_IN_TEXT.sub(lambda match: mask_phone(match.group(0)), text)
