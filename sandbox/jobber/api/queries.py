"""The root queries: one record by id, the account, and every filtered, sorted list."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..models import (
    Client,
    Expense,
    Invoice,
    Job,
    Payment,
    Property,
    Quote,
    Record,
    Request,
    Task,
    User,
    Visit,
)
from .filters import (
    CLIENTS,
    EXPENSES,
    INVOICES,
    JOBS,
    PROPERTIES,
    QUOTES,
    REQUESTS,
    TASKS,
    USERS,
    VISITS,
    ListQuery,
)
from .resolution import RESOLVERS, Info, Resolver, gql_context, resolves


# -- root queries -------------------------------------------------------------------------------
def _by_id(cls: type[Record]) -> Resolver:
    def resolve(_: Any, info: Info, id: Any = None, **__: Any) -> Any:
        return gql_context(info).store.get(id, cls)

    return resolve


for _name, _cls in (
    ("client", Client),
    ("job", Job),
    ("visit", Visit),
    ("invoice", Invoice),
    ("quote", Quote),
    ("property", Property),
    ("task", Task),
    ("request", Request),
    ("expense", Expense),
    ("paymentRecord", Payment),
):
    RESOLVERS[("Query", _name)] = _by_id(_cls)


@resolves("Query", "account")
def account_resolver(_: Any, info: Info, **__: Any) -> Any:
    store = gql_context(info).store
    acct = store.account
    return {
        "__typename": "Account",
        "id": store.account_id,
        "name": acct.name,
        "createdAt": acct.created_at,
        "countryCode": acct.country_code,
        "phone": acct.phone,
        "mfaRequired": False,
    }


@resolves("Query", "user")
def _user(_: Any, info: Info, id: Any = None, **__: Any) -> Any:
    store = gql_context(info).store
    return store.get(id, User) if id else store.owner


def _list(cls: type[Record], query: ListQuery[Any]) -> Resolver:
    """A root list field: every record of the type, filtered, searched and sorted as its arguments say."""

    def resolve(
        _: Any,
        info: Info,
        filter: Mapping[str, Any] | None = None,
        sort: Any = None,
        searchTerm: str | None = None,
        **__: Any,
    ) -> list[Any]:
        return query.select(gql_context(info).store.rows(cls), filter, sort, searchTerm)

    return resolve


def _nested(relation: str, query: ListQuery[Any]) -> Resolver:
    """A record's list field (a client's jobs, a job's visits): filtered and sorted, never searched."""

    def resolve(source: Any, info: Info, filter: Mapping[str, Any] | None = None, sort: Any = None, **__: Any) -> Any:
        return query.select(list(getattr(source, relation)), filter, sort)

    return resolve


ROOT_LISTS: tuple[tuple[str, type[Record], ListQuery[Any]], ...] = (
    ("clients", Client, CLIENTS),
    ("jobs", Job, JOBS),
    ("visits", Visit, VISITS),
    ("invoices", Invoice, INVOICES),
    ("quotes", Quote, QUOTES),
    ("properties", Property, PROPERTIES),
    ("users", User, USERS),
    ("requests", Request, REQUESTS),
    ("tasks", Task, TASKS),
    ("expenses", Expense, EXPENSES),
    ("paymentRecords", Payment, ListQuery[Payment]()),
)
for _field, _rows, _query in ROOT_LISTS:
    RESOLVERS[("Query", _field)] = _list(_rows, _query)
for _parent, _relation, _query in (("Client", "jobs", JOBS), ("Property", "jobs", JOBS), ("Job", "visits", VISITS)):
    RESOLVERS[(_parent, _relation)] = _nested(_relation, _query)
