"""Expenses: Make.com's Create an Expense, Update an Expense and Delete an Expense."""

from __future__ import annotations

from datetime import datetime
from typing import Unpack

from tasks.jobber.actions._inputs import Resource, fields_input, iso
from tasks.jobber.actions.fields import ExpenseCreateInput, ExpenseEditInput
from tasks.jobber.client import JobberClient
from tasks.jobber.models import Expense

EXPENSES = Resource("expenses", "expense", Expense)


def get_expense(client: JobberClient, expense_id: str) -> Expense | None:
    """One expense, or None when Jobber answers null."""
    return EXPENSES.get(client, expense_id)


def create_expense(
    client: JobberClient, *, title: str, date: datetime, **details: Unpack[ExpenseCreateInput]
) -> Expense:
    """Record an expense, optionally on a job and reimbursable to a team member."""
    expense_input = fields_input(ExpenseCreateInput, details, title=title, date=iso(date))
    return EXPENSES.mutate(client, "create", {"input": expense_input}, "expenseCreate")


def update_expense(client: JobberClient, expense_id: str, **changes: Unpack[ExpenseEditInput]) -> Expense:
    """Change an expense; arguments left None are kept."""
    expense_input = fields_input(ExpenseEditInput, changes, date=iso(changes.get("date")))
    return EXPENSES.mutate(client, "update", {"expenseId": expense_id, "input": expense_input}, "expenseEdit")


def delete_expense(client: JobberClient, expense_id: str) -> str:
    """Delete an expense; returns its id."""
    EXPENSES.send(client, "delete", {"expenseId": expense_id}, "expenseDelete")
    return expense_id
