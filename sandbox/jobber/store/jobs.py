"""Jobs and their visits: create, edit, schedule, complete, close and reopen, with Jobber's webhooks.

Closing a job completes (or, through the API's modes, destroys) its open visits; completing the last
visit makes the job require invoicing. Status and schedule always follow the visits (``schedule``).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from ..models import Job, LineItem, Property, Record, User, Visit
from .removal import Removal
from .schedule import at_time, job_status_for, local_dt, recompute_schedule
from .values import UserError, assign, now_s, parse_dt


class JobsMixin(Removal):
    def _new_visit(
        self,
        job: Job,
        title: str | None,
        start: datetime | None,
        end: datetime | None,
        users: list[User],
        instructions: str | None = None,
    ) -> Visit:
        visit = self._create(
            Visit,
            job=job,
            title=title or job.title,
            instructions=instructions,
            assigned_users=list(users),
            start_at=start,
            end_at=end,
        )
        job.visits.append(visit)
        recompute_schedule(job)
        return visit

    def _new_line_item(self, attrs: dict[str, Any], now: datetime) -> LineItem:
        return self._create(
            LineItem,
            now,
            name=attrs.get("name") or "",
            description=attrs.get("description") or "",
            quantity=float(attrs.get("quantity") or 0),
            unit_price=float(attrs.get("unitPrice") or 0),
            taxable=bool(attrs.get("taxable", True)),
        )

    def job_create(self, attrs: dict[str, Any]) -> Job:
        with self.lock:
            prop = self._require(attrs.get("propertyId"), Property, "propertyId")
            if prop.client is None:
                raise UserError("Property has no client", ["input", "propertyId"])
            number = attrs.get("jobNumber")
            if number is not None and any(j.job_number == number for j in self.jobs):
                raise UserError("Job number has already been taken", ["input", "jobNumber"])
            if number is None:
                number = max((j.job_number for j in self.jobs), default=1041) + 1
            items = []
            now = now_s()
            for li in attrs.get("lineItems") or []:
                items.append(self._new_line_item(li, now))
            invoicing = attrs.get("invoicing") or {}
            job = self._create(
                Job,
                now,
                job_number=int(number),
                title=attrs.get("title"),
                job_status="unscheduled",
                client=prop.client,
                property_=prop,
                instructions=attrs.get("instructions"),
                line_items=items,
                total=round(sum(i.total_price for i in items), 2),
                billing_type=invoicing.get("invoicingType") or "FIXED_PRICE",
                allow_review_request=attrs.get("allowReviewRequest", True) is not False,
                salesperson=self.get(attrs.get("salespersonId"), User),
            )
            scheduling = attrs.get("scheduling") or {}
            timeframe = attrs.get("timeframe") or {}
            users = self._users(scheduling.get("assignedTo"), ["input", "scheduling", "assignedTo"])
            new_visits: list[Visit] = []
            if scheduling.get("createVisits"):
                start = parse_dt(timeframe.get("startAt")) or now + timedelta(days=1)
                start = at_time(start, scheduling.get("startTime"), prop.timezone) or start
                end = at_time(start, scheduling.get("endTime"), prop.timezone) or start + timedelta(hours=2)
                new_visits.append(self._new_visit(job, job.title, start, end, users))
            job.job_status = job_status_for(job)
            prop.client.jobs.append(job)
            prop.jobs.append(job)
            prop.client.updated_at = now
        self._emit("JOB_CREATE", job)
        self._emit_each("VISIT_CREATE", new_visits)
        return job

    def job_edit(self, job_id: Any, attrs: dict[str, Any]) -> Job:
        with self._change(job_id, Job, "jobId", "JOB_UPDATE") as job:
            number = attrs.get("jobNumber")
            if number is not None and any(j.job_number == number and j is not job for j in self.jobs):
                raise UserError("Job number has already been taken", ["input", "jobNumber"])
            if number is not None:
                job.job_number = int(number)
            assign(job, attrs, ("title", "instructions"))
            if attrs.get("allowReviewRequest") is not None:
                job.allow_review_request = bool(attrs["allowReviewRequest"])
            if attrs.get("salespersonId"):
                job.salesperson = self._require(attrs["salespersonId"], User, "salespersonId")
            if attrs.get("visitTitles"):
                for v in job.visits:
                    v.title = attrs["visitTitles"]
        return job

    def job_close(
        self,
        job_id: Any = None,
        modify_incomplete_visits_by: str = "COMPLETE_ALL",
        completed_on: Any = None,
        job_number: Any = None,
    ) -> Job:
        """Close (archive) a job. COMPLETE_ALL (the person action's default) completes open visits;
        the API's DESTROY_ALL / COMPLETE_PAST_DESTROY_FUTURE behave as their names say."""
        topics: list[tuple[str, Record | str]] = []
        with self.lock:
            job = self._find_job(job_id, job_number)
            if job.job_status == "archived":
                raise UserError("Job is already closed", ["jobId"])
            now = now_s()
            completed = parse_dt(completed_on) or now
            if completed > now:
                completed = now
            for visit in list(job.visits):
                if visit.completed_at is not None:
                    continue
                future = visit.start_at is not None and visit.start_at > now
                if modify_incomplete_visits_by == "DESTROY_ALL" or (
                    modify_incomplete_visits_by == "COMPLETE_PAST_DESTROY_FUTURE" and future
                ):
                    self._detach(visit)
                    topics.append(("VISIT_DESTROY", visit.id))
                else:
                    visit.completed_at = now
                    visit.completed_by = (
                        visit.assigned_users[0].name["full"] if visit.assigned_users else self.owner.name["full"]
                    )
                    visit.updated_at = now
                    topics.append(("VISIT_COMPLETE", visit))
                    topics.append(("VISIT_UPDATE", visit))
            recompute_schedule(job)
            job.job_status = "archived"
            job.completed_at = completed
            job.updated_at = now
        for topic, item in topics:
            self._emit(topic, item)
        self._emit_topics(job, "JOB_CLOSED", "JOB_UPDATE")
        return job

    def close_job(self, job_id: Any = None, job_number: Any = None) -> Job:
        return self.job_close(job_id, "COMPLETE_ALL", job_number=job_number)

    def job_reopen(self, job_id: Any = None, job_number: Any = None) -> Job:
        with self.lock:
            job = self._find_job(job_id, job_number)
            if job.job_status != "archived":
                raise UserError("Job is not closed", ["jobId"])
            job.completed_at = None
            job.job_status = job_status_for(job)
            job.updated_at = now_s()
        self._emit("JOB_UPDATE", job)
        return job

    reopen_job = job_reopen

    # -- visits ---------------------------------------------------------------------------------
    def visit_create(self, job_id: Any, visits: list[dict[str, Any]]) -> tuple[Job, list[Visit]]:
        with self._change(job_id, Job, "jobId") as job:
            if not visits:
                raise UserError("At least one visit is required", ["input", "visits"])
            created = []
            for i, attrs in enumerate(visits):
                schedule = attrs.get("schedule") or {}
                start = local_dt(schedule.get("startAt"))
                end = local_dt(schedule.get("endAt")) or (start + timedelta(hours=2) if start else None)
                users = self._users(
                    schedule.get("teamMemberIdsToAssign"),
                    ["input", "visits", str(i), "schedule", "teamMemberIdsToAssign"],
                )
                created.append(self._new_visit(job, attrs.get("title"), start, end, users, attrs.get("instructions")))
            if job.job_status not in ("archived",):
                job.job_status = job_status_for(job)
        self._emit_each("VISIT_CREATE", created)
        self._emit("JOB_UPDATE", job)
        return job, created

    def visit_edit(self, visit_id: Any, attrs: dict[str, Any]) -> Visit:
        with self._change(visit_id, Visit, "id", "VISIT_UPDATE", label="Visit") as visit:
            assign(visit, attrs, ("title", "instructions"))
        return visit

    def visit_delete(self, visit_ids: list[Any]) -> list[Visit]:
        with self.lock:
            visits = [self._require(v, Visit, "visitIds", "Visit") for v in visit_ids]
            for visit in visits:
                job = visit.job
                self._detach(visit)
                if job is not None:
                    job.updated_at = now_s()
        self._emit_each("VISIT_DESTROY", visits)
        return visits

    def visit_complete(self, visit_id: Any, completed_at: Any = None) -> Visit:
        job_became_invoiceable = False
        with self.lock:
            visit = self._require(visit_id, Visit, "visitId", "Visit")
            if visit.completed_at is not None:
                raise UserError("Visit is already complete", ["visitId"])
            now = now_s()
            visit.completed_at = min(parse_dt(completed_at) or now, now)
            visit.completed_by = (
                visit.assigned_users[0].name["full"] if visit.assigned_users else self.owner.name["full"]
            )
            visit.updated_at = now
            job = visit.job
            if job is not None and job.job_status != "archived" and all(v.completed_at for v in job.visits):
                job.job_status = "requires_invoicing"
                job.updated_at = now
                job_became_invoiceable = True
        self._emit_topics(visit, "VISIT_COMPLETE", "VISIT_UPDATE")
        if job_became_invoiceable and visit.job is not None:
            self._emit("JOB_UPDATE", visit.job)
        return visit

    complete_visit = visit_complete

    def visit_uncomplete(self, visit_id: Any) -> Visit:
        with self._change(visit_id, Visit, "visitId", "VISIT_UPDATE", label="Visit") as visit:
            if visit.completed_at is None:
                raise UserError("Visit is not complete", ["visitId"])
            visit.completed_at = None
            visit.completed_by = None
            if visit.job is not None and visit.job.job_status == "requires_invoicing":
                visit.job.job_status = job_status_for(visit.job)
        return visit

    def visit_create_line_items(self, visit_id: Any, line_items: list[dict[str, Any]]) -> Visit:
        with self.lock:
            visit = self._require(visit_id, Visit, "visitId", "Visit")
            if not line_items:
                raise UserError("At least one line item is required", ["input", "lineItems"])
            now = now_s()
            for li in line_items:
                if not li.get("name"):
                    raise UserError("Line item name can't be blank", ["input", "lineItems", "name"])
                item = self._new_line_item(li, now)
                visit.line_items.append(item)
                if visit.job is not None:
                    visit.job.line_items.append(item)
                    visit.job.total = round(visit.job.total + item.total_price, 2)
            visit.updated_at = now
        self._emit("VISIT_UPDATE", visit)
        return visit
