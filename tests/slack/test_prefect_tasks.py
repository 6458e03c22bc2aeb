"""The notification task retries only when Jobber was unavailable; a gone record or bad config fails fast."""

from __future__ import annotations

import pytest
from prefect.states import Failed

from tasks.errors import ConfigurationError, JobberNotFound, JobberRateLimited, JobberTransportError
from tasks.slack.prefect_tasks import _jobber_was_unavailable


@pytest.mark.parametrize(
    ("error", "retry"),
    [
        (JobberTransportError("503"), True),
        (JobberRateLimited("THROTTLED"), True),
        (JobberNotFound("gone"), False),
        (ConfigurationError("SLACK_CHANNELS is not valid JSON", variable="SLACK_CHANNELS"), False),
    ],
)
def test_retry_only_what_is_transient(error: Exception, retry: bool) -> None:
    assert _jobber_was_unavailable(None, None, Failed(data=error)) is retry
