"""The pieces around the Jobber actions that need no network: tolerant models, the document loader,
the action registry and the Prefect tasks built from it."""

from __future__ import annotations

import inspect
from typing import Any

import pytest
from graphql import FragmentDefinitionNode, OperationDefinitionNode, parse

from tasks.jobber import prefect_tasks
from tasks.jobber.actions import ACTIONS, NOT_AVAILABLE
from tasks.jobber.documents import all_documents, load_document
from tasks.jobber.models import AddressInput, Client, Invoice, Job, LineItemInput, Quote, User, Visit
from tasks.retry import retry_transient

# -- tolerant models -------------------------------------------------------------------------------------


def test_unknown_enum_values_nulls_and_new_fields_parse() -> None:
    job = Job.model_validate(
        {
            "id": "Sm9i",
            "jobNumber": 7,
            "jobStatus": "paused_by_a_future_api_version",
            "title": None,
            "total": None,
            "client": None,
            "property": None,
            "visits": None,
            "lineItems": {"nodes": None, "edges": None},
            "brandNewField": {"anything": [1, 2]},
        }
    )
    assert job.job_status == "paused_by_a_future_api_version"
    assert job.title is None and job.client is None and job.visits == [] and job.line_items == []
    assert job.model_extra == {"brandNewField": {"anything": [1, 2]}}


def test_only_id_is_required() -> None:
    for model in (Job, Visit, Client, Invoice, Quote, User):
        assert model.model_validate({"id": "x"}).id == "x"
    with pytest.raises(ValueError, match="id"):
        Job.model_validate({"jobNumber": 1})


def test_connections_unwrap_to_lists_from_nodes_or_edges() -> None:
    visit = Visit.model_validate(
        {
            "id": "v",
            "visitStatus": "SOMETHING_NEW",
            "assignedUsers": {"edges": [{"node": {"id": "u1", "name": {"first": "Mike", "last": "Thompson"}}}]},
        }
    )
    assert visit.technician_names == ["Mike Thompson"]
    assert Visit.model_validate({"id": "v", "assignedUsers": None}).technician_names == []
    invoice = Invoice.model_validate({"id": "i", "jobs": {"nodes": [{"id": "j", "jobNumber": 3}, None]}})
    assert [j.job_number for j in invoice.jobs] == [3]


def test_client_contact_helpers_prefer_primary_and_sms() -> None:
    client = Client.model_validate(
        {
            "id": "c",
            "name": "Ada Lovelace",
            "emails": [
                {"address": "old@example.com", "primary": False},
                {"address": "ada@example.com", "primary": True},
            ],
            "phones": [
                {"number": "555-0100", "primary": True, "smsAllowed": False},
                {"number": "555-0199", "primary": False, "smsAllowed": True},
            ],
        }
    )
    assert client.primary_email == "ada@example.com"
    assert client.primary_phone == "555-0100"
    assert client.texting_phone().number == "555-0199"  # type: ignore[union-attr]
    bare = Client.model_validate({"id": "c", "emails": None, "phones": None, "firstName": "Bo", "lastName": None})
    assert bare.primary_email is None and bare.primary_phone is None and bare.texting_phone() is None
    assert bare.display_name == "Bo"


def test_models_accept_snake_case_and_dump_camel_case() -> None:
    job = Job(id="j", job_number=5, job_status="active")
    assert job.model_dump(by_alias=True, exclude_none=True)["jobNumber"] == 5
    assert Invoice.model_validate({"id": "i", "amounts": {"invoiceBalance": 10.5, "total": 20}}).amounts is not None


def test_address_and_line_item_inputs_use_jobbers_field_names() -> None:
    assert AddressInput(street1="1 Main", postal_code="78701").to_graphql() == {
        "street1": "1 Main",
        "postalCode": "78701",
    }
    assert LineItemInput(name="Gasket", unit_price=2.5).to_graphql() == {
        "name": "Gasket",
        "unitPrice": 2.5,
        "quantity": 1.0,
        "saveToProductsAndServices": False,
    }


# -- documents ------------------------------------------------------------------------------------------


def test_load_document_appends_the_fragments_it_uses_transitively() -> None:
    ast = parse(load_document("jobs/get"))
    operations = [d for d in ast.definitions if isinstance(d, OperationDefinitionNode)]
    fragments = {d.name.value for d in ast.definitions if isinstance(d, FragmentDefinitionNode)}
    assert [op.name.value for op in operations if op.name] == ["GetJob"]
    assert {"JobDetails", "JobSummary", "ClientContact", "PropertyFields", "UserSummary"} <= fragments


