"""The other work records: requests, tasks and expenses."""

from __future__ import annotations

from typing import Any

from ..models import Client, Expense, Job, Property, Request, Task, User
from .removal import Removal
from .values import UserError, assign, now_s, parse_dt, snake


class WorkMixin(Removal):
    def request_create(self, attrs: dict[str, Any]) -> Request:
        with self.lock:
            client = self._require(attrs.get("clientId"), Client, "clientId")
            prop = None
            if attrs.get("propertyId"):
                prop = self._require(attrs["propertyId"], Property, "propertyId")
            req = self._create(
                Request,
                title=attrs.get("title"),
                client=client,
                property_=prop,
                contact_name=client.name,
                email=client.email,
                phone=client.phone,
            )
            client.requests.append(req)
            if prop is not None:
                prop.requests.append(req)
        self._emit("REQUEST_CREATE", req)
        return req

    def request_archive(self, request_id: Any) -> Request:
        with self._change(request_id, Request, "requestId", "REQUEST_UPDATE") as req:
            req.request_status = "archived"
        return req

    def task_create(self, attrs: dict[str, Any], client_id: Any = None, property_id: Any = None) -> Task:
        with self.lock:
            if not (attrs.get("title") or "").strip():
                raise UserError("Title can't be blank", ["input", "title"])
            client = self._require(client_id, Client, "clientId") if client_id else None
            prop = self._require(property_id, Property, "propertyId") if property_id else None
            task = self._create(
                Task,
                pk=self._new_pk(Task),  # taken first: a create its fields fail still uses one up
                title=attrs["title"],
                instructions=attrs.get("instructions"),
                client=client,
                property_=prop,
                start_at=parse_dt(attrs.get("startAt")),
                end_at=parse_dt(attrs.get("endAt")),
                all_day=bool(attrs.get("allDay")),
                assigned_users=self._users(attrs.get("assignedTo"), ["input", "assignedTo"]),
            )
        return task

    def task_edit(self, task_id: Any, attrs: dict[str, Any]) -> Task:
        with self._change(task_id, Task, "taskId") as task:
            assign(task, attrs, ("title", "instructions"))
            for key in ("startAt", "endAt"):
                if attrs.get(key) is not None:
                    setattr(task, snake(key), parse_dt(attrs[key]))
            if attrs.get("allDay") is not None:
                task.all_day = bool(attrs["allDay"])
            if attrs.get("assignedTo") is not None:
                task.assigned_users = self._users(attrs["assignedTo"], ["input", "assignedTo"])
            if attrs.get("clientId"):
                task.client = self._require(attrs["clientId"], Client, "clientId")
            if attrs.get("propertyId"):
                task.property_ = self._require(attrs["propertyId"], Property, "propertyId")
        return task

    def task_delete(self, task_ids: list[Any]) -> list[Task]:
        with self.lock:
            tasks = [self._require(t, Task, "taskIds", "Task") for t in task_ids]
            for task in tasks:
                self.table("Task").pop(task.pk, None)
        return tasks

    def expense_create(self, attrs: dict[str, Any]) -> Expense:
        with self.lock:
            if not (attrs.get("title") or "").strip():
                raise UserError("Title can't be blank", ["input", "title"])
            job = self._require(attrs["linkedJobId"], Job, "linkedJobId") if attrs.get("linkedJobId") else None
            reimb = (
                self._require(attrs["reimbursableToId"], User, "reimbursableToId")
                if attrs.get("reimbursableToId")
                else None
            )
            now = now_s()
            exp = self._create(
                Expense,
                now,
                pk=self._new_pk(Expense),  # taken first: a create its fields fail still uses one up
                title=attrs["title"],
                description=attrs.get("description"),
                date=parse_dt(attrs.get("date")) or now,
                total=attrs.get("total"),
                linked_job=job,
                entered_by=self.owner,
                reimbursable_to=reimb,
            )
            if job is not None:
                job.expenses.append(exp)
        self._emit("EXPENSE_CREATE", exp)
        return exp

    def expense_edit(self, expense_id: Any, attrs: dict[str, Any]) -> Expense:
        with self._change(expense_id, Expense, "expenseId", "EXPENSE_UPDATE") as exp:
            assign(exp, attrs, ("title", "description", "total"))
            if attrs.get("date"):
                exp.date = parse_dt(attrs["date"]) or exp.date
            if attrs.get("linkedJobId"):
                job = self._require(attrs["linkedJobId"], Job, "linkedJobId")
                if exp.linked_job is not None and exp in exp.linked_job.expenses:
                    exp.linked_job.expenses.remove(exp)
                exp.linked_job = job
                job.expenses.append(exp)
            if attrs.get("reimbursableToId"):
                exp.reimbursable_to = self._require(attrs["reimbursableToId"], User, "reimbursableToId")
        return exp

    def expense_delete(self, expense_id: Any) -> Expense:
        with self.lock:
            exp = self._require(expense_id, Expense, "expenseId")
            self._detach(exp)
        self._emit("EXPENSE_DESTROY", exp.id)
        return exp
