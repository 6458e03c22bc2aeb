"""Opt-outs and inbound SMS. Keyword-only functions that take the caller's session.

What an inbound reply or a delivery receipt changes on a review request or its delivery is written by
the review ledger (tasks/reviews/ledger.py: `record_inbound`, `record_receipt`).

Addresses are stored normalised: SMS numbers in E.164 ("+15125550143"), email addresses lower-case, so a
number typed "(512) 555-0143" in Jobber and "+15125550143" from Twilio are the same suppression.
"""

from __future__ import annotations

import unicodedata
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from tasks.phone import to_e164
from tasks.store.models import InboundMessage, Suppression, utcnow

InboundAction = Literal["opt_out", "opt_in", "help", "reply"]

# The keyword families: what carriers and Twilio's Advanced Opt-Out honour, plus the words the FCC's 2025
# revocation rule names ("opt out", "revoke"). Matched on the normalised message (see `classify_inbound`).
OPT_OUT_KEYWORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"})
OPT_IN_KEYWORDS = frozenset({"START", "YES", "UNSTOP", "OPTIN"})
HELP_KEYWORDS = frozenset({"HELP", "INFO"})

# Keywords people spell as two words ("OPT OUT", "opt-out", "Stop all").
_TWO_WORD_KEYWORDS = {("opt", "out"): "optout", ("opt", "in"): "optin", ("stop", "all"): "stopall"}
# What may follow an opt-out or HELP keyword without making the message a conversation: at most
# `_MAX_TAIL_WORDS` of these words (or keywords of the same family). "STOP please", "Stop texting me",
# "OPT OUT now" are keyword messages; "End of story, great job" and "Cancel my appointment" are replies.
_MAX_TAIL_WORDS = 3
_TAIL_WORDS = frozenset(
    {"please", "pls", "plz", "now", "thanks", "thank", "you", "thx", "ty", "asap", "it", "me", "us", "all"}
    | {"texting", "texts", "text", "messages", "message", "msgs", "sms"}
)


def normalize_address(*, channel: str, address: str) -> str:
    """The stored form of an address: E.164 for SMS (the raw text when it is not a valid number), lower-case
    email."""
    address = address.strip()
    if channel == "sms":
        return to_e164(address) or address
    return address.lower()


def normalize_keyword_text(body: str) -> str:
    """An inbound SMS as keyword matching sees it: NFKC (full-width "ＳＴＯＰ" is "STOP"), case-folded,
    punctuation, symbols and emoji ("STOP 🛑", "opt-out", "Stop.") turned into spaces, invisible format
    characters and combining marks dropped, runs of spaces collapsed."""
    text = unicodedata.normalize("NFKC", body).casefold()
    out: list[str] = []
    for ch in text:
        category = unicodedata.category(ch)
        if category[0] in "LN":
            out.append(ch)
        elif category in ("Cf", "Mn", "Me"):  # zero-width joiners, variation selectors, stray accents
            continue
        else:  # spaces, punctuation (hyphens too), symbols, emoji, controls
            out.append(" ")
    return " ".join("".join(out).split())


def _action_of(word: str) -> InboundAction | None:
    upper = word.upper()
    if upper in OPT_OUT_KEYWORDS:
        return "opt_out"
    if upper in OPT_IN_KEYWORDS:
        return "opt_in"
    if upper in HELP_KEYWORDS:
        return "help"
    return None


