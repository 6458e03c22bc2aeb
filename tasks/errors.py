"""The project's exceptions, in one place.

```
JobberflowError
├── TransientError              marker: may go away by itself, worth a retry later (tasks.retry.is_transient)
├── PermanentError              marker: retrying cannot help
├── ConfigurationError          a setting is missing or still a placeholder (names the variable)      [permanent]
│   └── RelayNotConfigured      PREFECT_API_URL is not set: the relay waits, webhooks stay in the inbox
├── SchemaNotCurrent            the database is not at this code's schema: run `jobberflow db upgrade` [permanent]
├── InboxUnavailable            the inbox could not store a webhook (locked, down): answered 503      [transient]
├── PrefectUnavailable          Prefect did not accept the relayed events: the rows stay unrelayed    [transient]
├── PrefectRejected             Prefect refused an event for good (400/413/422): the row is set aside [permanent]
├── RenderError                 a Slack template made something that is not Block Kit (a ValueError)  [permanent]
├── DemoError                   the demo cannot start, or a service it started failed
├── GatewayError                a request the gateway could not take as it came
│   ├── BodyTooLarge            the body is (or says it is) over GATEWAY_MAX_BODY_BYTES: 413           [permanent]
│   └── ClientDisconnected      the client went away before sending its whole body
├── BackupError                 a backup could not be made, read or restored
│   ├── BackupIntegrityError    the archive does not match its manifest (altered, truncated, damaged) [permanent]
│   └── RestoreTargetNotEmpty   restore only fills an empty database; names the table that has rows
├── ReviewTemplateError         a review template is missing, invalid, unknown variable, too long     [permanent]
│   └── TemplateRefused         a template tried to reach Python internals (refused by the sandbox)
├── DeliveryError               a message could not be handed to a provider (Twilio, SMTP, Slack)
│   ├── PermanentDeliveryError  retrying cannot help (invalid number, unsubscribed: Twilio 21610, bad address)
│   ├── TransientDeliveryError  try again later (timeout before sending, 429, 5xx)                     [transient]
│   └── DeliveryOutcomeUnknown  the provider may have accepted it: reconcile before any resend (neither)
└── JobberError                 anything that went wrong talking to Jobber
    ├── JobberTransportError    network failure, timeout or HTTP 5xx                                 [transient]
    ├── JobberRateLimited       THROTTLED or HTTP 429 still after the retries                        [transient]
    ├── JobberAuthError         the access token was refused
    │   ├── AccountMismatch     the consent was for another Jobber account than this installation's  [permanent]
    │   ├── ReconnectRequired   the refresh token is dead or the app was disconnected: a person must reconnect
    │   └── JobberOAuthConfigurationError  the token endpoint refused the app itself (invalid_client, a
    │                           bare 400): a configuration problem; the stored tokens are kept
    │                           (also a ConfigurationError)
    ├── JobberResponseError     the response is not what Jobber's contract promises (not JSON, no data)
    ├── JobberGraphQLError      `errors` in a HTTP 200 answer (transient when its code is THROTTLED)
    │   ├── JobberPermissionError  fields hidden because the app lacks a scope                        [permanent]
    │   └── JobberQueryTooExpensive  a query's requested cost exceeds the bucket's maximum: it can never run
    ├── JobberUserError         a mutation answered `userErrors`                                       [permanent]
    ├── JobberNotFound          a by-id lookup answered null (missing, deleted or another account's)
    └── NotAvailableInJobberAPI the action exists in Make.com's Jobber app but not in Jobber's API    [permanent]
```

[transient] and [permanent] classes also derive from the marker, so `except TransientError` catches every
error worth retrying, whatever its area; `tasks.retry.is_transient` extends the same question to the
libraries' own exceptions (httpx, SQLAlchemy, Twilio, Slack). ReconnectRequired and
JobberQueryTooExpensive are permanent too.

HTTP status codes are only turned into these classes in the Jobber client and only turned back into
HTTP answers in the gateway.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


class JobberflowError(Exception):
    """Base class of every error this project raises on purpose."""


class TransientError(JobberflowError):
    """Marks an error that may go away by itself (an outage, a rate limit): retrying later can help.

    `tasks.retry.is_transient` answers True for every subclass; combine it with a concrete class
    (`class JobberTransportError(JobberError, TransientError)`)."""


class PermanentError(JobberflowError):
    """Marks an error that retrying cannot fix (bad configuration, a refused input, a query too big to run):
    `tasks.retry.is_transient` answers False for every subclass, whatever it wraps."""


class ConfigurationError(PermanentError):
    """A setting is missing or invalid. The message names the environment variable to set."""

    def __init__(self, message: str, *, variable: str | None = None) -> None:
        super().__init__(message)
        self.variable = variable


class GatewayError(JobberflowError):
    """A request the gateway could not take as it came (deployments/gateway/inbound.py answers it)."""


class BodyTooLarge(GatewayError, PermanentError):
    """The request's body is (or says it is) larger than GATEWAY_MAX_BODY_BYTES: answered 413."""


class ClientDisconnected(GatewayError):
    """The client went away before sending its whole body."""


class InboxUnavailable(TransientError):
    """The inbox could not store a webhook (database locked or down, writer stopped): the sender must retry."""


class PrefectUnavailable(TransientError):
    """Prefect did not accept the relayed events (unreachable, timeout, error answer). The rows stay unrelayed."""


class PrefectRejected(PermanentError):
    """Prefect refused relayed events for good (400, 413, 422: an invalid or oversize event): sending them again
    cannot succeed, so the relay isolates the refused rows and sets them aside with `reason`."""

    def __init__(self, status: int, detail: str) -> None:
        self.status = status
        self.reason = f"Prefect refused the event: HTTP {status}" + (f": {detail}" if detail else "")
        super().__init__(self.reason)


