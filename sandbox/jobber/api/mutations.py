"""The mutations: each calls one store method; a ``UserError`` becomes ``userErrors`` beside empty fields."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ..ids import encode_id
from ..store import SandboxStore, UserError
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


@mutation("clientCreate", client=None)
def _client_create(_: Any, info: Info, input: dict[str, Any]) -> dict[str, Any]:
    return {"client": _s(info).client_create(input)}


@mutation("clientEdit", client=None)
def _client_edit(_: Any, info: Info, clientId: Any, input: dict[str, Any]) -> dict[str, Any]:
    return {"client": _s(info).client_edit(clientId, input)}


@mutation("clientArchive", client=None)
def _client_archive(_: Any, info: Info, clientId: Any) -> dict[str, Any]:
    return {"client": _s(info).client_archive(clientId)}


@mutation("propertyCreate", client=None, properties=[])
def _property_create(_: Any, info: Info, clientId: Any, input: dict[str, Any]) -> dict[str, Any]:
    client, props = _s(info).property_create(clientId, input.get("properties") or [])
    return {"client": client, "properties": props}


@mutation("propertyEdit", property=None)
def _property_edit(_: Any, info: Info, propertyId: Any, input: dict[str, Any]) -> dict[str, Any]:
    return {"property": _s(info).property_edit(propertyId, input)}


@mutation("jobCreate", job=None)
def _job_create(_: Any, info: Info, input: dict[str, Any]) -> dict[str, Any]:
    return {"job": _s(info).job_create(input)}


@mutation("jobEdit", job=None)
def _job_edit(_: Any, info: Info, jobId: Any, input: dict[str, Any]) -> dict[str, Any]:
    return {"job": _s(info).job_edit(jobId, input)}


@mutation("jobClose", job=None)
def _job_close(_: Any, info: Info, jobId: Any, input: dict[str, Any]) -> dict[str, Any]:
    mode = input.get("modifyIncompleteVisitsBy") or "COMPLETE_PAST_DESTROY_FUTURE"
    return {"job": _s(info).job_close(jobId, mode, input.get("completedOn"))}


@mutation("jobReopen", job=None)
def _job_reopen(_: Any, info: Info, jobId: Any) -> dict[str, Any]:
    return {"job": _s(info).job_reopen(jobId)}


@mutation("visitCreate", createdVisits=[], job=None)
def _visit_create(_: Any, info: Info, jobId: Any, input: dict[str, Any]) -> dict[str, Any]:
    job, visits = _s(info).visit_create(jobId, input.get("visits") or [])
    return {"job": job, "createdVisits": visits}


@mutation("visitEdit", visit=None)
def _visit_edit(_: Any, info: Info, id: Any, attributes: dict[str, Any]) -> dict[str, Any]:
    return {"visit": _s(info).visit_edit(id, attributes)}


@mutation("visitDelete", visits=None)
def _visit_delete(_: Any, info: Info, visitIds: list[Any]) -> dict[str, Any]:
    return {"visits": _s(info).visit_delete(visitIds)}


@mutation("visitComplete", visit=None)
def _visit_complete(
    _: Any,
    info: Info,
    visitId: Any,
    input: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {"visit": _s(info).visit_complete(visitId, (input or {}).get("completedAt"))}


@mutation("visitUncomplete", visit=None)
def _visit_uncomplete(_: Any, info: Info, visitId: Any) -> dict[str, Any]:
    return {"visit": _s(info).visit_uncomplete(visitId)}


@mutation("visitCreateLineItems", visit=None)
def _visit_line_items(_: Any, info: Info, visitId: Any, input: dict[str, Any]) -> dict[str, Any]:
    return {"visit": _s(info).visit_create_line_items(visitId, input.get("lineItems") or [])}


@mutation("invoiceCreate", invoice=None)
def _invoice_create(_: Any, info: Info, input: dict[str, Any]) -> dict[str, Any]:
    return {"invoice": _s(info).invoice_create(input)}


@mutation("invoiceEdit", invoice=None)
def _invoice_edit(_: Any, info: Info, invoiceId: Any, input: dict[str, Any]) -> dict[str, Any]:
    return {"invoice": _s(info).invoice_edit(invoiceId, input)}


@mutation("quoteCreate", quote=None)
def _quote_create(_: Any, info: Info, attributes: dict[str, Any]) -> dict[str, Any]:
    return {"quote": _s(info).quote_create(attributes)}


@mutation("quoteEdit", quote=None)
def _quote_edit(_: Any, info: Info, quoteId: Any, attributes: dict[str, Any]) -> dict[str, Any]:
    return {"quote": _s(info).quote_edit(quoteId, attributes)}


@mutation("quoteCreateNote", quote=None, quoteNote=None)
def _quote_create_note(_: Any, info: Info, quoteId: Any, input: dict[str, Any]) -> dict[str, Any]:
    quote, note = _s(info).quote_create_note(quoteId, input)
    return {"quote": quote, "quoteNote": note}


@mutation("quoteEditNote", quote=None, quoteNote=None)
def _quote_edit_note(_: Any, info: Info, input: dict[str, Any]) -> dict[str, Any]:
    quote, note = _s(info).quote_edit_note(input)
    return {"quote": quote, "quoteNote": note}


@mutation("requestCreate", request=None)
def _request_create(_: Any, info: Info, input: dict[str, Any]) -> dict[str, Any]:
    return {"request": _s(info).request_create(input)}


@mutation("requestArchive", request=None)
def _request_archive(_: Any, info: Info, requestId: Any) -> dict[str, Any]:
    return {"request": _s(info).request_archive(requestId)}


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


@mutation("taskEdit", task=None)
def _task_edit(_: Any, info: Info, taskId: Any, input: dict[str, Any]) -> dict[str, Any]:
    return {"task": _s(info).task_edit(taskId, input)}


@mutation("taskDelete", deletedTasks=[])
def _task_delete(_: Any, info: Info, taskIds: list[Any], **__: Any) -> dict[str, Any]:
    return {"deletedTasks": _s(info).task_delete(taskIds)}


@mutation("expenseCreate", expense=None)
def _expense_create(_: Any, info: Info, input: dict[str, Any]) -> dict[str, Any]:
    return {"expense": _s(info).expense_create(input)}


@mutation("expenseEdit", expense=None)
def _expense_edit(_: Any, info: Info, expenseId: Any, input: dict[str, Any]) -> dict[str, Any]:
    return {"expense": _s(info).expense_edit(expenseId, input)}


@mutation("expenseDelete", deletedExpense=None)
def _expense_delete(_: Any, info: Info, expenseId: Any) -> dict[str, Any]:
    return {"deletedExpense": _s(info).expense_delete(expenseId)}


@mutation("userEdit", user=None)
def _user_edit(_: Any, info: Info, userId: Any, input: dict[str, Any]) -> dict[str, Any]:
    return {"user": _s(info).user_edit(userId, input)}


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
