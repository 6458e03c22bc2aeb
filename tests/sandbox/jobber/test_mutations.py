"""Mutations through GraphQL: real payload shapes, userErrors for bad input, state changes."""

from __future__ import annotations

import pytest

from sandbox.jobber.ids import encode_id
from sandbox.jobber.models import Expense

from .conftest import Gql

MISSING_JOB = encode_id("Job", 987_654)


@pytest.mark.parametrize(
    ("document", "variables", "field"),
    [
        (
            "mutation($id: EncodedId!) { jobClose(jobId: $id, input: {modifyIncompleteVisitsBy: DESTROY_ALL}) "
            "{ job { id } userErrors { message path } } }",
            {"id": MISSING_JOB},
            "jobClose",
        ),
        (
            "mutation($id: EncodedId!) { jobReopen(jobId: $id) { job { id } userErrors { message path } } }",
            {"id": MISSING_JOB},
            "jobReopen",
        ),
        (
            'mutation($id: EncodedId!) { clientEdit(clientId: $id, input: {firstName: "X"}) '
            "{ client { id } userErrors { message path } } }",
            {"id": encode_id("Client", 424_242)},
            "clientEdit",
        ),
        (
            "mutation($id: EncodedId!) { visitComplete(visitId: $id) { visit { id } userErrors { message path } } }",
            {"id": "garbage"},
            "visitComplete",
        ),
        (
            'mutation($id: EncodedId!) { invoiceEdit(invoiceId: $id, input: {subject: "x"}) '
            "{ invoice { id } userErrors { message path } } }",
            {"id": MISSING_JOB},
            "invoiceEdit",
        ),
        (
            'mutation($id: EncodedId!) { quoteCreateNote(quoteId: $id, input: {message: "hi"}) '
            "{ quoteNote { id } userErrors { message path } } }",
            {"id": MISSING_JOB},
            "quoteCreateNote",
        ),
    ],
)
def test_bad_ids_give_user_errors_not_crashes(gql: Gql, document: str, variables: dict, field: str) -> None:  # type: ignore[type-arg]
    body = gql(document, variables)
    assert "errors" not in body
    payload = body["data"][field]
    assert payload["userErrors"], payload
    assert "not found" in payload["userErrors"][0]["message"]
    assert isinstance(payload["userErrors"][0]["path"], list)
    entity = next(v for k, v in payload.items() if k != "userErrors")
    assert entity is None


def test_client_create_then_read_back(gql: Gql) -> None:
    body = gql("""mutation { clientCreate(input: {
                    firstName: "Maria", lastName: "Garcia",
                    emails: [{address: "maria@example.com", primary: true, description: MAIN}],
                    phones: [{number: "(512) 555-0199", smsAllowed: true, primary: true, description: MOBILE}],
                    properties: [{address: {street1: "12 Elm St", city: "Austin", province: "TX",
                                            postalCode: "78701", country: "United States"}}]
                  }) { client { id name phones { number smsAllowed } clientProperties(first: 1) {
                        nodes { address { city } } } } userErrors { message path } } }""")
    payload = body["data"]["clientCreate"]
    assert payload["userErrors"] == []
    client = payload["client"]
    assert client["name"] == "Maria Garcia"
    assert client["phones"] == [{"number": "(512) 555-0199", "smsAllowed": True}]
    again = gql("query($id: EncodedId!) { client(id: $id) { emails { address } } }", {"id": client["id"]})
    assert again["data"]["client"]["emails"] == [{"address": "maria@example.com"}]


def test_client_create_without_a_name_is_a_user_error(gql: Gql) -> None:
    body = gql("mutation { clientCreate(input: {}) { client { id } userErrors { message path } } }")
    assert body["data"]["clientCreate"]["client"] is None
    assert "name" in body["data"]["clientCreate"]["userErrors"][0]["message"]


