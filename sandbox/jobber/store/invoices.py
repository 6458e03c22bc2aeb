"""Invoices and payments: create, edit, mark paid and unpaid, with Jobber's webhooks."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from ..models import Client, Invoice, InvoiceLineItem, Job, Payment, Property
from .core import StoreCore
from .schedule import job_status_for
from .values import UserError, assign, now_s, parse_dt


class InvoicesMixin(StoreCore):
    def invoice_create(self, attrs: dict[str, Any]) -> Invoice:
        with self.lock:
            client = self._require(attrs.get("clientId"), Client, "clientId")
            job_ids = list(attrs.get("jobIds") or [])
            if attrs.get("jobId"):
                job_ids.insert(0, attrs["jobId"])
            jobs = [self._require(j, Job, "jobIds", "Job") for j in job_ids]
            prop = self.get(attrs.get("propertyId"), Property) if attrs.get("propertyId") else None
            lines = attrs.get("lineItems")
            if lines is None:
                raise UserError("Line items are required", ["input", "lineItems"])
            subtotal = 0.0
            for li in lines:
                if not li.get("name"):
                    raise UserError("Line item name can't be blank", ["input", "lineItems", "name"])
                if li.get("quantity") is not None and li.get("unitPrice") is not None:
                    subtotal += float(li["quantity"]) * float(li["unitPrice"])
                else:
                    subtotal += float(li.get("cost") or li.get("unitPrice") or 0)
            if not lines and jobs:
                subtotal = sum(j.uninvoiced_total or j.total for j in jobs)
            now = now_s()
            issued = parse_dt(attrs.get("issuedDate")) or now
            due_details = attrs.get("dueDetails") or {}
            due = parse_dt(due_details.get("dueDate")) or issued + timedelta(
                days=int(due_details.get("invoiceNet") or 30)
            )
            invoice = self._create(
                Invoice,
                now,
                invoice_number=attrs.get("invoiceNumber") or str(self._next_invoice_number()),
                invoice_status="awaiting_payment" if attrs.get("markSent") else "draft",
                subject=attrs.get("subject") or "For Services Rendered",
                message=attrs.get("message"),
                client=client,
                property_=prop or (jobs[0].property_ if jobs else None),
                jobs=jobs,
                subtotal=round(subtotal, 2),
                issued_date=issued,
                due_date=due,
            )
            for li in lines:
                qty = float(li["quantity"]) if li.get("quantity") is not None else 1.0
                price = li.get("unitPrice") if li.get("unitPrice") is not None else li.get("cost")
                invoice.line_items.append(
                    self._new_priced_item(InvoiceLineItem, li, qty, price, now, date=parse_dt(li.get("date")))
                )
            client.invoices.append(invoice)
            for job in jobs:
                job.invoices.append(invoice)
                if job.job_status == "requires_invoicing":
                    job.job_status = job_status_for(job)
        self._emit("INVOICE_CREATE", invoice)
        return invoice

    def _next_invoice_number(self) -> int:
        numbers = [int(i.invoice_number) for i in self.invoices if i.invoice_number.isdigit()]
        return max(numbers, default=2000) + 1

    def create_invoice(self, job_id: Any = None, job_number: Any = None) -> Invoice:
        """A person creates and sends an invoice for a job's uninvoiced total."""
        with self.lock:
            job = self._find_job(job_id, job_number)
            if job.client is None:
                raise UserError("Job has no client", ["job_id"])
            amount = job.uninvoiced_total or job.total
            invoice = self.invoice_create(
                {
                    "clientId": job.client.id,
                    "jobIds": [job.id],
                    "subject": f"For Services Rendered - {job.title}",
                    "markSent": True,
                    "lineItems": [{"name": job.title or "Services", "quantity": 1, "unitPrice": amount}],
                }
            )
            invoice.tax_amount = round(invoice.subtotal * 0.0825, 2)
        return invoice

    def invoice_edit(self, invoice_id: Any, attrs: dict[str, Any]) -> Invoice:
        with self._change(invoice_id, Invoice, "invoiceId", "INVOICE_UPDATE") as invoice:
            assign(invoice, attrs, ("subject", "message", "invoiceNumber"))
            if attrs.get("issuedDate"):
                invoice.issued_date = parse_dt(attrs["issuedDate"])
            due = (attrs.get("dueDetails") or {}).get("dueDate") or attrs.get("dueDate")
            if due:
                invoice.due_date = parse_dt(due)
        return invoice

    def mark_invoice_paid(
        self, invoice_id: Any, amount: float | None = None, kind: str = "CreditCardPaymentRecord"
    ) -> Invoice:
        """A payment is recorded for the balance: status paid, INVOICE_UPDATE + PAYMENT_CREATE."""
        with self.lock:
            invoice = self._require(invoice_id, Invoice, "invoice_id", "Invoice")
            if invoice.invoice_status == "paid":
                raise UserError("Invoice is already paid", ["invoice_id"])
            now = now_s()
            pay = self._create(
                Payment,
                kind=kind,
                invoice=invoice,
                amount=round(amount if amount is not None else invoice.balance, 2),
                entry_date=now,
                created_at=now,
            )
            invoice.payment_records.append(pay)
            if invoice.balance <= 0.005:
                invoice.invoice_status = "paid"
                invoice.received_date = now
            if invoice.issued_date is None:
                invoice.issued_date = now
            invoice.updated_at = now
        self._emit("PAYMENT_CREATE", pay)
        self._emit("INVOICE_UPDATE", invoice)
        return invoice

    def mark_invoice_unpaid(self, invoice_id: Any) -> Invoice:
        """Payments are removed (PAYMENT_DESTROY) and the invoice is awaiting payment again."""
        with self._change(invoice_id, Invoice, "invoice_id", label="Invoice") as invoice:
            removed = list(invoice.payment_records)
            for pay in removed:
                self.table("PaymentRecord").pop(pay.pk, None)
            invoice.payment_records.clear()
            invoice.invoice_status = "awaiting_payment"
            invoice.received_date = None
        self._emit_each("PAYMENT_DESTROY", removed)
        self._emit("INVOICE_UPDATE", invoice)
        return invoice
