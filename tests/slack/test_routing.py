"""Channel routing: SLACK_CHANNELS per kind, SLACK_DEFAULT_CHANNEL for the rest, null switches a kind off."""

from __future__ import annotations

import pytest

from tasks.errors import ConfigurationError
from tasks.settings import Settings
from tasks.slack.routing import parse_channel_routes, routes_from_settings


def test_kinds_go_to_their_channel_and_the_rest_to_the_default() -> None:
    routes = routes_from_settings(
        Settings(
            _env_file=None,  # type: ignore[call-arg]
            slack_channels='{"job_closed": "#ops", "invoice_paid": "C0MONEY", "client_created": null}',
            slack_default_channel="#general",
        )
    )
    assert routes.channel_for("job_closed") == "#ops"
    assert routes.channel_for("invoice_paid") == "C0MONEY"
    assert routes.channel_for("quote_approved") == "#general"
    assert routes.channel_for("client_created") is None  # switched off despite the default


def test_without_a_default_unnamed_kinds_have_no_channel() -> None:
    routes = parse_channel_routes('{"job_closed": "#ops"}', None)
    assert routes.channel_for("job_closed") == "#ops"
    assert routes.channel_for("invoice_created") is None
    assert parse_channel_routes(None, None).channel_for("job_closed") is None
    assert parse_channel_routes("", " #all ").channel_for("job_closed") == "#all"


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("{not json", "not valid JSON"),
        ('["#ops"]', "JSON object"),
        ('{"jobs_closed": "#ops"}', "unknown kind 'jobs_closed'"),
        ('{"job_closed": 5}', "channel name or id"),
    ],
)
def test_bad_configuration_names_the_variable(raw: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message) as info:
        parse_channel_routes(raw, None)
    assert info.value.variable == "SLACK_CHANNELS"
