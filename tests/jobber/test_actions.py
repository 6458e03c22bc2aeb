"""Every available Jobber action, end to end against the local Jobber sandbox.

Read-only tests use the session's seeded sandbox (the shared ``jobber`` fixture). Tests that change data
use this module's own sandbox (``writer``), so other test modules keep seeing the pristine seed.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tasks.errors import JobberUserError, NotAvailableInJobberAPI
from tasks.jobber.actions import (
    ACTIONS,
    NOT_AVAILABLE,
    clients,
    expenses,
    invoices,
    jobs,
    properties,
    quotes,
    raw,
    requests,
    users,
    visits,
    work_tasks,
)
from tasks.jobber.client import JobberClient
from tasks.jobber.models import AddressInput, Client, Job, LineItemInput, Property


def missing_id(type_name: str) -> str:
    """A well-formed EncodedId that names nothing."""
    return base64.b64encode(f"gid://Jobber/{type_name}/987654321".encode()).decode()


@pytest.fixture(scope="module")
def writer() -> Iterator[JobberClient]:
    """A client on a sandbox of its own, for tests that create, change and delete records."""
    from sandbox.jobber import SandboxConfig, SandboxServer
    from tasks.jobber.auth import StaticTokenProvider

    with SandboxServer(SandboxConfig(seed=11, clients=10, jobs=12, invoices=8, quotes=6)) as server:
        client = JobberClient(
            graphql_url=server.url + "/api/graphql",
            api_version="2025-04-16",
            tokens=StaticTokenProvider(server.issue_tokens()["access_token"]),
        )
        yield client
        client.close()


@pytest.fixture(scope="module")
def customer(writer: JobberClient) -> Client:
    return clients.create_client(
        writer,
        first_name="Ada",
        last_name="Lovelace",
        email="ada@example.com",
        phone="+15125550142",
        billing_address=AddressInput(street1="1 Analytical Way", city="Austin", province="TX", postal_code="78701"),
    )


@pytest.fixture(scope="module")
def site(writer: JobberClient, customer: Client) -> Property:
    return properties.create_property(
        writer,
        customer.id,
        address=AddressInput(street1="12 Engine St", city="Austin", province="TX", postal_code="78702", country="US"),
        name="Workshop",
    )


@pytest.fixture(scope="module")
def job(writer: JobberClient, site: Property) -> Job:
    return jobs.create_job(
        writer,
        property_id=site.id,
        title="Difference engine tune-up",
        instructions="Oil the gears",
        line_items=[LineItemInput(name="Tune-up", unit_price=180.0)],
    )


# -- searches and gets on seeded data ------------------------------------------------------------------


def test_search_jobs_returns_seeded_jobs_most_recently_updated_first(jobber: JobberClient) -> None:
    found = jobs.search_jobs(jobber, limit=15)
    assert 0 < len(found) <= 15
    assert all(j.id and j.job_number for j in found)
    stamps = [j.updated_at for j in found if j.updated_at]
    assert stamps == sorted(stamps, reverse=True)


def test_search_jobs_finds_the_seeded_water_heater_job(jobber: JobberClient) -> None:
    found = jobs.search_jobs(jobber, search_term="Water Heater Installation", limit=5)
    assert any(j.job_number == 1042 for j in found), [j.title for j in found]


def test_search_jobs_by_status_only_returns_that_status(jobber: JobberClient) -> None:
    found = jobs.search_jobs(jobber, status="archived", limit=10)
    assert found and all(j.job_status == "archived" for j in found)


def test_get_job_has_client_property_and_technicians(jobber: JobberClient) -> None:
    (seeded,) = [
        j for j in jobs.search_jobs(jobber, search_term="Water Heater Installation", limit=5) if j.job_number == 1042
    ]
    full = jobs.get_job(jobber, seeded.id)
    assert full is not None and full.client is not None
    assert full.client.display_name == "John Smith"
    assert full.client.primary_phone
    assert full.property is not None and full.property.address is not None and full.property.address.city
    technicians = [name for visit in full.visits for name in visit.technician_names]
    assert "Mike Thompson" in technicians


def test_get_with_an_unknown_id_returns_none(jobber: JobberClient) -> None:
    assert jobs.get_job(jobber, missing_id("Job")) is None
    assert clients.get_client(jobber, missing_id("Client")) is None
    assert invoices.get_invoice(jobber, missing_id("Invoice")) is None
    assert quotes.get_quote(jobber, missing_id("Quote")) is None
    assert properties.get_property(jobber, missing_id("Property")) is None
    assert visits.get_visit(jobber, missing_id("Visit")) is None
    assert work_tasks.get_task(jobber, missing_id("Task")) is None


def test_search_clients_finds_john_smith_with_contact_details(jobber: JobberClient) -> None:
    found = clients.search_clients(jobber, search_term="John Smith", limit=10)
    john = next(c for c in found if c.display_name == "John Smith")
    assert john.primary_phone and (texting := john.texting_phone()) and texting.sms_allowed
    assert john.primary_email and "@" in john.primary_email


def test_search_clients_updated_after_filters_old_ones(jobber: JobberClient) -> None:
    everyone = clients.search_clients(jobber, limit=200)
    future = clients.search_clients(jobber, updated_after=datetime.now(UTC) + timedelta(days=1), limit=200)
    assert everyone and not future


def test_search_invoices_and_get_one_with_amounts(jobber: JobberClient) -> None:
    found = invoices.search_invoices(jobber, limit=5)
    assert found and all(i.invoice_number for i in found)
    invoice = invoices.get_invoice(jobber, found[0].id)
    assert invoice is not None and invoice.amounts is not None and invoice.amounts.total is not None
    assert invoice.invoice_status


def test_search_invoices_by_status(jobber: JobberClient) -> None:
    paid = invoices.search_invoices(jobber, status="paid", limit=10)
    assert paid and all(i.invoice_status == "paid" and i.is_paid for i in paid)


def test_search_and_get_quotes(jobber: JobberClient) -> None:
    found = quotes.search_quotes(jobber, limit=5)
    assert found and all(q.quote_number for q in found)
    quote = quotes.get_quote(jobber, found[0].id)
    assert quote is not None and quote.quote_status and quote.amounts is not None


def test_search_and_get_properties(jobber: JobberClient) -> None:
    found = properties.search_properties(jobber, limit=5)
    assert found and all(p.address is not None for p in found)
    prop = properties.get_property(jobber, found[0].id)
    assert prop is not None and prop.id == found[0].id


def test_search_users_returns_the_team_with_names(jobber: JobberClient) -> None:
    team = users.search_users(jobber)
    assert "Mike Thompson" in [u.full_name for u in team]


def test_raw_api_call_returns_data(jobber: JobberClient) -> None:
    data = raw.make_api_call(jobber, "query Me { account { id name } }")
    assert data["account"]["id"]
    data = raw.make_api_call(
        jobber,
        "query Few($first: Int) { clients(first: $first) { nodes { id name } } }",
        {"first": 2},
    )
    assert len(data["clients"]["nodes"]) == 2


# -- clients, properties, jobs, visits -----------------------------------------------------------------


def test_create_client_keeps_email_phone_and_address(customer: Client) -> None:
    assert customer.first_name == "Ada" and customer.last_name == "Lovelace"
    assert customer.primary_email == "ada@example.com"
    assert customer.primary_phone and customer.primary_phone.endswith("0142")
    assert customer.billing_address is not None and customer.billing_address.city == "Austin"


def test_update_client(writer: JobberClient, customer: Client) -> None:
    updated = clients.update_client(
        writer, customer.id, company_name="Analytical Engines Ltd", add_email="billing@example.com"
    )
    assert updated.company_name == "Analytical Engines Ltd"
    assert {"ada@example.com", "billing@example.com"} <= {e.address for e in updated.emails}


def test_create_update_and_find_property(writer: JobberClient, customer: Client, site: Property) -> None:
    assert site.address is not None and site.address.street1 == "12 Engine St"
    moved = properties.update_property(writer, site.id, address=AddressInput(street2="Unit 2"), name="Workshop B")
    assert moved.name == "Workshop B"
    assert moved.address is not None and moved.address.street2 == "Unit 2"
    assert moved.address.street1 == "12 Engine St", "an address edit must keep the parts not given"
    assert site.id in [p.id for p in properties.search_properties(writer, client_id=customer.id)]


def test_create_and_update_job(writer: JobberClient, job: Job, customer: Client) -> None:
    assert job.title == "Difference engine tune-up"
    assert job.client is not None and job.client.id == customer.id
    assert [item.name for item in job.line_items] == ["Tune-up"]
    updated = jobs.update_job(writer, job.id, title="Engine tune-up", instructions="Oil the gears twice")
    assert updated.title == "Engine tune-up"
    fetched = jobs.get_job(writer, job.id)
    assert fetched is not None and fetched.instructions == "Oil the gears twice"


def test_visit_lifecycle(writer: JobberClient, job: Job) -> None:
    mike = next(u for u in users.search_users(writer) if u.full_name)
    start = datetime(2030, 5, 6, 9, 30, tzinfo=UTC)
    visit = visits.create_visit(
        writer,
        job.id,
        title="Inspection",
        start_at=start,
        end_at=start + timedelta(hours=2),
        timezone="America/Chicago",
        assigned_user_ids=[mike.id],
    )
    assert visit.title == "Inspection" and not visit.is_complete
    assert mike.full_name in visit.technician_names

    renamed = visits.update_visit(writer, visit.id, title="Full inspection", instructions="Bring the manual")
    assert renamed.title == "Full inspection" and renamed.instructions == "Bring the manual"

    done = visits.complete_visit(writer, visit.id)
    assert done.is_complete and done.completed_at is not None
    undone = visits.uncomplete_visit(writer, visit.id)
    assert not undone.is_complete

    with_item = visits.add_visit_line_item(writer, visit.id, name="Gasket", unit_price=12.5, quantity=2)
    assert with_item.id == visit.id
    job_items = jobs.get_job(writer, job.id)
    assert job_items is not None and "Gasket" in [item.name for item in job_items.line_items]

    assert visits.delete_visit(writer, visit.id) == visit.id
    assert visits.get_visit(writer, visit.id) is None


def test_close_job_archives_it_and_reopen_brings_it_back(writer: JobberClient, job: Job) -> None:
    closed = jobs.close_job(writer, job.id)
    assert closed.job_status == "archived" and closed.is_closed
    reopened = jobs.reopen_job(writer, job.id)
    assert reopened.job_status != "archived"


def test_mutation_on_an_unknown_id_raises_user_error(writer: JobberClient) -> None:
    with pytest.raises(JobberUserError) as caught:
        jobs.close_job(writer, missing_id("Job"))
    assert caught.value.user_errors and caught.value.user_errors[0]["message"]


def test_invalid_input_raises_user_error(writer: JobberClient) -> None:
    with pytest.raises(JobberUserError):
        jobs.create_job(writer, property_id=missing_id("Property"), title="Nowhere")


# -- invoices, quotes ----------------------------------------------------------------------------------


def test_update_invoice(writer: JobberClient) -> None:
    invoice = invoices.search_invoices(writer, limit=1)[0]
    updated = invoices.update_invoice(writer, invoice.id, subject="For services rendered", message="Thank you!")
    assert updated.subject == "For services rendered"
    fetched = invoices.get_invoice(writer, invoice.id)
    assert fetched is not None and fetched.message == "Thank you!"


def test_quote_create_update_and_notes(writer: JobberClient, customer: Client, site: Property) -> None:
    quote = quotes.create_quote(
        writer,
        client_id=customer.id,
        property_id=site.id,
        title="New boiler",
        line_items=[LineItemInput(name="Boiler", unit_price=2400.0), LineItemInput(name="Labour", unit_price=300.0)],
    )
    assert quote.title == "New boiler" and quote.quote_status == "draft"
    assert quote.amounts is not None and quote.amounts.total is not None and quote.amounts.total >= 2700.0

    updated = quotes.update_quote(writer, quote.id, title="New boiler (revised)", message="Valid 30 days")
    assert updated.title == "New boiler (revised)"

    note = quotes.create_quote_note(writer, quote.id, message="Client prefers mornings")
    assert note.message == "Client prefers mornings"
    edited = quotes.update_quote_note(writer, note.id, message="Client prefers afternoons", pinned=True)
    assert edited.id == note.id and edited.message == "Client prefers afternoons" and edited.pinned

    assert quote.id in [q.id for q in quotes.search_quotes(writer, client_id=customer.id)]
    fetched = quotes.get_quote(writer, quote.id)
    assert fetched is not None and fetched.title == "New boiler (revised)"


def test_get_quote_reads_back_its_line_items(writer: JobberClient, customer: Client, site: Property) -> None:
    quote = quotes.create_quote(
        writer, client_id=customer.id, property_id=site.id, line_items=[LineItemInput(name="Boiler", unit_price=1.0)]
    )
    fetched = quotes.get_quote(writer, quote.id)
    assert fetched is not None and [item.name for item in fetched.line_items] == ["Boiler"]


# -- tasks, expenses, requests -------------------------------------------------------------------------


def test_task_lifecycle(writer: JobberClient, customer: Client) -> None:
    start = datetime(2030, 6, 1, 15, 0, tzinfo=UTC)
    created = work_tasks.create_task(
        writer, title="Call about parts", start_at=start, end_at=start + timedelta(minutes=30), client_id=customer.id
    )
    assert created.title == "Call about parts"
    updated = work_tasks.update_task(writer, created.id, title="Call about parts (urgent)", instructions="Ask Ada")
    assert updated.title == "Call about parts (urgent)"
    fetched = work_tasks.get_task(writer, created.id)
    assert fetched is not None and fetched.instructions == "Ask Ada"
    assert work_tasks.delete_task(writer, created.id) == created.id
    assert work_tasks.get_task(writer, created.id) is None


def test_expense_lifecycle(writer: JobberClient, job: Job) -> None:
    spent = datetime(2030, 6, 2, 12, 0, tzinfo=UTC)
    created = expenses.create_expense(writer, title="Gaskets", date=spent, total=24.5, linked_job_id=job.id)
    assert created.title == "Gaskets" and created.total == 24.5
    assert created.linked_job is not None and created.linked_job.id == job.id
    updated = expenses.update_expense(writer, created.id, total=30.0, description="Two packs")
    assert updated.total == 30.0 and updated.description == "Two packs"
    assert expenses.delete_expense(writer, created.id) == created.id
    assert expenses.get_expense(writer, created.id) is None


def test_request_create_and_archive(writer: JobberClient, customer: Client, site: Property) -> None:
    created = requests.create_request(writer, client_id=customer.id, property_id=site.id, title="Leaky tap")
    assert created.title == "Leaky tap"
    assert created.client is not None and created.client.id == customer.id
    archived = requests.archive_request(writer, created.id)
    assert archived.request_status == "archived"


def test_archive_client(writer: JobberClient) -> None:
    someone = clients.create_client(writer, first_name="Temp", last_name="Client")
    archived = clients.archive_client(writer, someone.id)
    assert archived.is_archived is True
    assert someone.id in [c.id for c in clients.search_clients(writer, is_archived=True, limit=200)]


# -- what Jobber's API does not offer ------------------------------------------------------------------

UNAVAILABLE_CALLS: dict[str, tuple[tuple[Any, ...], dict[str, Any], str]] = {
    "users.create": ((), {"first_name": "New", "last_name": "Hire"}, "Settings > Manage Team"),
    "quotes.close": (("quote-id",), {}, "no quoteClose"),
    "tasks.archive": (("task-id",), {}, "Delete the task"),
}


def test_every_unavailable_action_is_tested() -> None:
    assert set(UNAVAILABLE_CALLS) == NOT_AVAILABLE


@pytest.mark.parametrize("name", sorted(UNAVAILABLE_CALLS))
def test_unavailable_actions_raise_with_what_to_do_instead(name: str, writer: JobberClient) -> None:
    args, kwargs, advice = UNAVAILABLE_CALLS[name]
    requests_before = writer.stats.requests
    with pytest.raises(NotAvailableInJobberAPI) as caught:
        ACTIONS[name](writer, *args, **kwargs)
    assert "not offered by Jobber's API" in str(caught.value)
    assert advice in str(caught.value)
    assert writer.stats.requests == requests_before, "an unavailable action must not call Jobber"