class RelayNotConfigured(ConfigurationError):
    """PREFECT_API_URL is not set: the relay never starts an ephemeral Prefect server of its own."""

    def __init__(self, message: str, *, variable: str | None = "PREFECT_API_URL") -> None:
        super().__init__(message, variable=variable)


class RenderError(PermanentError, ValueError):
    """A Slack template produced something that is not a Block Kit message (a bug in the template)."""


class DemoError(JobberflowError):
    """The demo cannot start or a service it started failed (the message says which and where to look)."""


class SchemaNotCurrent(PermanentError):
    """The database is not at the schema revision this code needs (never migrated, or migrated by another
    version). Runs check, never migrate: the message names `jobberflow db upgrade`."""

    def __init__(self, message: str, *, revision: str | None, head: str) -> None:
        super().__init__(message)
        self.revision = revision
        self.head = head


class BackupError(JobberflowError):
    """A backup could not be made, read or restored."""


class BackupIntegrityError(BackupError, PermanentError):
    """The archive does not match its manifest: it was altered, truncated or damaged."""


class RestoreTargetNotEmpty(BackupError):
    """The restore target already holds rows; restoring only ever fills an empty database."""

    def __init__(self, message: str, *, table: str) -> None:
        super().__init__(message)
        self.table = table


class ReviewTemplateError(PermanentError):
    """A review template could not be used: missing, invalid syntax, an unknown variable, or too long."""

    def __init__(self, message: str, *, template: str | None = None) -> None:
        super().__init__(message)
        self.template = template


class TemplateRefused(ReviewTemplateError):
    """A template tried to reach something it must not (Python internals, private attributes)."""


class DeliveryError(JobberflowError):
    """A message could not be handed to its provider."""

    def __init__(self, message: str, *, code: str | None = None, provider: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.provider = provider


class PermanentDeliveryError(DeliveryError, PermanentError):
    """Retrying cannot help: invalid number or address, recipient unsubscribed (Twilio 21610), refused."""


class TransientDeliveryError(DeliveryError, TransientError):
    """The provider was not reached or asked us to wait (timeouts before sending, 429, 5xx): retry later."""

    def __init__(
        self, message: str, *, code: str | None = None, provider: str | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(message, code=code, provider=provider)
        self.retry_after = retry_after


class DeliveryOutcomeUnknown(DeliveryError):
    """The request may have reached the provider (a timeout after sending): reconcile, never resend blindly."""


class JobberError(JobberflowError):
    """Something went wrong talking to Jobber."""


class JobberTransportError(JobberError, TransientError):
    """Jobber could not be reached, timed out or answered 5xx. Transient: try again later."""


class JobberRateLimited(JobberError, TransientError):
    """Jobber throttled us (THROTTLED query cost or HTTP 429) and the retries ran out."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class JobberAuthError(JobberError):
    """Jobber refused the access token."""


class ReconnectRequired(JobberAuthError, PermanentError):
    """The connection to Jobber is gone (refresh token rejected, app disconnected, account inactive).

    Nothing will work for this account until someone connects the app again.
    """

    def __init__(self, message: str, *, account_id: str | None = None) -> None:
        super().__init__(message)
        self.account_id = account_id


class AccountMismatch(JobberAuthError, PermanentError):
    """The consent was given for another Jobber account than the one this installation is connected to."""


class JobberOAuthConfigurationError(ConfigurationError, JobberAuthError):
    """Jobber's token endpoint refused the app itself, not the connection: `invalid_client` (wrong client
    id or secret), or a 4xx without `invalid_grant`. Retrying or reconnecting cannot help until the
    configuration is fixed; the stored refresh token is still valid and is kept."""

    def __init__(self, message: str, *, variable: str | None = None, oauth_error: str | None = None) -> None:
        super().__init__(message, variable=variable)
        self.oauth_error = oauth_error


class JobberResponseError(JobberError):
    """Jobber's answer did not have the shape its contract promises."""


class JobberGraphQLError(JobberError):
    """Jobber answered HTTP 200 with an `errors` array."""

    def __init__(self, message: str, *, errors: Sequence[dict[str, Any]] = ()) -> None:
        super().__init__(message)
        self.errors = list(errors)

    @property
    def codes(self) -> list[str]:
        return [str((e.get("extensions") or {}).get("code", "")) for e in self.errors]


class JobberPermissionError(JobberGraphQLError, PermanentError):
    """Jobber hid fields because the app lacks a scope; add the scope in Jobber's developer center."""


class JobberQueryTooExpensive(JobberGraphQLError, PermanentError):
    """Jobber answered THROTTLED to a query whose requested cost exceeds the bucket's `maximumAvailable`:
    it can never fit, however long one waits. Ask for fewer nodes per page (`first`) or fewer fields."""

    def __init__(
        self,
        message: str,
        *,
        document: str,
        requested: float,
        maximum: float,
        errors: Sequence[dict[str, Any]] = (),
    ) -> None:
        super().__init__(message, errors=errors)
        self.document = document
        self.requested = requested
        self.maximum = maximum


class JobberUserError(JobberError, PermanentError):
    """A mutation was refused with `userErrors` (bad input, a rule of Jobber's)."""

    def __init__(self, message: str, *, user_errors: Sequence[dict[str, Any]] = ()) -> None:
        super().__init__(message)
        self.user_errors = list(user_errors)


class JobberNotFound(JobberError):
    """A by-id lookup returned null: the record is missing, deleted, or belongs to another account."""


class NotAvailableInJobberAPI(JobberError, PermanentError):
    """Make.com's Jobber app lists this action but Jobber's GraphQL API has no way to do it."""
