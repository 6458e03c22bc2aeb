"""The contractor's review settings: one store in Prefect, one loader for every reader.

Where they live: the `settings` parameter of the `jobber-events` deployment in Prefect. The Prefect UI
edits them there (validated against `ReviewSettings`'s schema, `enforce_parameter_schema`), and so does
the API. Every reader goes through `review_settings()` here:

- the event worker (each `handle_jobber_events` task run) and the `review-poll` flow,
- the gateway's Make.com endpoint (`POST /api/webhooks/trigger-review`) and its admin page,
- `jobberflow reviews preview` (unless given a settings file).

The `jobber-events` sweep receives the same value as its parameter: Prefect passes the stored one.

prefect.yaml is the **seed**, with JOBBERFLOW_PARAMETER_OVERRIDES laid over it: it is what readers use while
the deployment does not exist yet (a fresh install), and what creates it. Once it exists, the runner
(`jobberflow serve`) registers the deployment again with the stored settings, not prefect.yaml's, so a
restart never undoes an edit made in the UI; only overrides named in JOBBERFLOW_PARAMETER_OVERRIDES are laid
over them (the demo's). `prefect deploy --all` is Prefect's own command and writes prefect.yaml's values:
after editing in the UI, copy the change into prefect.yaml before deploying again.

Each process keeps what it read for `TTL_S` (30 s), so an edit reaches every reader within 30 seconds and
Prefect is asked at most twice a minute per process. When Prefect cannot be reached, the last value read is
kept (logged), and before any was read the seed is used (logged as a warning); either for another 30 s.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from typing import Any

from tasks.deployment_specs import deployment_parameters, merge_parameters, parameter_overrides
from tasks.reviews.settings import ReviewSettings

log = logging.getLogger(__name__)

DEPLOYMENT = "jobber-events"
FLOW = "jobber-events"
PARAMETER = "settings"
TTL_S = 30.0


class _DeploymentMissing(LookupError):
    """The jobber-events deployment is not registered in Prefect (yet)."""


_lock = threading.Lock()
# (Prefect API URL, overrides) -> (monotonic time read, the settings as stored). Keyed so that a process pointed
# at another Prefect server or given other overrides (tests) never sees another's value.
_cache: dict[tuple[str, str], tuple[float, dict[str, Any] | None]] = {}
# The validated form of the last few stored values (validating templates and zones is not free).
_validated: dict[str, ReviewSettings] = {}


def seed_settings() -> dict[str, Any] | None:
    """prefect.yaml's jobber-events settings with JOBBERFLOW_PARAMETER_OVERRIDES laid over them."""
    parameters = deployment_parameters(DEPLOYMENT)
    return None if parameters is None else parameters.get(PARAMETER)


def stored_settings() -> dict[str, Any] | None:
    """The `settings` parameter of the jobber-events deployment as Prefect holds it now (no cache).

    Raises `_DeploymentMissing` (control flow inside this module) when the deployment is not registered, or
    when no Prefect server is configured (PREFECT_API_URL unset: there is no store to ask, and Prefect would
    otherwise start a temporary server of its own); Prefect's errors when it cannot be reached.
    """
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound
    from prefect.settings import PREFECT_API_URL

    if not PREFECT_API_URL.value():
        raise _DeploymentMissing("PREFECT_API_URL is not set: no Prefect server holds the review settings")
    try:
        with get_client(sync_client=True) as client:
            deployment = client.read_deployment_by_name(f"{FLOW}/{DEPLOYMENT}")
    except ObjectNotFound as exc:
        raise _DeploymentMissing(f"Prefect has no deployment {FLOW}/{DEPLOYMENT}") from exc
    value = (deployment.parameters or {}).get(PARAMETER)
    return value if isinstance(value, dict) else None


def settings_to_register() -> dict[str, Any] | None:
    """What the runner registers the deployment with: the stored settings when it exists (an edit in the UI
    survives a restart), else prefect.yaml's; JOBBERFLOW_PARAMETER_OVERRIDES laid over either."""
    try:
        base = stored_settings()
    except _DeploymentMissing:
        return seed_settings()
    override = parameter_overrides().get(DEPLOYMENT, {}).get(PARAMETER)
    return merge_parameters(base or {}, override) if isinstance(override, dict) else base


def _cache_key() -> tuple[str, str]:
    from prefect.settings import PREFECT_API_URL

    return str(PREFECT_API_URL.value() or ""), json.dumps(parameter_overrides(), sort_keys=True)


def review_settings_data(*, now: float | None = None, ttl_s: float | None = None) -> dict[str, Any] | None:
    """The review settings as stored (a dict, not validated): the jobber-events deployment's in Prefect, read
    at most every `ttl_s` (default `TTL_S`) seconds per process, the seed while it does not exist; None when
    neither has any. `jobberflow reviews preview --review-link ...` lays its options over this."""
    now = time.monotonic() if now is None else now
    ttl_s = TTL_S if ttl_s is None else ttl_s
    key = _cache_key()
    with _lock:
        cached = _cache.get(key)
    if cached is not None and now - cached[0] < ttl_s:
        return cached[1]
    try:
        raw = stored_settings()
    except _DeploymentMissing as exc:
        log.debug("%s: using prefect.yaml's review settings", exc)
        raw = seed_settings()
    except Exception as exc:  # noqa: BLE001 - Prefect down or busy: keep what we had, the seed before that
        if cached is not None:
            log.info("Prefect unreachable (%s): keeping the review settings read before", type(exc).__name__)
            raw = cached[1]
        else:
            log.warning("Prefect unreachable (%s): using prefect.yaml's review settings for now", type(exc).__name__)
            raw = seed_settings()
    with _lock:
        _cache[key] = (now, raw)
    return raw


def review_settings(*, now: float | None = None, ttl_s: float | None = None) -> ReviewSettings | None:
    """The contractor's review settings, validated (see `review_settings_data`). A stored value that is not
    valid raises pydantic's `ValidationError`, naming the field (the UI validates; the API may not)."""
    raw = review_settings_data(now=now, ttl_s=ttl_s)
    if raw is None:
        return None
    fingerprint = json.dumps(raw, sort_keys=True, default=str)
    with _lock:
        found = _validated.get(fingerprint)
    if found is None:
        found = ReviewSettings.model_validate(raw)
        with _lock:
            if len(_validated) > 16:
                _validated.clear()
            _validated[fingerprint] = found
    return found


def forget_review_settings() -> None:
    """Drop what this process read (tests; a command that just changed them)."""
    with _lock:
        _cache.clear()
        _validated.clear()
