"""What the action modules share: one ``Resource`` per Jobber resource (its get, search and mutation
shapes), building input objects, and refusing unavailable actions.

Every action is a typed public function (its name, parameters and docstring are the library's API and
mirror Make.com's Jobber action); its body says only what differs: which document, which input fields,
which payload. ``Resource`` does the rest the same way for all: load the document (with its fragments),
send it through the client (which raises typed errors, ``userErrors`` included), insist that a
successful mutation returned its object, and validate the answer into the resource's model.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Generic, NoReturn, TypeVar

from pydantic import BaseModel
from pydantic.alias_generators import to_camel

from tasks.errors import JobberResponseError, NotAvailableInJobberAPI
from tasks.jobber.client import JobberClient
from tasks.jobber.documents import load_document
from tasks.jobber.models import JobberModel

M = TypeVar("M", bound=JobberModel)
B = TypeVar("B", bound=BaseModel)

NEWEST_FIRST = [{"key": "UPDATED_AT", "direction": "DESCENDING"}]
"""The sort of most searches: most recently updated first."""


def compact(values: Mapping[str, Any]) -> dict[str, Any]:
    """Drop the ``None`` values: an input field left out means "leave unchanged" to Jobber."""
    return {key: value for key, value in values.items() if value is not None}


def fields_input(declared: Any, given: Mapping[str, Any], **values: Any) -> dict[str, Any]:
    """An input object from an action's keyword options ``given`` (typed by ``declared``, a ``TypedDict`` of
    ``fields.py`` named after Jobber's input type) plus ``values`` (the converted ones, which replace a given
    value of the same name), keys camel-cased, ``None`` left out. A key ``declared`` does not name raises
    ``TypeError``, as an unknown keyword argument does (mypy already refuses it in checked code)."""
    unknown = sorted(set(given) - declared.__required_keys__ - declared.__optional_keys__)
    if unknown:
        raise TypeError(f"unexpected keyword argument {unknown[0]!r}: not a field of {declared.__name__}")
    return compact({to_camel(name): value for name, value in {**given, **values}.items()})


def model_input(model: type[B], arguments: Mapping[str, Any]) -> B:
    """An input model (``LineItemInput``) from an action's own arguments (its ``locals()``): the actions
    name those parameters as the model's fields, so each field is taken by its name."""
    return model.model_validate({name: arguments[name] for name in model.model_fields})


def iso(value: date | datetime | None) -> str | None:
    """An ISO 8601 string for Jobber's ``ISO8601Date``/``ISO8601DateTime`` scalars."""
    return None if value is None else value.isoformat()


def require(payload: Mapping[str, Any], key: str, operation: str) -> Any:
    """``payload[key]``, or ``JobberResponseError`` when a successful mutation returned no object."""
    value = payload.get(key)
    if value is None:
        raise JobberResponseError(f"Jobber's {operation} answered without userErrors and without `{key}`")
    return value


def not_available(action: str, instead: str) -> NoReturn:
    """Raise ``NotAvailableInJobberAPI`` for a Make.com action Jobber's API cannot do."""
    raise NotAvailableInJobberAPI(f"{action}: not offered by Jobber's API. {instead}")


@dataclass(frozen=True)
class Resource(Generic[M]):
    """One Jobber resource: its documents ``documents/<folder>/<action>.graphql``, the root field its
    single-record query and mutation payloads answer in (``"job"``), and its model."""

    folder: str
    root: str
    model: type[M]

    def get(self, client: JobberClient, item_id: str) -> M | None:
        """``<folder>/get`` for one id: the record, or None when Jobber answers null."""
        node = client.execute(load_document(f"{self.folder}/get"), {"id": item_id}).get(self.root)
        return None if node is None else self.model.model_validate(node)

    def search(
        self,
        client: JobberClient,
        *,
        limit: int,
        search_term: str | None = None,
        filter: Mapping[str, Any] | None = None,  # noqa: A002 - Jobber's argument name
        sort: Any = None,
        updated_after: datetime | None = None,
    ) -> list[M]:
        """``<folder>/search``, page after page up to ``limit`` records. ``updated_after`` adds
        ``{"updatedAt": {"after": ...}}`` to the filter (the resources that support incremental reads); the
        filter's None values, and an empty filter, are left out."""
        where = compact({**(filter or {}), "updatedAt": {"after": iso(updated_after)} if updated_after else None})
        variables = compact({"searchTerm": search_term, "filter": where or None, "sort": sort})
        nodes = client.paginate(load_document(f"{self.folder}/search"), variables, path=[self.folder], limit=limit)
        return [self.model.model_validate(node) for node in nodes]

    def send(self, client: JobberClient, action: str, variables: Mapping[str, Any], payload: str) -> dict[str, Any]:
        """Run the mutation ``<folder>/<action>`` and return its payload (``userErrors`` raise)."""
        return client.mutate(load_document(f"{self.folder}/{action}"), variables, payload=payload)

    def mutate(
        self, client: JobberClient, action: str, variables: Mapping[str, Any], payload: str, *, key: str | None = None
    ) -> M:
        """Run the mutation and return the record its payload holds under ``key`` (default: the root)."""
        answer = self.send(client, action, variables, payload)
        return self.model.model_validate(require(answer, key or self.root, payload))

    def create_one(
        self, client: JobberClient, action: str, variables: Mapping[str, Any], payload: str, *, key: str, owner: str
    ) -> M:
        """A mutation that answers a list of created records (``createdVisits``): the last one, which is
        the one just created; ``ValueError`` naming ``owner`` when Jobber created none."""
        created = require(self.send(client, action, variables, payload), key, payload)
        if not created:
            raise ValueError(f"Jobber created no {self.root} {owner}")
        return self.model.model_validate(created[-1])
