"""The Prefect tasks really run: inside a flow, against the sandbox, with the client from the factory."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

pytestmark = pytest.mark.prefect


@pytest.fixture(scope="module")
def configured_for_sandbox(prefect_server: None) -> Iterator[None]:
    """Settings pointing the factory at a sandbox of this module's own, and a Prefect test server."""
    from sandbox.jobber import SandboxConfig, SandboxServer
    from tasks.jobber.factory import reset_jobber_clients
    from tasks.settings import reset_settings_cache

    with SandboxServer(SandboxConfig(seed=5, clients=5, jobs=6, invoices=3, quotes=2)) as server:
        with pytest.MonkeyPatch.context() as env:
            env.setenv("JOBBER_BASE_URL", server.url)
            env.setenv("JOBBER_API_KEY", server.issue_tokens()["access_token"])
            for variable in ("JOBBER_CLIENT_ID", "JOBBER_CLIENT_SECRET", "JOBBER_API_SECRET", "JOBBER_REFRESH_TOKEN"):
                env.setenv(variable, "")
            reset_settings_cache()
            reset_jobber_clients()
            yield
        reset_jobber_clients()
        reset_settings_cache()


def test_tasks_run_in_a_flow_with_readable_run_names(configured_for_sandbox: None) -> None:
    from prefect import flow
    from prefect.client.orchestration import get_client

    from tasks.jobber import prefect_tasks
    from tasks.jobber.models import Job

    @flow
    def close_and_reopen_an_active_job() -> tuple[str, Job, Job, list[str]]:
        (active,) = prefect_tasks.search_jobs(status="active", limit=1)
        closed = prefect_tasks.close_job(active.id)
        reopened_state = prefect_tasks.reopen_job(job_id=active.id, return_state=True)
        run_ids = [reopened_state.state_details.task_run_id]
        return active.id, closed, reopened_state.result(), [str(i) for i in run_ids if i]

    job_id, closed, reopened, run_ids = close_and_reopen_an_active_job()
    assert closed.id == job_id and closed.job_status == "archived"
    assert reopened.job_status != "archived"

    with get_client(sync_client=True) as api:
        names = [api.read_task_run(run_id).name for run_id in run_ids]
    assert names == [f"reopen job {job_id}"]


def test_keyword_options_bind_run_and_name_the_run(configured_for_sandbox: None) -> None:
    """Options declared as ``**changes: Unpack[...]`` (fields.py) pass through the task to the action."""
    from prefect import flow
    from prefect.client.orchestration import get_client

    from tasks.jobber import prefect_tasks
    from tasks.jobber.models import Invoice

    @flow
    def retitle_an_invoice() -> tuple[str, Invoice, list[Invoice], str]:
        (invoice,) = prefect_tasks.search_invoices(limit=1)
        state = prefect_tasks.update_invoice(invoice.id, subject="Retitled in a flow", return_state=True)
        same_client = prefect_tasks.search_invoices(client_id=invoice.client.id if invoice.client else None)
        return invoice.id, state.result(), same_client, str(state.state_details.task_run_id)

    invoice_id, updated, same_client, run_id = retitle_an_invoice()
    assert updated.id == invoice_id and updated.subject == "Retitled in a flow"
    assert invoice_id in [i.id for i in same_client]
    with get_client(sync_client=True) as api:
        assert api.read_task_run(run_id).name == f"update invoice {invoice_id}"
