"""Builds the Jobber client from settings. Lazy and cached: nothing happens at import time."""

from __future__ import annotations

import threading

import httpx

from tasks.errors import ConfigurationError
from tasks.jobber.auth import DatabaseTokenProvider, OAuthClient, StaticTokenProvider, TokenProvider
from tasks.jobber.client import JobberClient
from tasks.settings import Settings, get_settings, secret_text

_cached: dict[str, JobberClient] = {}
_lock = threading.Lock()


def build_token_provider(settings: Settings, *, http: httpx.Client | None = None) -> TokenProvider:
    """Refreshing tokens from the database when the OAuth app is configured, else JOBBER_API_KEY as is."""
    account_key = settings.jobber_account_id or "default"
    api_key = secret_text(settings.jobber_api_key)
    refresh_token = secret_text(settings.jobber_refresh_token)
    client_secret = secret_text(settings.client_secret)
    if settings.jobber_client_id and client_secret:
        from tasks.jobber.connect import account_identifier
        from tasks.store.db import get_engine
        from tasks.store.migrate import require_current_schema

        require_current_schema(settings.resolved_database_url)
        provider = DatabaseTokenProvider(
            engine=get_engine(settings.resolved_database_url),
            oauth=OAuthClient(
                token_url=settings.token_url,
                client_id=settings.jobber_client_id,
                client_secret=client_secret,
                http=http,
                timeout=settings.jobber_timeout_s,
            ),
            account_key=account_key,
            # Tokens seeded from the environment: record their Jobber account on first use (pins the install).
            identify=account_identifier(
                graphql_url=settings.graphql_url, api_version=settings.jobber_api_version, http=http
            ),
        )
        provider.seed(access_token=api_key, refresh_token=refresh_token)
        return provider
    if api_key:
        return StaticTokenProvider(api_key, account_key=account_key)
    raise ConfigurationError(
        "No Jobber credentials: set JOBBER_API_KEY (an access token), or JOBBER_CLIENT_ID + "
        "JOBBER_CLIENT_SECRET + JOBBER_REFRESH_TOKEN so tokens refresh. Without Jobber, run "
        "`jobberflow sandbox serve` and point JOBBER_BASE_URL at it.",
        variable="JOBBER_API_KEY",
    )


def build_jobber_client(
    settings: Settings | None = None,
    *,
    transport: httpx.BaseTransport | None = None,
    tokens: TokenProvider | None = None,
) -> JobberClient:
    """A new client for the configured Jobber (or sandbox). `transport` lets tests fake the network."""
    settings = settings or get_settings()
    http = httpx.Client(timeout=settings.jobber_timeout_s, transport=transport)
    return JobberClient(
        graphql_url=settings.graphql_url,
        api_version=settings.jobber_api_version,
        tokens=tokens or build_token_provider(settings, http=http),
        http=http,
        max_retries=settings.jobber_max_retries,
    )


def get_jobber_client() -> JobberClient:
    """The process's shared client (one pacer per account across every task in the process)."""
    settings = get_settings()
    key = f"{settings.graphql_url}|{settings.jobber_account_id or 'default'}"
    with _lock:
        client = _cached.get(key)
        if client is None:
            client = _cached[key] = build_jobber_client(settings)
            _record_usage(client, settings)
        return client


def _record_usage(client: JobberClient, settings: Settings) -> None:
    """Let the gateway's /metrics see this process's Jobber budget and counters."""
    from tasks.jobber.usage import UsageRecorder
    from tasks.store.db import get_engine

    client.on_response = UsageRecorder(
        get_engine(settings.resolved_database_url), account_key=settings.jobber_account_id or "default"
    )


def reset_jobber_clients() -> None:
    with _lock:
        for client in _cached.values():
            client.close()
        _cached.clear()