def classify_inbound(body: str) -> InboundAction:
    """What an inbound SMS asks for: "opt_out" (STOP, STOPALL, UNSUBSCRIBE, CANCEL, END, QUIT, REVOKE,
    OPTOUT / OPT OUT / OPT-OUT), "opt_in" (START, UNSTOP, YES, OPTIN / OPT IN), "help" (HELP, INFO) or
    "reply" (anything else).

    The rule, on the normalised text (`normalize_keyword_text`: any case, full-width letters, punctuation,
    hyphens and emoji do not matter): the message must START with the keyword. An opt-out or HELP keyword
    may be followed by a short tail, at most three words of courtesy or emphasis ("please", "now",
    "thanks", "me", "texting", ..., or the keyword again): "STOP please", "stop texting me", "OPT-OUT 🛑"
    count. Anything longer or different is a reply, so "please stop by tomorrow", "End of story, great
    job!" and "Cancel my appointment" stay conversations (a reply still stops the request's follow-ups).
    Opt-in takes no tail: "Yes thank you" answering a review request must not re-subscribe anyone.
    """
    words = normalize_keyword_text(body).split()
    if not words:
        return "reply"
    if len(words) >= 2 and (words[0], words[1]) in _TWO_WORD_KEYWORDS:
        keyword, tail = _TWO_WORD_KEYWORDS[(words[0], words[1])], words[2:]
    else:
        keyword, tail = words[0], words[1:]
    action = _action_of(keyword)
    if action is None:
        return "reply"
    if not tail:
        return action
    if action == "opt_in" or len(tail) > _MAX_TAIL_WORDS:
        return "reply"
    if all(word in _TAIL_WORDS or _action_of(word) == action for word in tail):
        return action
    return "reply"


def _insert_ignoring_conflict(session: Session, model: type[Any], values: dict[str, Any]) -> bool:
    """INSERT ... ON CONFLICT DO NOTHING (SQLite and PostgreSQL); True when a row was inserted."""
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    primary_key = model.__table__.primary_key.columns.values()[0]
    # RETURNING rather than rowcount: drivers disagree on the rowcount of a skipped insert.
    inserted = session.execute(insert(model).values(**values).on_conflict_do_nothing().returning(primary_key))
    return inserted.first() is not None


def suppress(session: Session, *, channel: str, address: str, reason: str, source: str | None = None) -> bool:
    """Never message this address on this channel again (until `unsuppress`). True when newly suppressed;
    an existing suppression keeps its first reason."""
    return _insert_ignoring_conflict(
        session,
        Suppression,
        {
            "channel": channel,
            "address": normalize_address(channel=channel, address=address),
            "reason": reason,
            "source": source,
            "created_at": utcnow(),
        },
    )


def unsuppress(session: Session, *, channel: str, address: str) -> bool:
    """Allow this address again (an SMS START). True when a suppression was removed."""
    row = session.get(Suppression, (channel, normalize_address(channel=channel, address=address)))
    if row is None:
        return False
    session.delete(row)
    session.flush()
    return True


def is_suppressed(session: Session, *, channel: str, address: str) -> bool:
    """True when the address must not be messaged on this channel."""
    key = (channel, normalize_address(channel=channel, address=address))
    return session.get(Suppression, key) is not None


def suppression_for(session: Session, *, channel: str, address: str) -> Suppression | None:
    """The suppression row (reason, source, when), or None."""
    return session.get(Suppression, (channel, normalize_address(channel=channel, address=address)))


def record_inbound(
    session: Session, *, message_sid: str | None, from_number: str, to_number: str | None, body: str
) -> tuple[InboundAction, bool]:
    """Record an inbound SMS and apply its opt-out or opt-in in the same transaction: (action, True), or
    (the first recording's action, False) for a MessageSid seen before, which is recorded and acted on once.

    opt_out suppresses the number for SMS, opt_in lifts that. A reply changes nothing here: the review
    ledger (`tasks.reviews.ledger.record_inbound`) marks the request it answers when this says it is new.
    """
    action = classify_inbound(body)
    values = {
        "message_sid": message_sid,
        "from_number": from_number.strip(),
        "to_number": to_number.strip() if to_number else None,
        "body": body,
        "action": action,
        "received_at": utcnow(),
    }
    if message_sid:
        if not _insert_ignoring_conflict(session, InboundMessage, values):
            previous = session.scalar(select(InboundMessage.action).where(InboundMessage.message_sid == message_sid))
            return (classify_inbound(body) if previous is None else _as_action(previous)), False
    else:
        session.add(InboundMessage(**values))
        session.flush()
    if action == "opt_out":
        suppress(session, channel="sms", address=from_number, reason="sms_stop", source="twilio_inbound")
    elif action == "opt_in":
        unsuppress(session, channel="sms", address=from_number)
    return action, True


def _as_action(value: str) -> InboundAction:
    if value in ("opt_out", "opt_in", "help", "reply"):
        return value  # type: ignore[return-value]
    return "reply"
