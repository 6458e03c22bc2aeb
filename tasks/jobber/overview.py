"""A first look at a connected Jobber account: who it is, how busy, and what the API budget looks like."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field

from prefect import task

from tasks.errors import JobberResponseError
from tasks.jobber.client import JobberClient
from tasks.jobber.documents import load_document
from tasks.jobber.models import Account, Job


@dataclass(frozen=True)
class AccountOverview:
    account_id: str
    account_name: str
    api_version: str
    jobs_seen: int
    jobs_by_status: dict[str, int]
    recent_jobs: list[Job] = field(default_factory=list)
    points_available: float | None = None
    points_maximum: float | None = None
    api_calls: int = 0

    def markdown(self) -> str:
        """The overview as the Markdown artifact shown in the Prefect UI."""
        lines = [
            f"# Jobber account: {self.account_name}",
            "",
            f"- account id: `{self.account_id}`",
            f"- API version: `{self.api_version}`",
            f"- query-cost budget: {self.points_available:.0f} of {self.points_maximum:.0f} points available"
            if self.points_available is not None and self.points_maximum is not None
            else "- query-cost budget: unknown",
            f"- API calls made: {self.api_calls}",
            "",
            f"## Jobs by status (the {self.jobs_seen} most recently updated)",
            "",
            "| status | jobs |",
            "|---|---:|",
        ]
        lines += [f"| {status} | {count} |" for status, count in sorted(self.jobs_by_status.items())]
        lines += ["", "## Recently updated jobs", "", "| # | title | client | status |", "|---:|---|---|---|"]
        for job in self.recent_jobs:
            client = (job.client.name if job.client else None) or "—"
            lines.append(f"| {job.job_number} | {job.title or '—'} | {client} | {job.job_status} |")
        return "\n".join(lines)


def account_overview(client: JobberClient, *, max_jobs: int = 500, recent: int = 10) -> AccountOverview:
    """Read the account and its most recently updated jobs (bounded, paced)."""
    node = client.execute(load_document("account/get")).get("account")
    if not isinstance(node, Mapping) or not node.get("id"):
        raise JobberResponseError("Jobber returned no account for this token")
    account = Account.read(node)[0]
    pages = client.paginate(load_document("account/recent_jobs"), path=("jobs",), limit=max_jobs)
    jobs = [Job.read(job)[0] for job in pages]
    statuses = Counter(job.job_status or "unknown" for job in jobs)
    cost = client.last_cost
    return AccountOverview(
        account_id=account.id,
        account_name=account.name or "(unnamed)",
        api_version=client.api_version,
        jobs_seen=len(jobs),
        jobs_by_status=dict(statuses),
        recent_jobs=jobs[:recent],
        points_available=cost.currently_available if cost else None,
        points_maximum=cost.maximum_available if cost else None,
        api_calls=client.stats.requests,
    )


@task(name="jobber-account-overview", task_run_name="read Jobber account overview")
def account_overview_task(max_jobs: int = 500) -> AccountOverview:
    """Prefect task: the overview of the configured account."""
    from tasks.jobber.factory import get_jobber_client

    return account_overview(get_jobber_client(), max_jobs=max_jobs)
