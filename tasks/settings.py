"""One typed settings class, read from environment variables (and a `.env` file).

Variable names follow Jobber's setup guide (JOBBER_API_KEY, JOBBER_API_SECRET, JOBBER_WEBHOOK_SECRET,
JOBBER_BASE_URL) plus the OAuth app's JOBBER_CLIENT_ID / JOBBER_CLIENT_SECRET / JOBBER_REFRESH_TOKEN.
Nothing is validated at import time: `get_settings()` builds the object lazily, and `require()` raises a
`ConfigurationError` that names the variable when a credential is needed but missing or a placeholder.

This class is the only reader of the environment: every variable the project honours is a field here, and
tests/test_settings_sources.py fails on an `os.environ`/`os.getenv` read anywhere else. Code that starts
child processes may still *set* variables for them. A secret becomes text in one place, `secret_text()`.
The contractor's review choices are not here: they are the jobber-events deployment's parameters in
Prefect (tasks/reviews/settings_source.py).
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic import Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict, SettingsError

from tasks.errors import ConfigurationError

DEFAULT_API_VERSION = "2025-04-16"

# ADMIN_TOKEN and METRICS_TOKEN shorter than this are refused (a guessable bearer token guards OAuth and data).
MIN_TOKEN_LENGTH = 16

# Values people leave in .env files copied from guides.
_PLACEHOLDER = re.compile(
    r"^(|x+|\*+|changeme|change[-_ ]?me|todo|tbd|none|null|placeholder|secret|password|"
    r"your[-_ ].*|your_.*|<.*>|\{\{.*\}\}|\$\{.*\}|.*[-_]here|replace[-_ ]?me|example|xxx.*)$",
    re.IGNORECASE,
)


def is_placeholder(value: str) -> bool:
    """True for an empty value or one that is obviously a template placeholder."""
    return bool(_PLACEHOLDER.match(value.strip()))


def secret_text(value: SecretStr | str | None) -> str | None:
    """The one way a secret (or any credential setting) becomes text: None when it is unset or a placeholder,
    else its value without surrounding whitespace (a pasted token's trailing newline is never part of it)."""
    raw = value.get_secret_value() if isinstance(value, SecretStr) else value
    if raw is None or is_placeholder(raw):
        return None
    return raw.strip()


class Settings(BaseSettings):
    """Everything the project reads from its environment. Secrets are `SecretStr` and never logged."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    # Jobber
    jobber_base_url: str = "https://api.getjobber.com"
    jobber_api_version: str = DEFAULT_API_VERSION
    jobber_api_key: SecretStr | None = Field(default=None, description="An access token (the guide's name).")
    jobber_api_secret: SecretStr | None = Field(default=None, description="The guide's name for the client secret.")
    jobber_client_id: str | None = None
    jobber_client_secret: SecretStr | None = None
    jobber_refresh_token: SecretStr | None = None
    jobber_webhook_secret: SecretStr | None = Field(
        default=None,
        description="Defaults to the client secret: Jobber signs webhooks with it. Comma-separate to rotate.",
    )
    jobber_account_id: str | None = None
    jobber_timeout_s: float = 30.0
    jobber_max_retries: int = 6

    # Storage
    jobberflow_home: Path = Path("data")
    database_url: str | None = None

    # The processes
    jobberflow_log_level: str = Field(default="WARNING", description="Log level of the `jobberflow` commands.")
    jobberflow_parameter_overrides: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="JSON {deployment name: {parameter: value}} laid over prefect.yaml's parameters (the demo's "
        "no-delay review settings); for the jobber-events settings, only the seed of a deployment not created yet.",
    )

    # Public address of the gateway (OAuth redirect, Twilio signature, click tracking)
    public_url: str = "http://127.0.0.1:8700"

    # The gateway
    gateway_host: str = "127.0.0.1"
    gateway_port: int = 8700
    gateway_max_body_bytes: int = 256 * 1024
    jobberflow_gateway_relay: bool = Field(
        default=True, description="Off: this gateway only ingests (its relay runs elsewhere, or in a child process)."
    )
    gateway_store_deadline_s: float = Field(
        default=0.5,
        gt=0,
        le=5,
        description=(
            "How long a Jobber webhook may wait for its inbox write before the gateway answers 503 (Jobber "
            "retries). Jobber wants an answer within 1 second; the inbox writer waits at most this long for a "
            "locked database per batch."
        ),
    )
    relay_max_wakeups: int = Field(
        default=1, ge=1, description="Event-worker wake-ups in flight at once (one per `jobberflow worker`)."
    )
    admin_token: SecretStr | None = Field(default=None, description="Bearer token (or basic-auth password) for /admin.")
    admin_username: str = "admin"
    metrics_token: SecretStr | None = Field(
        default=None, description="Bearer token for /metrics (the admin credentials work too)."
    )
    gateway_api_docs: bool = Field(
        default=False, description="Serve /docs and /openapi.json (behind the admin credentials)."
    )
    make_webhook_token: SecretStr | None = Field(
        default=None, description="Bearer token for /api/webhooks/trigger-review."
    )
    make_webhook_secret: SecretStr | None = Field(
        default=None, description="HMAC key for /api/webhooks/trigger-review."
    )

    # The business (HELP replies, email footers when a flow does not say otherwise)
    business_name: str = "Our team"
    business_postal_address: str | None = None
    business_help_reply: str | None = None

    # Outbound channels: without credentials, messages go to the local outbox (JOBBERFLOW_HOME/outbox)
    twilio_account_sid: str | None = None
    twilio_auth_token: SecretStr | None = None
    twilio_base_url: str | None = Field(default=None, description="Point the Twilio SDK elsewhere (tests).")
    twilio_from_number: str | None = None
    twilio_messaging_service_sid: str | None = None
    smtp_host: str | None = None
    smtp_port: int = 587
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_security: str = Field(default="starttls", description="starttls | ssl | none")
    smtp_from: str | None = None
    slack_bot_token: SecretStr | None = None
    slack_signing_secret: SecretStr | None = None
    slack_base_url: str | None = Field(default=None, description="Point the Slack SDK elsewhere (tests).")
    slack_default_channel: str | None = None
    slack_channels: str | None = Field(
        default=None, description='JSON: notification kind -> channel, e.g. {"job_closed": "#ops"}.'
    )

    @property
    def graphql_url(self) -> str:
        return self.jobber_base_url.rstrip("/") + "/api/graphql"

    @property
    def token_url(self) -> str:
        return self.jobber_base_url.rstrip("/") + "/api/oauth/token"

    @property
    def authorize_url(self) -> str:
        return self.jobber_base_url.rstrip("/") + "/api/oauth/authorize"

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.jobberflow_home / 'jobberflow.db').resolve()}"

    @property
    def client_secret(self) -> SecretStr | None:
        """JOBBER_CLIENT_SECRET, or the guide's JOBBER_API_SECRET when that is what was set."""
        for candidate in (self.jobber_client_secret, self.jobber_api_secret):
            if secret_text(candidate) is not None:
                return candidate
        return None

    @property
    def webhook_secrets(self) -> list[SecretStr]:
        """Secrets that may have signed a webhook: JOBBER_WEBHOOK_SECRET (comma-separated), else the client secret."""
        if self.jobber_webhook_secret is not None:
            parts = [p.strip() for p in self.jobber_webhook_secret.get_secret_value().split(",")]
            found = [SecretStr(p) for p in parts if not is_placeholder(p)]
            if found:
                return found
        secret = self.client_secret
        return [secret] if secret is not None else []

    def token_problem(self, field: str) -> str | None:
        """Why the bearer token in `field` (admin_token, metrics_token) cannot be used, or None when it can."""
        variable = field.upper()
        raw = secret_text(getattr(self, field))
        if raw is None:
            return f"{variable} is not set (or is still a placeholder)."
        if len(raw) < MIN_TOKEN_LENGTH:
            return (
                f"{variable} is too short ({len(raw)} characters): use at least {MIN_TOKEN_LENGTH}, "
                'for example the output of `python -c "import secrets; print(secrets.token_urlsafe(32))"`.'
            )
        return None

    def require(self, field: str) -> str:
        """The value of a setting that must be present now, or a ConfigurationError naming its variable."""
        variable = field.upper()
        if field == "client_secret":
            value: object = self.client_secret
            variable = "JOBBER_CLIENT_SECRET"
        else:
            value = getattr(self, field)
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        if value is None or (isinstance(value, str) and is_placeholder(value)):
            raise ConfigurationError(
                f"{variable} is not set (or is still a placeholder). Set it in the environment or in .env.",
                variable=variable,
            )
        return str(value)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process's settings, built on first use (never at import time)."""
    try:
        return Settings()
    except ValidationError as exc:
        first = exc.errors()[0]
        variable = str(first["loc"][0]).upper() if first.get("loc") else "?"
        raise ConfigurationError(f"{variable}: {first['msg']}", variable=variable) from None
    except SettingsError as exc:  # a JSON-valued variable that is not JSON
        found = re.search(r'field "(\w+)"', str(exc))
        variable = found.group(1).upper() if found else "?"
        raise ConfigurationError(f"{variable}: not valid JSON ({exc.__cause__ or exc})", variable=variable) from None


def reset_settings_cache() -> None:
    """Forget the cached settings (tests and the CLI change the environment)."""
    get_settings.cache_clear()
