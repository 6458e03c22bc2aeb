"""Opaque Jobber-style EncodedIds: standard base64 of ``gid://Jobber/<Type>/<int>``."""

from __future__ import annotations

import base64
import binascii


def encode_id(type_name: str, pk: int) -> str:
    return base64.b64encode(f"gid://Jobber/{type_name}/{pk}".encode()).decode("ascii")


def decode_id(encoded: object) -> tuple[str, int] | None:
    """Return (type, pk) for a well-formed id, else None (never raises)."""
    if not isinstance(encoded, str) or not encoded:
        return None
    try:
        raw = base64.b64decode(encoded.encode("ascii"), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeError, ValueError):
        return None
    parts = raw.split("/")
    if len(parts) != 5 or parts[0] != "gid:" or parts[2] != "Jobber":
        return None
    try:
        return parts[3], int(parts[4])
    except ValueError:
        return None


def encode_cursor(index: int) -> str:
    return base64.b64encode(f"cursor:{index}".encode()).decode("ascii")


def decode_cursor(cursor: str | None) -> int | None:
    if not cursor:
        return None
    try:
        raw = base64.b64decode(cursor.encode("ascii"), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeError, ValueError):
        return None
    if not raw.startswith("cursor:"):
        return None
    try:
        return int(raw[len("cursor:") :])
    except ValueError:
        return None