def test_load_document_refuses_unknown_names_and_fragments() -> None:
    with pytest.raises(FileNotFoundError):
        load_document("jobs/does_not_exist")
    with pytest.raises(FileNotFoundError):
        load_document("../schema/schema-2025-04-16")
    with pytest.raises(FileNotFoundError):
        load_document("fragments/job_summary")


def test_all_documents_lists_operations_only() -> None:
    names = set(all_documents())
    assert {"jobs/search", "jobs/close", "visits/uncomplete", "quotes/update_note"} <= names
    assert not any(name.startswith("fragments/") for name in names)


# -- registry and Prefect tasks ----------------------------------------------------------------------------


def test_registry_names_resources_and_includes_unavailable_actions() -> None:
    assert NOT_AVAILABLE <= ACTIONS.keys()
    assert {name.split(".")[0] for name in ACTIONS} == {
        "jobs", "visits", "clients", "invoices", "quotes", "properties", "tasks", "users", "expenses", "requests",
        "raw",
    }  # fmt: skip
    for name, action in ACTIONS.items():
        assert action.__doc__, f"{name} has no docstring"
        first = next(iter(inspect.signature(action).parameters))
        assert first == "client", f"{name} must take the Jobber client first"


def test_there_is_one_prefect_task_per_action() -> None:
    assert set(prefect_tasks.TASKS) == set(ACTIONS)
    for name, task in prefect_tasks.TASKS.items():
        # the same parameters (names, kinds, defaults, annotations: ``**changes: Unpack[...]`` included)
        action_params = list(inspect.signature(ACTIONS[name]).parameters.values())[1:]
        assert list(inspect.signature(task.fn).parameters.values()) == action_params, name
        assert task.fn.__doc__ == ACTIONS[name].__doc__


def test_keyword_options_keep_their_defaults_and_refuse_unknown_names() -> None:
    from tasks.jobber.actions import clients, invoices, jobs

    assert inspect.signature(clients.create_client).parameters["phone_sms_allowed"].default is True
    assert inspect.signature(jobs.create_job).parameters["invoicing_type"].default == "FIXED_PRICE"
    assert inspect.signature(invoices.search_invoices).parameters["limit"].default == 50
    nobody: Any = None  # the refusal comes before anything is sent
    with pytest.raises(TypeError, match="'subjekt': not a field of InvoiceEditInput"):
        invoices.update_invoice(nobody, "I1", subjekt="typo")  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="'state': not a field of InvoiceFilterAttributes"):
        invoices.search_invoices(nobody, state="paid")  # type: ignore[call-arg]


def test_keyword_options_build_the_input_as_before() -> None:
    from datetime import datetime

    from tasks.jobber.actions._inputs import fields_input, iso
    from tasks.jobber.actions.fields import InvoiceEditInput

    issued = datetime(2026, 12, 1, 9, 30)
    changes: InvoiceEditInput = {"subject": "x", "message": None, "issued_date": issued}
    assert fields_input(InvoiceEditInput, changes, issued_date=iso(issued)) == {
        "subject": "x",
        "issuedDate": "2026-12-01T09:30:00",
    }


def _is_mutation(name: str) -> bool:
    reads = ("search", "get")
    return name.split(".")[1] not in reads


@pytest.mark.parametrize("name", sorted(ACTIONS))
def test_mutations_never_retry_and_reads_retry_only_transient_errors(name: str) -> None:
    task = prefect_tasks.TASKS[name]
    if _is_mutation(name):
        assert task.retries == 0
    else:
        assert task.retries > 0 and task.retry_condition_fn is retry_transient


def test_task_run_names_say_what_they_do() -> None:
    rendered: dict[str, str] = {}
    calls: dict[str, dict[str, Any]] = {
        "jobs.close": {"job_id": "J1"},
        "visits.uncomplete": {"visit_id": "V1"},
        "clients.create": {"first_name": "Ada", "last_name": "Lovelace"},
        "jobs.search": {},
    }
    for name, params in calls.items():
        template = prefect_tasks.TASKS[name].task_run_name
        assert isinstance(template, str)
        rendered[name] = template.format(**params)
    assert rendered == {
        "jobs.close": "close job J1",
        "visits.uncomplete": "mark visit V1 incomplete",
        "clients.create": "create client Ada Lovelace",
        "jobs.search": "search jobs",
    }


def test_task_run_name_placeholders_are_parameters_of_the_action() -> None:
    import string

    for name, task in prefect_tasks.TASKS.items():
        template = task.task_run_name
        assert isinstance(template, str)
        fields = {f for _, f, _, _ in string.Formatter().parse(template) if f}
        assert fields <= set(inspect.signature(task.fn).parameters), name


