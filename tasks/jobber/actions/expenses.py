"""Expenses: Make.com's Create an Expense, Update an Expense and Delete an Expense."""

from __future__ import annotations

from datetime import datetime

from tasks.jobber.actions._inputs import Resource, camel_input, iso
from tasks.jobber.client import JobberClient
from tasks.jobber.models import Expense

EXPENSES = Resource("expenses", "expense", Expense)
EXPENSE_FIELDS = "title total description linked_job_id reimbursable_to_id"


def get_expense(client: JobberClient, expense_id: str) -> Expense | None:
    """One expense, or None when Jobber answers null."""
    return EXPENSES.get(client, expense_id)


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
    expense_input = camel_input(locals(), f"{EXPENSE_FIELDS} receipt_url", date=iso(date))
    return EXPENSES.mutate(client, "create", {"input": expense_input}, "expenseCreate")


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
    expense_input = camel_input(locals(), EXPENSE_FIELDS, date=iso(date))
    return EXPENSES.mutate(client, "update", {"expenseId": expense_id, "input": expense_input}, "expenseEdit")


def delete_expense(client: JobberClient, expense_id: str) -> str:
    """Delete an expense; returns its id."""
    EXPENSES.send(client, "delete", {"expenseId": expense_id}, "expenseDelete")
    return expense_id
