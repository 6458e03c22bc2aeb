"""Expenses: Make.com's Create an Expense, Update an Expense and Delete an Expense."""

from __future__ import annotations

from datetime import datetime

from tasks.jobber.actions._inputs import compact, iso, require
from tasks.jobber.client import JobberClient
from tasks.jobber.documents import load_document
from tasks.jobber.models import Expense


def get_expense(client: JobberClient, expense_id: str) -> Expense | None:
    """One expense, or None when Jobber answers null."""
    node = client.execute(load_document("expenses/get"), {"id": expense_id}).get("expense")
    return None if node is None else Expense.model_validate(node)


def create_expense(
    client: JobberClient,
    *,
    title: str,
    date: datetime,
    total: float | None = None,
    description: str | None = None,
    linked_job_id: str | None = None,
    reimbursable_to_id: str | None = None,
    receipt_url: str | None = None,
) -> Expense:
    """Record an expense, optionally on a job and reimbursable to a team member."""
    expense_input = compact(
        {
            "title": title,
            "date": iso(date),
            "total": total,
            "description": description,
            "linkedJobId": linked_job_id,
            "reimbursableToId": reimbursable_to_id,
            "receiptUrl": receipt_url,
        }
    )
    payload = client.mutate(load_document("expenses/create"), {"input": expense_input}, payload="expenseCreate")
    return Expense.model_validate(require(payload, "expense", "expenseCreate"))


def update_expense(
    client: JobberClient,
    expense_id: str,
    *,
    title: str | None = None,
    date: datetime | None = None,
    total: float | None = None,
    description: str | None = None,
    linked_job_id: str | None = None,
    reimbursable_to_id: str | None = None,
) -> Expense:
    """Change an expense; arguments left None are kept."""
    expense_input = compact(
        {
            "title": title,
            "date": iso(date),
            "total": total,
            "description": description,
            "linkedJobId": linked_job_id,
            "reimbursableToId": reimbursable_to_id,
        }
    )
    payload = client.mutate(
        load_document("expenses/update"), {"expenseId": expense_id, "input": expense_input}, payload="expenseEdit"
    )
    return Expense.model_validate(require(payload, "expense", "expenseEdit"))


def delete_expense(client: JobberClient, expense_id: str) -> str:
    """Delete an expense; returns its id."""
    client.mutate(load_document("expenses/delete"), {"expenseId": expense_id}, payload="expenseDelete")
    return expense_id
