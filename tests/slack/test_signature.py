"""Slack request signing v0: the signature of Slack's published example, and the secrets of a rotation.
(Verifying a request is deployments/gateway/inbound.py's SlackVerifier: tests/gateway/test_inbound.py.)"""

from __future__ import annotations

from tasks.slack.signature import compute_signature, signing_secrets
from tests.gateway.test_inbound import DOC_BODY, DOC_SECRET, DOC_SIGNATURE, DOC_TIMESTAMP


def test_slacks_published_example() -> None:
    assert compute_signature(DOC_SECRET, DOC_TIMESTAMP, DOC_BODY) == DOC_SIGNATURE


def test_rotation_reads_every_secret_and_no_placeholder() -> None:
    assert signing_secrets(f"new-secret-value, {DOC_SECRET}") == ["new-secret-value", DOC_SECRET]
    assert signing_secrets("changeme") == [] and signing_secrets(None) == []