def test_job_close_and_reopen_through_the_api(make_sandbox) -> None:  # type: ignore[no-untyped-def]
    sb = make_sandbox()
    gql = Gql(sb, sb.issue_tokens()["access_token"])
    job = next(j for j in sb.store.jobs if j.job_status == "requires_invoicing")
    before = job.updated_at
    closed = gql(
        """mutation($id: EncodedId!) {
                      jobClose(jobId: $id, input: {modifyIncompleteVisitsBy: COMPLETE_PAST_DESTROY_FUTURE}) {
                        job { jobStatus completedAt updatedAt } userErrors { message } } }""",
        {"id": job.id},
    )
    payload = closed["data"]["jobClose"]
    assert payload["userErrors"] == []
    assert payload["job"]["jobStatus"] == "archived" and payload["job"]["completedAt"]
    assert job.updated_at > before
    topics = [e.topic for e in sb.store.events if e.item_id == job.id]
    assert topics[-2:] == ["JOB_CLOSED", "JOB_UPDATE"]
    twice = gql(
        """mutation($id: EncodedId!) { jobClose(jobId: $id, input: {modifyIncompleteVisitsBy: DESTROY_ALL}) {
                     userErrors { message } } }""",
        {"id": job.id},
    )
    assert twice["data"]["jobClose"]["userErrors"][0]["message"] == "Job is already closed"
    reopened = gql(
        "mutation($id: EncodedId!) { jobReopen(jobId: $id) { job { jobStatus completedAt } } }", {"id": job.id}
    )
    assert reopened["data"]["jobReopen"]["job"]["jobStatus"] != "archived"
    assert reopened["data"]["jobReopen"]["job"]["completedAt"] is None


def test_job_create_with_a_visit_and_invoice_create(make_sandbox) -> None:  # type: ignore[no-untyped-def]
    sb = make_sandbox()
    gql = Gql(sb, sb.issue_tokens()["access_token"])
    prop = sb.store.clients[1].client_properties[0]
    mike = sb.store.users[0]
    body = gql(
        """mutation($prop: EncodedId!, $user: EncodedId!) { jobCreate(input: {
                    propertyId: $prop, title: "Gutter Cleaning",
                    invoicing: {invoicingType: FIXED_PRICE, invoicingSchedule: ON_COMPLETION},
                    timeframe: {startAt: "2031-05-01"},
                    scheduling: {createVisits: true, notifyTeam: false, assignedTo: [$user], startTime: "09:00:00"},
                    lineItems: [{name: "Gutter Cleaning", unitPrice: 180, quantity: 1,
                                 saveToProductsAndServices: false}]
                  }) { job { id jobNumber jobStatus total client { id } visits(first: 2) {
                        nodes { startAt assignedUsers(first: 1) { nodes { id } } } } } userErrors { message } } }""",
        {"prop": prop.id, "user": mike.id},
    )
    payload = body["data"]["jobCreate"]
    assert payload["userErrors"] == [], body
    job = payload["job"]
    assert job["jobStatus"] == "upcoming" and job["total"] == 180.0
    assert job["jobNumber"] == max(j.job_number for j in sb.store.jobs)
    assert job["visits"]["nodes"][0]["assignedUsers"]["nodes"][0]["id"] == mike.id
    inv = gql(
        """mutation($client: EncodedId!, $job: EncodedId!) { invoiceCreate(input: {
                   clientId: $client, jobIds: [$job], subject: "Gutters", markSent: true,
                   dueDetails: {invoiceNet: 15}, tax: {taxCalculationMethod: EXCLUSIVE},
                   lineItems: [{name: "Gutter Cleaning", quantity: 1, unitPrice: 180}]
                 }) { invoice { invoiceStatus amounts { total } jobs(first: 1) { nodes { id } } }
                      userErrors { message } } }""",
        {"client": job["client"]["id"], "job": job["id"]},
    )
    assert inv["data"]["invoiceCreate"]["userErrors"] == [], inv
    assert inv["data"]["invoiceCreate"]["invoice"]["invoiceStatus"] == "awaiting_payment"
    assert inv["data"]["invoiceCreate"]["invoice"]["jobs"]["nodes"][0]["id"] == job["id"]
    assert [e.topic for e in sb.store.events][-1] == "INVOICE_CREATE"


