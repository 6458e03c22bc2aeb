"""Deleting records as Jobber does: a record leaves every relation that points at it, then *_DESTROY is sent."""

from __future__ import annotations

from typing import Any

from ..models import Client, Expense, Invoice, Job, Payment, Property, Quote, Record, Request, Visit
from .core import StoreCore
from .schedule import recompute_schedule
from .values import UserError
from .views import brief

DESTROY_TOPICS = {
    "Client": "CLIENT_DESTROY",
    "Property": "PROPERTY_DESTROY",
    "Job": "JOB_DESTROY",
    "Visit": "VISIT_DESTROY",
    "Invoice": "INVOICE_DESTROY",
    "Quote": "QUOTE_DESTROY",
    "Request": "REQUEST_DESTROY",
    "PaymentRecord": "PAYMENT_DESTROY",
    "Expense": "EXPENSE_DESTROY",
}


class Removal(StoreCore):
    def _detach(self, rec: Record) -> None:
        self._table(rec).pop(rec.pk, None)
        if isinstance(rec, Visit) and rec.job is not None:
            rec.job.visits = [v for v in rec.job.visits if v is not rec]
            recompute_schedule(rec.job)
        elif isinstance(rec, Job):
            for visit in list(rec.visits):
                self.table("Visit").pop(visit.pk, None)
            if rec.client is not None:
                rec.client.jobs = [j for j in rec.client.jobs if j is not rec]
            if rec.property_ is not None:
                rec.property_.jobs = [j for j in rec.property_.jobs if j is not rec]
            for inv in rec.invoices:
                inv.jobs = [j for j in inv.jobs if j is not rec]
        elif isinstance(rec, Invoice):
            if rec.client is not None:
                rec.client.invoices = [i for i in rec.client.invoices if i is not rec]
            for job in rec.jobs:
                job.invoices = [i for i in job.invoices if i is not rec]
            for pay in rec.payment_records:
                self.table("PaymentRecord").pop(pay.pk, None)
        elif isinstance(rec, Payment) and rec.invoice is not None:
            rec.invoice.payment_records = [p for p in rec.invoice.payment_records if p is not rec]
        elif isinstance(rec, Quote):
            if rec.client is not None:
                rec.client.quotes = [q for q in rec.client.quotes if q is not rec]
            if rec.property_ is not None:
                rec.property_.quotes = [q for q in rec.property_.quotes if q is not rec]
        elif isinstance(rec, Property) and rec.client is not None:
            rec.client.client_properties = [p for p in rec.client.client_properties if p is not rec]
        elif isinstance(rec, Request) and rec.client is not None:
            rec.client.requests = [r for r in rec.client.requests if r is not rec]
        elif isinstance(rec, Expense) and rec.linked_job is not None:
            rec.linked_job.expenses = [e for e in rec.linked_job.expenses if e is not rec]
        elif isinstance(rec, Client):
            for prop in list(rec.client_properties):
                self.table("Property").pop(prop.pk, None)
            for job in list(rec.jobs):
                self._detach(job)
            for inv in list(rec.invoices):
                self._detach(inv)
            for quote in list(rec.quotes):
                self._detach(quote)

    def destroy(self, item_id: Any) -> dict[str, Any]:
        """A person deletes a record in Jobber: it disappears and the *_DESTROY webhook is sent."""
        with self.lock:
            rec = self.get_any(item_id)
            if rec is None:
                raise UserError("Item not found", ["item_id"])
            gid = self._gid(rec)
            topic = DESTROY_TOPICS.get(gid)
            if topic is None:
                raise UserError(f"{rec.TYPENAME} records cannot be destroyed here", ["item_id"])
            summary = brief(rec)
            self._detach(rec)
        self._emit(topic, rec.id)
        return {"destroyed": summary, "topic": topic}
