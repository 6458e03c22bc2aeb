"""Accounts and their OAuth tokens. Keyword-only functions that take the caller's session."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from tasks.store.models import Account, JobberToken


def as_utc(value: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes: they were stored in UTC."""
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


@dataclass(frozen=True)
class StoredTokens:
    access_token: str | None
    refresh_token: str | None
    access_expires_at: datetime | None
    generation: int


def ensure_account(
    session: Session, *, key: str, jobber_account_id: str | None = None, name: str | None = None
) -> Account:
    """The account row for `key`, created when missing; fills in the Jobber id and name when given."""
    account = session.get(Account, key)
    if account is None:
        account = Account(key=key, jobber_account_id=jobber_account_id, name=name, status="connected")
        session.add(account)
        session.flush()
    else:
        if jobber_account_id and account.jobber_account_id != jobber_account_id:
            account.jobber_account_id = jobber_account_id
        if name and account.name != name:
            account.name = name
    return account


def pinned_jobber_account(session: Session, *, account_key: str) -> str | None:
    """The Jobber account id recorded for `account_key` (the account this installation is pinned to), or None."""
    account = session.get(Account, account_key)
    return account.jobber_account_id if account is not None and account.jobber_account_id else None


def pin_jobber_account(session: Session, *, account_key: str, jobber_account_id: str) -> str:
    """Record the Jobber account id of `account_key` when none is recorded yet; returns the recorded id.

    An id already recorded is never changed here: replacing the connected account is an explicit admin
    action (`tasks.jobber.connect.store_connection(..., replace=True)`).
    """
    account = ensure_account(session, key=account_key)
    if not account.jobber_account_id:
        account.jobber_account_id = jobber_account_id
        session.flush()
    return account.jobber_account_id


def has_tokens(session: Session, *, account_key: str) -> bool:
    """True when an access or refresh token is stored for `account_key`."""
    tokens = read_tokens(session, account_key=account_key)
    return tokens is not None and bool(tokens.access_token or tokens.refresh_token)


def find_account_by_jobber_id(session: Session, *, jobber_account_id: str) -> Account | None:
    return session.scalars(select(Account).where(Account.jobber_account_id == jobber_account_id)).first()


def lock_tokens(session: Session, *, account_key: str) -> bool:
    """Take the account's token lock for the rest of this transaction.

    The first statement of the transaction is a no-op UPDATE of the row: PostgreSQL locks the row until
    commit, and SQLite takes its database write lock (other writers wait on busy_timeout). So only one
    process at a time can read-then-refresh an account's tokens. False when the account has no token row.
    """
    result = session.execute(
        update(JobberToken)
        .where(JobberToken.account_key == account_key)
        .values(generation=JobberToken.generation)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def read_tokens(session: Session, *, account_key: str) -> StoredTokens | None:
    row = session.execute(
        select(
            JobberToken.access_token,
            JobberToken.refresh_token,
            JobberToken.access_expires_at,
            JobberToken.generation,
        ).where(JobberToken.account_key == account_key)
    ).first()
    if row is None:
        return None
    return StoredTokens(row[0], row[1], as_utc(row[2]), int(row[3] or 0))


def save_tokens(
    session: Session,
    *,
    account_key: str,
    access_token: str | None,
    refresh_token: str | None,
    access_expires_at: datetime | None,
) -> int:
    """Store new tokens for the account (creating the rows) and return the new generation."""
    ensure_account(session, key=account_key)
    token = session.get(JobberToken, account_key, populate_existing=True)
    if token is None:
        token = JobberToken(account_key=account_key, generation=0)
        session.add(token)
    token.access_token = access_token
    token.refresh_token = refresh_token
    token.access_expires_at = access_expires_at
    token.generation = (token.generation or 0) + 1
    account = session.get(Account, account_key)
    if account is not None:
        account.status = "connected"
        account.status_reason = None
    session.flush()
    return token.generation


def mark_reconnect_needed(session: Session, *, account_key: str, reason: str, disconnected: bool = False) -> None:
    """Put the account in `reconnect_needed` (or `disconnected`) and forget its tokens: they are dead."""
    account = ensure_account(session, key=account_key)
    account.status = "disconnected" if disconnected else "reconnect_needed"
    account.status_reason = reason
    session.execute(delete(JobberToken).where(JobberToken.account_key == account_key))
    session.flush()


def account_status(session: Session, *, account_key: str) -> tuple[str, str | None] | None:
    account = session.get(Account, account_key)
    if account is None:
        return None
    return account.status, account.status_reason
