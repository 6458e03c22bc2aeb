"""Flow: check the Jobber connection and publish an overview of the account as an artifact."""

from __future__ import annotations

from prefect import flow
from prefect.artifacts import create_markdown_artifact

from tasks.jobber.overview import AccountOverview, account_overview_task


@flow(name="jobber-connection-check", log_prints=False)
def jobber_connection_check(max_jobs: int = 500) -> AccountOverview:
    """Read the connected Jobber account and its recent jobs; leave a Markdown artifact in the Prefect UI."""
    overview = account_overview_task(max_jobs=max_jobs)
    create_markdown_artifact(
        key="jobber-account-overview",
        markdown=overview.markdown(),
        description=f"Jobber account {overview.account_name}: {overview.jobs_seen} recent jobs",
    )
    return overview


if __name__ == "__main__":
    jobber_connection_check()