def test_expense_and_task_lifecycle(make_sandbox) -> None:  # type: ignore[no-untyped-def]
    sb = make_sandbox()
    gql = Gql(sb, sb.issue_tokens()["access_token"])
    created = gql("""mutation { expenseCreate(input: {title: "PEX pipe", date: "2025-03-01T10:00:00Z", total: 42.5}) {
                       expense { id title total } userErrors { message } } }""")["data"]["expenseCreate"]
    assert created["expense"]["total"] == 42.5
    deleted = gql(
        """mutation($id: EncodedId!) {
                       expenseDelete(expenseId: $id) { deletedExpense { id } userErrors { message } } }""",
        {"id": created["expense"]["id"]},
    )["data"]["expenseDelete"]
    assert deleted["deletedExpense"]["id"] == created["expense"]["id"]
    gone = gql("query($id: EncodedId!) { expense(id: $id) { id } }", {"id": created["expense"]["id"]})
    assert gone["data"]["expense"] is None
    task = gql("""mutation { taskCreate(input: {title: ""}) { task { id } userErrors { message path } } }""")
    assert task["data"]["taskCreate"]["userErrors"][0]["path"] == ["input", "title"]


def test_webhook_endpoint_create_registers_an_extra_target(make_sandbox, receiver) -> None:  # type: ignore[no-untyped-def]
    sb = make_sandbox()
    gql = Gql(sb, sb.issue_tokens()["access_token"])
    body = gql(
        """mutation($url: String!) { webhookEndpointCreate(input: {topic: CLIENT_CREATE, url: $url}) {
                    webhookEndpoint { id topic url } userErrors { message } } }""",
        {"url": receiver.url},
    )
    assert body["data"]["webhookEndpointCreate"]["webhookEndpoint"]["topic"] == "CLIENT_CREATE"
    sb.store.create_client("Hook", "Target")
    sb.store.close_job(job_number=1042)
    assert sb.store.flush_webhooks(10)
    assert len(receiver.received) == 1


