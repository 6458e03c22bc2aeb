"""Acting as a person in Jobber through /sandbox/* endpoints."""

from __future__ import annotations

import httpx

from sandbox.jobber import SandboxServer


def _act(sb: SandboxServer, name: str, **body: object) -> httpx.Response:
    return httpx.post(f"{sb.url}/sandbox/actions/{name}", json=body)


def test_jobs_listing_lets_a_person_pick_a_job(make_sandbox) -> None:  # type: ignore[no-untyped-def]
    sb = make_sandbox()
    jobs = httpx.get(f"{sb.url}/sandbox/jobs", params={"status": "active"}).json()["jobs"]
    assert jobs[0] == {
        "jobNumber": 1042,
        "id": sb.store.jobs[0].id,
        "title": "Water Heater Installation",
        "client": "John Smith",
        "jobStatus": "active",
    }
    assert all(j["jobStatus"] == "active" for j in jobs)


def test_person_actions_change_data_and_send_topics(make_sandbox) -> None:  # type: ignore[no-untyped-def]
    sb = make_sandbox()
    client = _act(
        sb, "create_client", first_name="Nina", last_name="Patel", phone="+1 416-555-0100", sms_allowed=False
    ).json()
    assert client["name"] == "Nina Patel" and client["smsAllowed"] is False and client["email"] is None
    visit = next(v for v in sb.store.visits if not v.is_complete)
    assert _act(sb, "complete_visit", visit_id=visit.id).json()["isComplete"] is True
    job = next(j for j in sb.store.jobs if j.job_status == "requires_invoicing" and not j.invoices)
    invoice = _act(sb, "create_invoice", job_id=job.id).json()
    assert invoice["invoiceStatus"] == "awaiting_payment" and invoice["total"] > 0
    paid = _act(sb, "mark_invoice_paid", invoice_id=invoice["id"]).json()
    assert paid["invoiceStatus"] == "paid" and paid["invoiceBalance"] == 0
    unpaid = _act(sb, "mark_invoice_unpaid", invoice_id=invoice["id"]).json()
    assert unpaid["invoiceStatus"] == "awaiting_payment" and unpaid["paymentIds"] == []
    quote = next(q for q in sb.store.quotes if q.quote_status == "awaiting_response")
    assert _act(sb, "approve_quote", quote_id=quote.id).json()["quoteStatus"] == "approved"
    updated = _act(sb, "update_client", client_id=client["id"], email="nina@example.com").json()
    assert updated["email"] == "nina@example.com"
    destroyed = _act(sb, "destroy", item_id=job.id).json()
    assert destroyed["topic"] == "JOB_DESTROY"
    assert sb.store.get(job.id, type(job)) is None
    topics = [e.topic for e in sb.store.events]
    for expected in (
        "CLIENT_CREATE",
        "VISIT_COMPLETE",
        "INVOICE_CREATE",
        "PAYMENT_CREATE",
        "PAYMENT_DESTROY",
        "QUOTE_APPROVED",
        "QUOTE_UPDATE",
        "CLIENT_UPDATE",
        "JOB_DESTROY",
    ):
        assert expected in topics
    state = httpx.get(f"{sb.url}/sandbox/state").json()
    assert state["counts"]["clients"] == 51
    assert state["account"]["name"] == "Evergreen Home Services"
    assert state["stats"]["graphql_requests"] == 0


def test_bad_action_input_is_a_clear_http_error(make_sandbox) -> None:  # type: ignore[no-untyped-def]
    sb = make_sandbox()
    missing = _act(sb, "close_job", job_number=1)
    assert missing.status_code == 404 and missing.json()["error"] == "Job not found"
    typo = _act(sb, "close_job", jobnumber=1042)
    assert typo.status_code == 400 and "jobnumber" in typo.json()["error"]
    unknown = _act(sb, "teleport")
    assert unknown.status_code == 404 and "close_job" in unknown.json()["actions"]
    assert _act(sb, "close_job", job_number=1042).status_code == 200
    again = _act(sb, "close_job", job_number=1042)
    assert again.status_code == 422 and again.json()["error"] == "Job is already closed"
