"""The mutations: each calls one store method; a ``UserError`` becomes ``userErrors`` beside empty fields."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ..ids import encode_id
from ..store import SandboxStore, UserError
from ..store.values import snake
from .queries import account_resolver
from .resolution import RESOLVERS, Info, Resolver, gql_context


# -- mutations ----------------------------------------------------------------------------------
def _mutation(type_name: str, field_name: str, empty: Mapping[str, Any]) -> Callable[[Resolver], Resolver]:
    """Register a mutation resolver; UserError becomes ``userErrors`` with ``empty`` for the other keys."""

    def deco(fn: Resolver) -> Resolver:
        def wrapper(source: Any, info: Info, **args: Any) -> Any:
            try:
                payload = fn(source, info, **args)
            except UserError as exc:
                return {**empty, "userErrors": [{"message": exc.message, "path": exc.path}]}
            payload.setdefault("userErrors", [])
            return payload

        RESOLVERS[(type_name, field_name)] = wrapper
        return fn

    return deco


def mutation(field_name: str, **empty: Any) -> Callable[[Resolver], Resolver]:
    return _mutation("Mutation", field_name, empty)


def _s(info: Info) -> SandboxStore:
    return gql_context(info).store


def _calls(key: str, field: str, arguments: tuple[str, ...]) -> Resolver:
    """A mutation that passes its arguments, in order, to the store method named after it (``clientEdit``:
    ``client_edit``) and answers the record it returns as ``key``."""
    method = getattr(SandboxStore, snake(field))

    def resolve(_: Any, info: Info, **args: Any) -> dict[str, Any]:
        return {key: method(_s(info), *(args[name] for name in arguments))}

    return resolve


# The mutations that answer one record, by the payload key it stands under: each field's arguments in order.
ONE_RECORD: dict[str, dict[str, tuple[str, ...]]] = {
    "client": {"clientCreate": ("input",), "clientEdit": ("clientId", "input"), "clientArchive": ("clientId",)},
    "property": {"propertyEdit": ("propertyId", "input")},
    "job": {"jobCreate": ("input",), "jobEdit": ("jobId", "input"), "jobReopen": ("jobId",)},
    "visit": {"visitEdit": ("id", "attributes"), "visitUncomplete": ("visitId",)},
    "visits": {"visitDelete": ("visitIds",)},
    "invoice": {"invoiceCreate": ("input",), "invoiceEdit": ("invoiceId", "input")},
    "quote": {"quoteCreate": ("attributes",), "quoteEdit": ("quoteId", "attributes")},
    "request": {"requestCreate": ("input",), "requestArchive": ("requestId",)},
    "task": {"taskEdit": ("taskId", "input")},
    "expense": {"expenseCreate": ("input",), "expenseEdit": ("expenseId", "input")},
    "deletedExpense": {"expenseDelete": ("expenseId",)},
    "user": {"userEdit": ("userId", "input")},
}
for _key, _fields in ONE_RECORD.items():
    for _field, _arguments in _fields.items():
        mutation(_field, **{_key: None})(_calls(_key, _field, _arguments))


@mutation("propertyCreate", client=None, properties=[])
def _property_create(_: Any, info: Info, clientId: Any, input: dict[str, Any]) -> dict[str, Any]:
    client, props = _s(info).property_create(clientId, input.get("properties") or [])
    return {"client": client, "properties": props}


@mutation("jobClose", job=None)
def _job_close(_: Any, info: Info, jobId: Any, input: dict[str, Any]) -> dict[str, Any]:
    mode = input.get("modifyIncompleteVisitsBy") or "COMPLETE_PAST_DESTROY_FUTURE"
    return {"job": _s(info).job_close(jobId, mode, input.get("completedOn"))}


@mutation("visitCreate", createdVisits=[], job=None)
def _visit_create(_: Any, info: Info, jobId: Any, input: dict[str, Any]) -> dict[str, Any]:
    job, visits = _s(info).visit_create(jobId, input.get("visits") or [])
    return {"job": job, "createdVisits": visits}


@mutation("visitComplete", visit=None)
def _visit_complete(
    _: Any,
    info: Info,
    visitId: Any,
    input: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {"visit": _s(info).visit_complete(visitId, (input or {}).get("completedAt"))}


@mutation("visitCreateLineItems", visit=None)
def _visit_line_items(_: Any, info: Info, visitId: Any, input: dict[str, Any]) -> dict[str, Any]:
    return {"visit": _s(info).visit_create_line_items(visitId, input.get("lineItems") or [])}


@mutation("quoteCreateNote", quote=None, quoteNote=None)
def _quote_create_note(_: Any, info: Info, quoteId: Any, input: dict[str, Any]) -> dict[str, Any]:
    quote, note = _s(info).quote_create_note(quoteId, input)
    return {"quote": quote, "quoteNote": note}


@mutation("quoteEditNote", quote=None, quoteNote=None)
def _quote_edit_note(_: Any, info: Info, input: dict[str, Any]) -> dict[str, Any]:
    quote, note = _s(info).quote_edit_note(input)
    return {"quote": quote, "quoteNote": note}


@mutation("taskCreate", task=None)
def _task_create(
    _: Any,
    info: Info,
    input: dict[str, Any],
    clientId: Any = None,
    propertyId: Any = None,
    **__: Any,
) -> dict[str, Any]:
    return {"task": _s(info).task_create(input, clientId, propertyId)}


@mutation("taskDelete", deletedTasks=[])
def _task_delete(_: Any, info: Info, taskIds: list[Any], **__: Any) -> dict[str, Any]:
    return {"deletedTasks": _s(info).task_delete(taskIds)}


@mutation("webhookEndpointCreate", webhookEndpoint=None)
def _webhook_endpoint_create(_: Any, info: Info, input: dict[str, Any]) -> dict[str, Any]:
    store = _s(info)
    ep = store.webhook_endpoint_create(input.get("topic") or "", input.get("url") or "")
    return {
        "webhookEndpoint": {
            "__typename": "WebhookEndpoint",
            "id": ep.id,
            "topic": ep.topic,
            "url": ep.url,
            "createdAt": ep.created_at,
            "updatedAt": ep.updated_at,
            "account": account_resolver(None, info),
            "app": _app(store),
        }
    }


def _app(store: SandboxStore) -> dict[str, Any]:
    return {
        "__typename": "Application",
        "id": encode_id("Application", 1),
        "name": "Sandbox App",
        "displayName": "Sandbox App",
        "author": "jobberflow",
        "description": "Local Jobber sandbox app",
    }


@mutation("appDisconnect", app=None)
def _app_disconnect(_: Any, info: Info) -> dict[str, Any]:
    ctx = gql_context(info)
    ctx.after_execute.append(ctx.store.disconnect)  # tokens die after this response is built
    return {"app": _app(ctx.store)}