def test_every_supported_mutation_round_trips(make_sandbox) -> None:  # type: ignore[no-untyped-def]
    """Each mutation the action library relies on runs against the real schema without userErrors."""
    sb = make_sandbox()
    gql = Gql(sb, sb.issue_tokens()["access_token"])
    store = sb.store

    def run(doc: str, variables: dict | None = None) -> dict:  # type: ignore[type-arg]
        body = gql(doc, variables)
        assert "errors" not in body, body
        (payload,) = body["data"].values()
        assert payload["userErrors"] == [], payload
        return payload  # type: ignore[no-any-return]

    client = store.clients[2]
    mike = store.users[0]
    edited = run(
        """mutation($id: EncodedId!) { clientEdit(clientId: $id, input: {
                      lastName: "Renamed", tagsToAdd: ["VIP"], emailsToAdd: [{address: "new@example.com"}],
                      phonesToAdd: [{number: "+1 512-555-0111", smsAllowed: true, primary: true}],
                      billingAddress: {street1: "1 Main St", city: "Austin"} }) {
                      client { lastName tags(first: 5) { nodes { label } } phones { number primary } }
                      userErrors { message path } } }""",
        {"id": client.id},
    )
    assert edited["client"]["lastName"] == "Renamed"
    assert "VIP" in [t["label"] for t in edited["client"]["tags"]["nodes"]]
    assert {"number": "+1 512-555-0111", "primary": True} in edited["client"]["phones"]
    props = run(
        """mutation($id: EncodedId!) { propertyCreate(clientId: $id, input: {properties: [
                     {address: {street1: "9 Pine Rd", city: "Denver", province: "CO", postalCode: "80202"}}]}) {
                     properties { id address { city } } userErrors { message path } } }""",
        {"id": client.id},
    )
    prop_id = props["properties"][0]["id"]
    assert props["properties"][0]["address"]["city"] == "Denver"
    run(
        """mutation($id: EncodedId!) { propertyEdit(propertyId: $id, input: {address: {street2: "Unit 2"}}) {
             property { address { street2 } } userErrors { message path } } }""",
        {"id": prop_id},
    )
    job = store.jobs[0]
    created = run(
        """mutation($job: EncodedId!, $u: EncodedId!) { visitCreate(jobId: $job, input: {visits: [
                       {title: "Follow-up", schedule: {startAt: {date: "2031-01-05", time: "10:00:00",
                        timezone: "America/Chicago"}, teamMemberIdsToAssign: [$u]}}]}) {
                       createdVisits { id startAt assignedUsers(first: 1) { nodes { id } } } job { id }
                       userErrors { message path } } }""",
        {"job": job.id, "u": mike.id},
    )
    visit = created["createdVisits"][0]
    assert visit["startAt"] == "2031-01-05T16:00:00Z"
    run(
        """mutation($id: EncodedId!) { visitEdit(id: $id, attributes: {title: "Second look"}) {
             visit { title } userErrors { message path } } }""",
        {"id": visit["id"]},
    )
    run(
        """mutation($id: EncodedId!) { visitCreateLineItems(visitId: $id, input: {lineItems: [
             {name: "Extra valve", unitPrice: 35, quantity: 2, saveToProductsAndServices: false}]}) {
             visit { id } userErrors { message path } } }""",
        {"id": visit["id"]},
    )
    errors = "userErrors { message path }"
    run(
        f"mutation($id: EncodedId!) {{ visitComplete(visitId: $id) {{ visit {{ isComplete }} {errors} }} }}",
        {"id": visit["id"]},
    )
    run(
        f"mutation($id: EncodedId!) {{ visitUncomplete(visitId: $id) {{ visit {{ isComplete }} {errors} }} }}",
        {"id": visit["id"]},
    )
    deleted = run(
        f"mutation($ids: [EncodedId!]!) {{ visitDelete(visitIds: $ids) {{ visits {{ id }} {errors} }} }}",
        {"ids": [visit["id"]]},
    )
    assert deleted["visits"] == [{"id": visit["id"]}]
    run(
        """mutation($id: EncodedId!) { jobEdit(jobId: $id, input: {instructions: "Side gate"}) {
             job { instructions } userErrors { message path } } }""",
        {"id": job.id},
    )
    quote = run(
        """mutation($c: EncodedId!, $p: EncodedId!) { quoteCreate(attributes: {clientId: $c, propertyId: $p,
                     title: "New roof vents", transitionQuoteTo: AWAITING_RESPONSE, lineItems: [
                     {name: "Vent", unitPrice: 120, quantity: 3, saveToProductsAndServices: false}]}) {
                     quote { id quoteStatus sentAt amounts { total } } userErrors { message path } } }""",
        {"c": client.id, "p": prop_id},
    )["quote"]
    assert quote["quoteStatus"] == "awaiting_response" and quote["amounts"]["total"] == 360.0
    run(
        """mutation($id: EncodedId!) { quoteEdit(quoteId: $id, attributes: {title: "Roof vents"}) {
             quote { title } userErrors { message path } } }""",
        {"id": quote["id"]},
    )
    note = run(
        """mutation($id: EncodedId!) { quoteCreateNote(quoteId: $id, input: {message: "Call first"}) {
                    quoteNote { id message } userErrors { message path } } }""",
        {"id": quote["id"]},
    )["quoteNote"]
    run(
        """mutation($id: EncodedId!) { quoteEditNote(input: {noteId: $id, message: "Call after 5"}) {
             quoteNote { message } userErrors { message path } } }""",
        {"id": note["id"]},
    )
    req = run(
        """mutation($c: EncodedId!) { requestCreate(input: {clientId: $c, title: "Leak under sink"}) {
                   request { id requestStatus } userErrors { message path } } }""",
        {"c": client.id},
    )["request"]
    run(
        """mutation($id: EncodedId!) { requestArchive(requestId: $id) { request { requestStatus }
             userErrors { message path } } }""",
        {"id": req["id"]},
    )
    task = run("""mutation { taskCreate(input: {title: "Order parts", startAt: "2031-01-01T15:00:00Z"}) {
                    task { id } userErrors { message path } } }""")["task"]
    run(
        """mutation($id: EncodedId!) { taskEdit(taskId: $id, input: {title: "Order more parts"}) {
             task { title } userErrors { message path } } }""",
        {"id": task["id"]},
    )
    run(
        "mutation($id: EncodedId!) { taskDelete(taskIds: [$id]) { deletedTasks { id } userErrors { message path } } }",
        {"id": task["id"]},
    )
    expense = store.rows(Expense)[0]
    run(
        """mutation($id: EncodedId!) { expenseEdit(expenseId: $id, input: {total: 99.5}) {
             expense { total } userErrors { message path } } }""",
        {"id": expense.id},
    )
    run(
        """mutation($id: EncodedId!) { userEdit(userId: $id, input: {name: "Michael Thompson"}) {
             user { name { full } } userErrors { message path } } }""",
        {"id": mike.id},
    )
    run(
        f"mutation($id: EncodedId!) {{ clientArchive(clientId: $id) {{ client {{ isArchived }} {errors} }} }}",
        {"id": client.id},
    )
    assert store.stats.mutations == 22
    topics = {e.topic for e in store.events}
    assert {
        "CLIENT_UPDATE",
        "PROPERTY_CREATE",
        "PROPERTY_UPDATE",
        "VISIT_CREATE",
        "VISIT_DESTROY",
        "QUOTE_CREATE",
        "QUOTE_SENT",
        "REQUEST_CREATE",
        "REQUEST_UPDATE",
        "EXPENSE_UPDATE",
        "USER_UPDATE",
    } <= topics