def test_reads_retry_on_transient_errors_only() -> None:
    from prefect.states import Failed

    from tasks.errors import JobberRateLimited, JobberTransportError, JobberUserError

    should_retry = prefect_tasks.get_job.retry_condition_fn
    assert should_retry is not None
    run: Any = None
    assert should_retry(prefect_tasks.get_job, run, Failed(data=JobberTransportError("timed out")))
    assert should_retry(prefect_tasks.get_job, run, Failed(data=JobberRateLimited("throttled")))
    assert not should_retry(prefect_tasks.get_job, run, Failed(data=JobberUserError("bad id")))


def test_the_action_table_in_the_docs_lists_every_action() -> None:
    from pathlib import Path

    table = (Path(__file__).resolve().parents[2] / "docs" / "jobber-actions.md").read_text(encoding="utf-8")
    for name, action in ACTIONS.items():
        module = action.__module__.rsplit(".", 1)[-1]
        assert f"`{module}.{action.__name__}`" in table, f"{name} is missing from docs/jobber-actions.md"


# -- tolerant reading for the pipelines ---------------------------------------------------------------------


def test_read_sets_aside_wrong_values_and_says_which() -> None:
    job, problems = Job.read(
        {
            "id": "j1",
            "jobNumber": "12",
            "total": "abc",
            "allowReviewRequest": "no",
            "updatedAt": "not a date",
            "client": {"name": "no id"},
            "visits": {"nodes": [None, {"id": "v1", "startAt": "soon"}, {"title": "no id"}]},
        }
    )
    assert job.job_number == 12 and job.total is None and job.allow_review_request is None
    assert job.client is None and [v.id for v in job.visits] == ["v1"] and job.visits[0].start_at is None
    assert sorted(problems) == [
        "allowReviewRequest is 'no', expected true/false",
        "client.id: Field required",
        "total is 'abc', expected a number",
        "updatedAt is 'not a date', expected an ISO 8601 time",
        "visits.0.startAt is 'soon', expected an ISO 8601 time",
        "visits.1.id: Field required",
    ]
    with pytest.raises(ValueError, match="id"):
        Job.read({"title": "no id at all"})


def test_jobber_times_are_aware_whatever_zone_jobber_writes() -> None:
    from datetime import UTC, datetime, timedelta

    from tasks.jobber.models import parse_time

    assert parse_time("2026-12-01T23:11:31Z") == datetime(2026, 12, 1, 23, 11, 31, tzinfo=UTC)
    assert parse_time("2026-12-01T17:11:31-06:00") == datetime(2026, 12, 1, 23, 11, 31, tzinfo=UTC)
    assert parse_time("2026-12-01T23:11:31") == datetime(2026, 12, 1, 23, 11, 31, tzinfo=UTC)
    assert parse_time("2026-12-01") == datetime(2026, 12, 1, tzinfo=UTC)
    assert parse_time(datetime(2026, 12, 1, 23, 11, 31).date()) == datetime(2026, 12, 1, tzinfo=UTC)
    assert parse_time(datetime(2026, 12, 1, 23, 11, 31)) == datetime(2026, 12, 1, 23, 11, 31, tzinfo=UTC)
    assert parse_time("") is None and parse_time("tomorrow") is None and parse_time(None) is None
    offset = Job.model_validate({"id": "j", "completedAt": "2026-12-01T17:11:31-06:00"}).completed_at
    assert (
        offset is not None
        and offset.utcoffset() == timedelta(hours=-6)
        and offset == parse_time("2026-12-01T23:11:31Z")
    )
    assert Job.model_validate({"id": "j", "completedAt": "2026-12-01T23:11:31"}).completed_at.tzinfo is not None  # type: ignore[union-attr]


def test_address_on_one_line_and_for_a_notification() -> None:
    from tasks.jobber.models import Address

    full = Address.model_validate(
        {
            "street1": "4821 Barton Springs Rd",
            "street2": "Unit 2",
            "city": "Austin",
            "province": "TX",
            "postalCode": "78704",
        }
    )
    assert full.one_line == "4821 Barton Springs Rd, Unit 2, Austin, TX 78704"
    short = Address.model_validate({"street": "4821 Barton Springs Rd", "city": "Austin", "province": "TX"})
    assert short.one_line == "4821 Barton Springs Rd, Austin, TX"
    assert short.street_and_city == "4821 Barton Springs Rd, Austin" and short.city_and_province == "Austin, TX"
    assert Address().one_line == "" and Address().street_and_city == ""
