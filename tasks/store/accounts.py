"""Accounts and their OAuth tokens. Keyword-only functions that take the caller's session."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import case, delete, or_, select, update
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


@dataclass(frozen=True)
class RefreshLease:
    """Who is refreshing an account's tokens now, and until when their claim holds."""

    token: str | None
    until: datetime | None

    def held(self, now: datetime) -> bool:
        return self.token is not None and self.until is not None and self.until > now


def claim_refresh_lease(session: Session, *, account_key: str, token: str, now: datetime, until: datetime) -> bool:
    """Claim the right to refresh the account's tokens until `until`; False when another holder's lease runs.

    One conditional UPDATE, meant as the first statement of a short transaction the caller commits at once
    (SQLite takes its write lock for that transaction only; on PostgreSQL a concurrent claim waits for
    this one's commit, re-reads the row and matches nothing). Nothing is held during Jobber's call.
    """
    table = JobberToken.__table__
    result = session.execute(
        update(JobberToken)
        .where(
            JobberToken.account_key == account_key,
            or_(
                table.c.refresh_lease.is_(None),
                table.c.refresh_lease_until.is_(None),
                table.c.refresh_lease_until <= now,
            ),
        )
        # updated_at says when the tokens were saved (tasks.jobber.auth.apply_app_disconnect): a lease keeps it
        .values(refresh_lease=token, refresh_lease_until=until, updated_at=JobberToken.updated_at)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def read_refresh_lease(session: Session, *, account_key: str) -> RefreshLease:
    row = session.execute(
        select(JobberToken.refresh_lease, JobberToken.refresh_lease_until).where(JobberToken.account_key == account_key)
    ).first()
    return RefreshLease(row[0], as_utc(row[1])) if row is not None else RefreshLease(None, None)


def release_refresh_lease(session: Session, *, account_key: str, token: str) -> None:
    """Give the lease back (only if `token` still holds it)."""
    session.execute(
        update(JobberToken)
        .where(JobberToken.account_key == account_key, JobberToken.refresh_lease == token)
        .values(refresh_lease=None, refresh_lease_until=None, updated_at=JobberToken.updated_at)
        .execution_options(synchronize_session=False)
    )


def save_refreshed_tokens(
    session: Session,
    *,
    account_key: str,
    refreshed_generation: int,
    lease: str,
    access_token: str,
    refresh_token: str | None,
    access_expires_at: datetime | None,
) -> int | None:
    """Store the pair Jobber gave for the refresh token of generation `refreshed_generation`; the new generation.

    Fenced on that generation (compare-and-set): None, and nothing written, when newer tokens were stored
    meanwhile (a holder whose lease had run out). The lease is released when `lease` still holds it.
    """
    table = JobberToken.__table__
    result = session.execute(
        update(JobberToken)
        .where(JobberToken.account_key == account_key, JobberToken.generation == refreshed_generation)
        .values(
            access_token=access_token,
            refresh_token=refresh_token,
            access_expires_at=access_expires_at,
            generation=JobberToken.generation + 1,
            refresh_lease=case((table.c.refresh_lease == lease, None), else_=table.c.refresh_lease),
            refresh_lease_until=case((table.c.refresh_lease == lease, None), else_=table.c.refresh_lease_until),
        )
        .execution_options(synchronize_session=False)
    )
    if not result.rowcount:  # type: ignore[attr-defined]
        release_refresh_lease(session, account_key=account_key, token=lease)
        return None
    session.execute(
        update(Account)
        .where(Account.key == account_key)
        .values(status="connected", status_reason=None)
        .execution_options(synchronize_session=False)
    )
    return refreshed_generation + 1


def forget_dead_tokens(session: Session, *, account_key: str, generation: int, reason: str) -> bool:
    """Jobber refused the refresh token of `generation` as dead: put the account in `reconnect_needed` and
    delete its tokens, unless newer tokens were stored meanwhile (then the refusal is about an old token and
    nothing changes: False)."""
    deleted = session.execute(
        delete(JobberToken).where(JobberToken.account_key == account_key, JobberToken.generation == generation)
    )
    if not deleted.rowcount:  # type: ignore[attr-defined]
        return False
    mark_reconnect_needed(session, account_key=account_key, reason=reason)
    return True


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