def test_quote_and_invoice_line_items_are_kept(make_sandbox) -> None:  # type: ignore[no-untyped-def]
    sb = make_sandbox()
    gql = Gql(sb, sb.issue_tokens()["access_token"])
    client = sb.store.clients[0]
    body = gql(
        """mutation($c: EncodedId!, $p: EncodedId!) { quoteCreate(attributes: {clientId: $c, propertyId: $p,
                    lineItems: [{name: "Boiler", unitPrice: 1.0, quantity: 2, saveToProductsAndServices: false},
                                {name: "Haul away", unitPrice: 50, quantity: 1, saveToProductsAndServices: false}]}) {
                    quote { id amounts { subtotal }
                            lineItems(first: 10) { nodes { name quantity unitPrice totalPrice } } }
                    userErrors { message } } }""",
        {"c": client.id, "p": client.client_properties[0].id},
    )
    quote = body["data"]["quoteCreate"]["quote"]
    assert [n["name"] for n in quote["lineItems"]["nodes"]] == ["Boiler", "Haul away"]
    assert quote["lineItems"]["nodes"][0]["totalPrice"] == 2.0
    assert quote["amounts"]["subtotal"] == 52.0
    seeded = gql(
        "query($id: EncodedId!) { invoice(id: $id) { lineItems(first: 5) { nodes { name totalPrice } } } }",
        {"id": sb.store.invoices[0].id},
    )
    assert seeded["data"]["invoice"]["lineItems"]["nodes"][0]["totalPrice"] == sb.store.invoices[0].subtotal


