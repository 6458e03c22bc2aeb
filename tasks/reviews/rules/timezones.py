"""A recipient's time zone from a postal address: state or province + country -> IANA zone.

Jobber's PropertyAddress has no time zone, so a small table does it for the US and Canada. A state that
spans two zones maps to the zone most of its people live in (Texas -> Central, Florida -> Eastern,
Indiana -> Eastern); a wrong guess near a zone border shifts a message by one hour, still inside lawful
hours with the default 21:00-09:00 quiet window. Anything else (another country, no address) falls back
to the business's zone.

`zone_for_phone` is the last resort when neither an address nor the business gives a zone (a Make.com
request with a phone number only): the area code's region, from phonenumbers' geographic data.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from phonenumbers import timezone as phone_timezones

US_STATES: dict[str, str] = {
    "AL": "America/Chicago", "AK": "America/Anchorage", "AZ": "America/Phoenix", "AR": "America/Chicago",
    "CA": "America/Los_Angeles", "CO": "America/Denver", "CT": "America/New_York", "DE": "America/New_York",
    "DC": "America/New_York", "FL": "America/New_York", "GA": "America/New_York", "HI": "Pacific/Honolulu",
    "ID": "America/Boise", "IL": "America/Chicago", "IN": "America/Indiana/Indianapolis", "IA": "America/Chicago",
    "KS": "America/Chicago", "KY": "America/New_York", "LA": "America/Chicago", "ME": "America/New_York",
    "MD": "America/New_York", "MA": "America/New_York", "MI": "America/Detroit", "MN": "America/Chicago",
    "MS": "America/Chicago", "MO": "America/Chicago", "MT": "America/Denver", "NE": "America/Chicago",
    "NV": "America/Los_Angeles", "NH": "America/New_York", "NJ": "America/New_York", "NM": "America/Denver",
    "NY": "America/New_York", "NC": "America/New_York", "ND": "America/Chicago", "OH": "America/New_York",
    "OK": "America/Chicago", "OR": "America/Los_Angeles", "PA": "America/New_York", "RI": "America/New_York",
    "SC": "America/New_York", "SD": "America/Chicago", "TN": "America/Chicago", "TX": "America/Chicago",
    "UT": "America/Denver", "VT": "America/New_York", "VA": "America/New_York", "WA": "America/Los_Angeles",
    "WV": "America/New_York", "WI": "America/Chicago", "WY": "America/Denver", "PR": "America/Puerto_Rico",
    "GU": "Pacific/Guam", "VI": "America/St_Thomas", "AS": "Pacific/Pago_Pago", "MP": "Pacific/Saipan",
}  # fmt: skip

US_STATE_NAMES: dict[str, str] = {
    "ALABAMA": "AL", "ALASKA": "AK", "ARIZONA": "AZ", "ARKANSAS": "AR", "CALIFORNIA": "CA", "COLORADO": "CO",
    "CONNECTICUT": "CT", "DELAWARE": "DE", "DISTRICT OF COLUMBIA": "DC", "FLORIDA": "FL", "GEORGIA": "GA",
    "HAWAII": "HI", "IDAHO": "ID", "ILLINOIS": "IL", "INDIANA": "IN", "IOWA": "IA", "KANSAS": "KS",
    "KENTUCKY": "KY", "LOUISIANA": "LA", "MAINE": "ME", "MARYLAND": "MD", "MASSACHUSETTS": "MA", "MICHIGAN": "MI",
    "MINNESOTA": "MN", "MISSISSIPPI": "MS", "MISSOURI": "MO", "MONTANA": "MT", "NEBRASKA": "NE", "NEVADA": "NV",
    "NEW HAMPSHIRE": "NH", "NEW JERSEY": "NJ", "NEW MEXICO": "NM", "NEW YORK": "NY", "NORTH CAROLINA": "NC",
    "NORTH DAKOTA": "ND", "OHIO": "OH", "OKLAHOMA": "OK", "OREGON": "OR", "PENNSYLVANIA": "PA",
    "RHODE ISLAND": "RI", "SOUTH CAROLINA": "SC", "SOUTH DAKOTA": "SD", "TENNESSEE": "TN", "TEXAS": "TX",
    "UTAH": "UT", "VERMONT": "VT", "VIRGINIA": "VA", "WASHINGTON": "WA", "WEST VIRGINIA": "WV",
    "WISCONSIN": "WI", "WYOMING": "WY", "PUERTO RICO": "PR", "GUAM": "GU",
}  # fmt: skip

CA_PROVINCES: dict[str, str] = {
    "AB": "America/Edmonton", "BC": "America/Vancouver", "MB": "America/Winnipeg", "NB": "America/Moncton",
    "NL": "America/St_Johns", "NS": "America/Halifax", "NT": "America/Yellowknife", "NU": "America/Iqaluit",
    "ON": "America/Toronto", "PE": "America/Halifax", "QC": "America/Toronto", "SK": "America/Regina",
    "YT": "America/Whitehorse",
}  # fmt: skip

CA_PROVINCE_NAMES: dict[str, str] = {
    "ALBERTA": "AB", "BRITISH COLUMBIA": "BC", "MANITOBA": "MB", "NEW BRUNSWICK": "NB",
    "NEWFOUNDLAND AND LABRADOR": "NL", "NEWFOUNDLAND": "NL", "NOVA SCOTIA": "NS", "NORTHWEST TERRITORIES": "NT",
    "NUNAVUT": "NU", "ONTARIO": "ON", "PRINCE EDWARD ISLAND": "PE", "QUEBEC": "QC", "QUÉBEC": "QC",
    "SASKATCHEWAN": "SK", "YUKON": "YT",
}  # fmt: skip

_US = {"US", "USA", "U.S.", "U.S.A.", "UNITED STATES", "UNITED STATES OF AMERICA", "AMERICA"}
_CA = {"CA", "CAN", "CANADA"}


def zone_for_region(province: str | None, country: str | None) -> str | None:
    """The IANA zone for a US state / Canadian province (code or name), or None when unknown.

    With no country, a code that is only a US state or only a Canadian province is still recognised.
    """
    if not province:
        return None
    region = province.strip().upper().rstrip(".")
    nation = (country or "").strip().upper()
    us_code = region if region in US_STATES else US_STATE_NAMES.get(region)
    ca_code = region if region in CA_PROVINCES else CA_PROVINCE_NAMES.get(region)
    if nation in _US:
        return US_STATES[us_code] if us_code else None
    if nation in _CA:
        return CA_PROVINCES[ca_code] if ca_code else None
    if nation:
        return None
    if us_code and not ca_code:
        return US_STATES[us_code]
    if ca_code and not us_code:
        return CA_PROVINCES[ca_code]
    return None


def valid_zone(name: str | None) -> str | None:
    """`name` when it is a known IANA zone, else None."""
    if not name:
        return None
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None
    return name


# Candidate zones of one number further apart than this say nothing useful (toll-free, non-geographic).
_PHONE_ZONE_SPREAD = timedelta(hours=1)


def zone_for_phone(phone: str | None, *, at: datetime | None = None) -> str | None:
    """The IANA zone of a phone number's region (a (415) number -> America/Los_Angeles), or None.

    An area code can span two zones (208: America/Boise and America/Los_Angeles); within an hour of each
    other, the zone furthest east is taken: its quiet hours start first, so 21:00 is never passed anywhere
    in the region, and its morning end is at most an hour early elsewhere (08:00, still lawful with the
    default 21:00-09:00 window). Zones further apart (toll-free, non-geographic numbers) give None.
    """
    if not phone:
        return None
    try:
        number = phonenumbers.parse(phone, "US")
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    moment = at or datetime.now(UTC)
    offsets: list[tuple[timedelta, str]] = []
    for name in phone_timezones.time_zones_for_number(number):
        if valid_zone(name) is None:
            continue
        offset = moment.astimezone(ZoneInfo(name)).utcoffset()
        if offset is not None:
            offsets.append((offset, name))
    if not offsets:
        return None
    lowest, highest = min(offsets), max(offsets)
    if highest[0] - lowest[0] > _PHONE_ZONE_SPREAD:
        return None
    return highest[1]
