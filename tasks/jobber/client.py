"""The Jobber GraphQL client: one POST per operation to `<JOBBER_BASE_URL>/api/graphql`.

What it does for every call:
- sends the bearer token and `X-JOBBER-GRAPHQL-VERSION`; a 401 triggers one refresh and one retry;
- paces against the query-cost bucket (`CostPacer`) so long reads never hit THROTTLED in steady state;
- on THROTTLED or HTTP 429 (Retry-After honoured) waits and retries with capped, jittered backoff; reads
  are also retried on timeouts, connection errors and 5xx. A mutation is retried only when Jobber cannot
  have run it (THROTTLED, 429, a connection that never opened): never blindly;
- a THROTTLED answer whose `requestedQueryCost` exceeds the bucket's `maximumAvailable` can never fit:
  it fails at once (`JobberQueryTooExpensive`, naming the document and its cost) instead of retrying;
- inside `time_budget(seconds)` (this thread only) no call waits, retries or reads past the budget: a
  wait that would (a long Retry-After, pacing, backoff) raises at once, so a caller holding a lease (the
  review dispatcher's claim) is never stalled past it;
- turns `errors` (HTTP 200), missing scopes, disconnects and malformed answers into `tasks.errors`;
- logs `extensions.versioning.warning` once per message.

Documents are plain strings kept in `.graphql` files (`tasks.jobber.documents`); gql's parser reads them
once to learn whether they are queries or mutations. We post with httpx directly rather than through a
gql transport because the pacing and retry rules need the HTTP status, the Retry-After header and
`extensions.cost` of every answer, which gql's transports do not expose together.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import httpx
from graphql import OperationDefinitionNode, OperationType, parse

from tasks.errors import (
    JobberAuthError,
    JobberGraphQLError,
    JobberPermissionError,
    JobberQueryTooExpensive,
    JobberRateLimited,
    JobberResponseError,
    JobberTransportError,
    JobberUserError,
    ReconnectRequired,
)
from tasks.jobber.auth import TokenProvider, is_reconnect_message
from tasks.jobber.cost import estimate_cost
from tasks.jobber.throttle import CostPacer, QueryCost
from tasks.retry import Backoff, parse_retry_after

log = logging.getLogger(__name__)

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 100


@dataclass
class ClientStats:
    """What the client did; flows put these in their artifacts."""

    requests: int = 0
    throttled: int = 0
    rate_limited: int = 0
    retries: int = 0
    unauthorized: int = 0
    cost_requested: float = 0.0
    cost_actual: float = 0.0
    paced_wait_s: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, **deltas: float) -> None:
        with self._lock:
            for name, delta in deltas.items():
                setattr(self, name, getattr(self, name) + delta)

    def as_dict(self) -> dict[str, float]:
        return {k: v for k, v in self.__dict__.items() if not k.startswith("_")}


@dataclass(frozen=True)
class Operation:
    is_mutation: bool
    name: str | None


@lru_cache(maxsize=512)
def parse_operation(document: str) -> Operation:
    """Whether a document is a mutation, and its operation name (parsed once per document)."""
    node = parse(document)
    for definition in node.definitions:
        if isinstance(definition, OperationDefinitionNode):
            return Operation(
                definition.operation == OperationType.MUTATION,
                definition.name.value if definition.name else None,
            )
    raise JobberResponseError("The GraphQL document has no operation")


class JobberClient:
    """Typed access to Jobber's GraphQL API. Build it with `tasks.jobber.factory.get_jobber_client()`."""

    def __init__(
        self,
        *,
        graphql_url: str,
        api_version: str,
        tokens: TokenProvider,
        http: httpx.Client | None = None,
        transport: httpx.BaseTransport | None = None,
        timeout: float = 30.0,
        max_retries: int = 6,
        pacer: CostPacer | None = None,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
        max_backoff_s: float = 30.0,
    ) -> None:
        self.graphql_url = graphql_url
        self.api_version = api_version
        self.tokens = tokens
        self._http = http or httpx.Client(timeout=timeout, transport=transport)
        self._owns_http = http is None
        self.max_retries = max_retries
        self.pacer = pacer or CostPacer(sleep=sleep)
        self._sleep = sleep
        self._rng = rng or random.Random()  # noqa: S311 - jitter only
        # 0.5 s, 1, 2 ... capped at `max_backoff_s`, full jitter (several workers share Jobber's limits)
        self._backoff_policy = Backoff(base=0.5, cap=max_backoff_s)
        # document -> (requestedQueryCost, the `first` it was asked with): the next request's cost estimate
        self._expected_cost: dict[str, tuple[float, float | None]] = {}
        self._warned: set[str] = set()
        self.stats = ClientStats()
        self.last_cost: QueryCost | None = None
        self._timeout = timeout
        self._budget = threading.local()
        # Called after every operation (e.g. tasks.jobber.usage.UsageRecorder); must be cheap and never raise.
        self.on_response: Callable[[JobberClient], None] | None = None

    # -- lifecycle ---------------------------------------------------------------------------------
    def close(self) -> None:
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> JobberClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def time_budget(self, seconds: float) -> Iterator[None]:
        """Within this block, in this thread, no call waits, retries or reads for more than `seconds` in all.

        A wait that would pass the budget (a long Retry-After, pacing against the cost bucket, backoff)
        raises the error the retries would have ended with (`JobberRateLimited` with `retry_after`, or
        `JobberTransportError`) at once; an HTTP read gets at most the time left. Nested budgets keep the
        tighter one.
        """
        previous = getattr(self._budget, "value", None)
        budget = _Budget(time.monotonic(), max(0.0, seconds))
        if previous is not None and previous.remaining() < budget.remaining():
            budget = previous
        self._budget.value = budget
        try:
            yield
        finally:
            self._budget.value = previous

    def _remaining(self) -> float | None:
        budget: _Budget | None = getattr(self._budget, "value", None)
        return None if budget is None else budget.remaining()

    def _waited(self, seconds: float) -> None:
        budget: _Budget | None = getattr(self._budget, "value", None)
        if budget is not None:
            budget.slept += seconds

    # -- public API --------------------------------------------------------------------------------
    def execute(
        self,
        document: str,
        variables: Mapping[str, Any] | None = None,
        *,
        operation_name: str | None = None,
    ) -> dict[str, Any]:
        """Run one operation and return its `data` (a dict; fields may be null where the schema allows)."""
        operation = parse_operation(document)
        payload: dict[str, Any] = {"query": document, "variables": dict(variables or {})}
        if operation_name or operation.name:
            payload["operationName"] = operation_name or operation.name
        try:
            body = self._send(payload, document=document, is_mutation=operation.is_mutation)
        finally:
            if self.on_response is not None:
                self.on_response(self)
        data = body.get("data")
        if not isinstance(data, dict):
            raise JobberResponseError("Jobber answered without `data` and without errors")
        return data

    def mutate(self, document: str, variables: Mapping[str, Any] | None = None, *, payload: str) -> dict[str, Any]:
        """Run a mutation and return `data[payload]`; `userErrors` become `JobberUserError`."""
        data = self.execute(document, variables)
        result = data.get(payload)
        if not isinstance(result, dict):
            raise JobberResponseError(f"Jobber's answer to {payload} has no payload object")
        user_errors = result.get("userErrors") or []
        if user_errors:
            messages = "; ".join(str(e.get("message", "")) for e in user_errors if isinstance(e, dict))
            raise JobberUserError(f"Jobber refused {payload}: {messages}", user_errors=user_errors)
        return result

    def paginate(
        self,
        document: str,
        variables: Mapping[str, Any] | None = None,
        *,
        path: Sequence[str],
        page_size: int | None = None,
        limit: int | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Yield every node of the Relay connection at `data[path...]`, page by page.

        The page size starts at `page_size` (default 50) and, once a page's real cost is known, grows or
        shrinks so one page costs at most a tenth of the bucket: big enough to be efficient, small enough
        that pacing stays smooth. `limit` stops after that many nodes.
        """
        first = min(page_size or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
        adaptive = page_size is None
        after: str | None = None
        yielded = 0
        while True:
            if limit is not None:
                first = max(1, min(first, limit - yielded))
            page_vars = {**(variables or {}), "first": first, "after": after}
            data = self.execute(document, page_vars)
            connection: Any = data
            for key in path:
                connection = connection.get(key) if isinstance(connection, dict) else None
            if connection is None:
                return
            if not isinstance(connection, dict):
                raise JobberResponseError(f"{'.'.join(path)} is not a connection")
            nodes = connection.get("nodes")
            if nodes is None:
                nodes = [e.get("node") for e in connection.get("edges") or [] if isinstance(e, dict)]
            for node in nodes:
                if node is None:
                    continue
                yield node
                yielded += 1
                if limit is not None and yielded >= limit:
                    return
            info = connection.get("pageInfo") or {}
            after = info.get("endCursor")
            if not info.get("hasNextPage") or not after or not nodes:
                return
            if adaptive and self.last_cost is not None and self.last_cost.actual:
                per_node = self.last_cost.actual / max(1, len(nodes))
                budget = self.last_cost.maximum_available / 10
                first = int(max(1, min(MAX_PAGE_SIZE, budget // max(per_node, 1e-9))))

    # -- internals ---------------------------------------------------------------------------------
    def _headers(self, token: str) -> dict[str, str]:
        return {
            "Authorization": f"Bearer {token}",
            "Content-Type": "application/json",
            "Accept": "application/json",
            "X-JOBBER-GRAPHQL-VERSION": self.api_version,
        }

    def _backoff(self, attempt: int) -> float:
        return self._backoff_policy.seconds(attempt + 1, rng=self._rng)

    def _send(self, payload: dict[str, Any], *, document: str, is_mutation: bool) -> dict[str, Any]:
        token = self.tokens.access_token()
        refreshed = False
        content = json.dumps(payload).encode()
        kind = "mutation" if is_mutation else "query"
        attempt = 0
        expected = self._estimate(document, payload["variables"])
        maximum = self.pacer.known_maximum()
        known = self._expected_cost.get(document)
        if known is not None and maximum is not None and known[0] > maximum:
            if known[1] == _number(payload["variables"].get("first")):
                # Jobber already costed exactly this request above the bucket's size: do not even ask.
                raise self._too_expensive(payload, document, known[0], maximum, [])
        while True:
            reserved = expected
            remaining = self._remaining()
            if remaining is not None and expected:
                pacing = self.pacer.wait_seconds(expected)
                if pacing > remaining:
                    raise JobberRateLimited(
                        f"Jobber's query-cost bucket needs {pacing:.1f}s to refill, more than the {remaining:.1f}s "
                        "this call may wait.",
                        retry_after=pacing,
                    )
            waited = self.pacer.reserve(expected) if expected else 0.0
            if waited:
                self.stats.add(paced_wait_s=waited)
                self._waited(waited)
            self.stats.add(requests=1)
            remaining = self._remaining()
            if remaining is not None and remaining <= 0:
                self.pacer.refund(reserved, 0)
                raise JobberTransportError("The time allowed for this Jobber call ran out before the request.")
            try:
                response = self._http.post(
                    self.graphql_url,
                    content=content,
                    headers=self._headers(token),
                    timeout=min(self._timeout, remaining) if remaining is not None else httpx.USE_CLIENT_DEFAULT,
                )
            except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
                # The request never reached Jobber: safe to retry a mutation too.
                self.pacer.refund(reserved, 0)
                attempt = self._retry_or_raise(
                    attempt,
                    JobberTransportError(f"Could not connect to Jobber at {self.graphql_url}: {type(exc).__name__}"),
                    exc,
                )
                continue
            except httpx.HTTPError as exc:
                self.pacer.refund(reserved, 0)
                error = JobberTransportError(f"Jobber {kind} failed in transit: {type(exc).__name__}")
                if is_mutation:
                    # It may have run: the caller must reconcile, not us.
                    raise error from exc
                attempt = self._retry_or_raise(attempt, error, exc)
                continue

            status = response.status_code
            if status == 401:
                self.stats.add(unauthorized=1)
                self.pacer.refund(reserved, 0)
                message = _error_text(response)
                if is_reconnect_message(message):
                    raise ReconnectRequired(
                        f"Jobber: {message}. Connect the app to Jobber again.", account_id=self.tokens.account_key
                    )
                if refreshed:
                    raise JobberAuthError("Jobber refused a freshly refreshed access token (HTTP 401).")
                token = self.tokens.after_unauthorized(token)
                refreshed = True
                continue
            if status == 429:
                self.stats.add(rate_limited=1)
                self.pacer.refund(reserved, 0)
                retry_after = parse_retry_after(response.headers.get("Retry-After"))
                delay = retry_after if retry_after is not None else self._backoff(attempt)
                attempt = self._retry_or_raise(
                    attempt,
                    JobberRateLimited(
                        "Jobber's request limit (HTTP 429) is still exceeded after retries.", retry_after=retry_after
                    ),
                    None,
                    delay=delay,
                )
                continue
            if status >= 500:
                self.pacer.refund(reserved, 0)
                error = JobberTransportError(f"Jobber answered HTTP {status} to a {kind}.")
                if is_mutation:
                    raise error
                attempt = self._retry_or_raise(attempt, error, None)
                continue
            if status == 403:
                raise JobberPermissionError(
                    f"Jobber answered HTTP 403: {_error_text(response) or 'forbidden'}."
                    " Check the app's scopes in Jobber's developer center."
                )
            if status >= 400:
                raise JobberResponseError(f"Jobber answered HTTP {status}: {_error_text(response)[:300]}")
            try:
                body = response.json()
            except ValueError as exc:
                raise JobberResponseError(f"Jobber answered HTTP {status} with a body that is not JSON") from exc
            if not isinstance(body, dict):
                raise JobberResponseError("Jobber answered with JSON that is not an object")

            cost = QueryCost.from_extensions(body.get("extensions"))
            self._log_version_warning(body.get("extensions"))
            if cost is not None:
                self.last_cost = cost
                self.pacer.observe(cost)
                self._expected_cost[document] = (cost.requested, _number(payload["variables"].get("first")))
                self.stats.add(cost_requested=cost.requested, cost_actual=cost.actual or 0)

            errors = body.get("errors")
            if errors:
                if not isinstance(errors, list):
                    errors = [{"message": str(errors)}]
                errors = [e if isinstance(e, dict) else {"message": str(e)} for e in errors]
                codes = {str((e.get("extensions") or {}).get("code", "")) for e in errors}
                if "THROTTLED" in codes:
                    self.stats.add(throttled=1)
                    if cost is not None and cost.requested > cost.maximum_available:
                        raise self._too_expensive(payload, document, cost.requested, cost.maximum_available, errors)
                    requested = cost.requested if cost else expected
                    delay = self.pacer.throttled_wait(requested, cost)
                    attempt = self._retry_or_raise(
                        attempt,
                        JobberRateLimited(
                            "Jobber kept answering THROTTLED: the query-cost budget is exhausted.", retry_after=delay
                        ),
                        None,
                        delay=delay + self._rng.uniform(0, 0.25),
                    )
                    continue
                self._raise_graphql(errors)
            return body

    @staticmethod
    def _too_expensive(
        payload: Mapping[str, Any], document: str, requested: float, maximum: float, errors: list[dict[str, Any]]
    ) -> JobberQueryTooExpensive:
        name = _document_name(payload, document)
        return JobberQueryTooExpensive(
            f"Jobber will never run {name}: its requested cost ({requested:g} points) exceeds the query-cost "
            f"bucket's maximum (maximumAvailable {maximum:g}), so waiting cannot help. Ask for fewer nodes per "
            "page (first) or select fewer fields.",
            document=name,
            requested=requested,
            maximum=maximum,
            errors=errors,
        )

    def _estimate(self, document: str, variables: Mapping[str, Any]) -> float:
        """The cost this request will ask for: the document's last requested cost scaled by `first`, or
        before any answer, the estimate from Jobber's documented cost rules."""
        known = self._expected_cost.get(document)
        if known is None:
            try:
                return estimate_cost(document, variables)
            except Exception:  # noqa: BLE001 - an estimate must never break a call
                return 0.0
        requested, then = known
        now = _number(variables.get("first"))
        if then and now:
            return requested * now / then
        return requested

    def _retry_or_raise(
        self, attempt: int, error: Exception, cause: BaseException | None, *, delay: float | None = None
    ) -> int:
        if attempt >= self.max_retries:
            raise error from cause
        wait = self._backoff(attempt) if delay is None else delay
        remaining = self._remaining()
        if remaining is not None and wait > remaining:
            # Waiting would outlast the caller's time budget: give up now, the caller retries later.
            log.info("Jobber call not retried: %.2fs is more than the %.2fs left (%s)", wait, remaining, error)
            raise error from cause
        self.stats.add(retries=1)
        log.info("Jobber call will be retried in %.2fs (%s)", wait, error)
        self._sleep(wait)
        self._waited(wait)
        return attempt + 1

    def _raise_graphql(self, errors: list[dict[str, Any]]) -> None:
        messages = [str(e.get("message", "")) for e in errors]
        text = "; ".join(messages)[:500]
        if any(is_reconnect_message(m) for m in messages):
            raise ReconnectRequired(
                f"Jobber: {text}. Connect the app to Jobber again.", account_id=self.tokens.account_key
            )
        if any("hidden due to permissions" in m.lower() for m in messages):
            raise JobberPermissionError(
                f"Jobber hid data because the app lacks a scope: {text}. Add the scope to the app in Jobber's "
                "developer center and reconnect.",
                errors=errors,
            )
        raise JobberGraphQLError(f"Jobber answered with errors: {text}", errors=errors)

    def _log_version_warning(self, extensions: Any) -> None:
        if not isinstance(extensions, dict):
            return
        versioning = extensions.get("versioning")
        warning = versioning.get("warning") if isinstance(versioning, dict) else None
        if warning and str(warning) not in self._warned:
            self._warned.add(str(warning))
            log.warning("Jobber API version %s: %s", self.api_version, warning)


class _Budget:
    """A time budget: started at `start` (monotonic), `seconds` long. Time slept through the client's
    `sleep` counts even when that sleep does not pass real time (tests)."""

    def __init__(self, start: float, seconds: float) -> None:
        self.start = start
        self.seconds = seconds
        self.slept = 0.0

    def remaining(self) -> float:
        return self.seconds - max(time.monotonic() - self.start, self.slept)


def _document_name(payload: Mapping[str, Any], document: str) -> str:
    """How an error names a document: its operation name, else its first characters."""
    name = payload.get("operationName")
    if name:
        return f"the operation {name!r}"
    text = " ".join(document.split())
    return f"the document {text[:80] + ('...' if len(text) > 80 else '')!r}"


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) and value > 0 else None


def _error_text(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:300]
    if isinstance(body, dict):
        for key in ("message", "error_description", "error"):
            if body.get(key):
                return str(body[key])
        errors = body.get("errors")
        if isinstance(errors, list) and errors and isinstance(errors[0], dict):
            return str(errors[0].get("message", ""))
    return ""