def test_client_edit_adds_edits_and_deletes_emails_and_phones_keeping_one_primary() -> None:
    from sandbox.jobber import SandboxConfig, SandboxStore, UserError

    store = SandboxStore(SandboxConfig(seed=5, clients=2, jobs=2, invoices=1, quotes=1, users=1))
    try:
        client = store.client_create(
            {
                "firstName": "Ada",
                "lastName": "Byron",
                "emails": [{"address": "ada@example.com"}, {"address": "ada@work.example"}],
                "phones": [{"number": "+1 512-555-0100"}, {"number": "+1 512-555-0101", "smsAllowed": False}],
            }
        )
        emails = [(e.address, e.primary) for e in client.emails]
        assert emails == [("ada@example.com", True), ("ada@work.example", False)]
        assert [(p.number, p.primary, p.sms_allowed) for p in client.phones] == [
            ("+1 512-555-0100", True, True),
            ("+1 512-555-0101", False, False),
        ]
        work_email, work_phone = client.emails[1], client.phones[1]
        store.client_edit(
            client.id,
            {
                "emailsToAdd": [{"address": "ada@new.example", "primary": True}],
                "emailsToEdit": [{"id": work_email.id, "address": "ada@labs.example"}],
                "phonesToEdit": [{"id": work_phone.id, "smsAllowed": True, "primary": True}],
                "phonesToDelete": [client.phones[0].id],
            },
        )
        assert [(e.address, e.primary) for e in client.emails] == [
            ("ada@example.com", False),
            ("ada@labs.example", False),
            ("ada@new.example", True),
        ]
        assert [(p.number, p.primary, p.sms_allowed) for p in client.phones] == [("+1 512-555-0101", True, True)]
        store.client_edit(client.id, {"emailsToDelete": [client.emails[0].id], "emailsToAdd": [{"address": "x@y.z"}]})
        assert [(e.address, e.primary) for e in client.emails] == [
            ("ada@labs.example", False),
            ("ada@new.example", True),
            ("x@y.z", False),
        ]
        other = store.clients[0]
        with pytest.raises(UserError, match="Phone number not found") as refused:
            store.client_edit(client.id, {"phonesToEdit": [{"id": other.phones[0].id, "number": "1"}]})
        assert refused.value.path == ["input", "phonesToEdit", "id"]
        with pytest.raises(UserError, match="Email not found"):
            store.client_edit(client.id, {"emailsToDelete": [other.emails[0].id]})
    finally:
        store.close()


def test_invoice_and_quote_line_items_keep_their_own_fields() -> None:
    from sandbox.jobber import SandboxConfig, SandboxStore

    store = SandboxStore(SandboxConfig(seed=5, clients=2, jobs=2, invoices=1, quotes=1, users=1))
    try:
        client = store.clients[0]
        prop = client.client_properties[0]
        invoice = store.invoice_create(
            {
                "clientId": client.id,
                "lineItems": [
                    {"name": "Labour", "quantity": 2, "unitPrice": 50, "date": "2026-01-02"},
                    {"name": "Parts", "cost": 30, "taxable": False, "category": "PRODUCT"},
                ],
            }
        )
        assert [(i.name, i.quantity, i.unit_price, i.taxable, i.category) for i in invoice.line_items] == [
            ("Labour", 2.0, 50.0, True, "SERVICE"),
            ("Parts", 1.0, 30.0, False, "PRODUCT"),
        ]
        assert invoice.line_items[0].date is not None and invoice.subtotal == 130.0
        quote = store.quote_create(
            {
                "clientId": client.id,
                "propertyId": prop.id,
                "lineItems": [
                    {"name": "Estimate", "totalPrice": 90, "quantity": 3, "optional": True},
                    {"name": "Note", "textOnly": True, "unitCost": 4},
                ],
            }
        )
        items = [(i.name, i.unit_price, i.optional, i.text_only, i.unit_cost, i.sort_order) for i in quote.line_items]
        assert items == [
            ("Estimate", 30.0, True, False, None, 0),
            ("Note", 0.0, False, True, 4, 1),
        ]
    finally:
        store.close()
