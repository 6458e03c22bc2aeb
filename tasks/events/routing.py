"""Which Jobber topics cause work, and which work: the gateway stores every verified webhook, but only
the ones something acts on wake a worker. Pure functions of the topic (no settings, no I/O), so the
gateway can decide at ingest.

| work    | topics                                                                         |
|---------|--------------------------------------------------------------------------------|
| refresh | every topic about a synced resource (CLIENT_, PROPERTY_, JOB_, VISIT_, INVOICE_, QUOTE_, USER_) |
| review  | the topics any review trigger listens to (tasks/reviews/triggers.py TOPICS)    |
| slack   | the topics a Slack notification may come from (tasks/slack/kinds.py)           |
"""

from __future__ import annotations

from functools import cache

PENDING = "pending"
NOTHING = "none"

# Topic prefixes of the resources the sync stores (tasks/sync/refresh.py TOPIC_RESOURCES).
SYNCED_PREFIXES = ("CLIENT_", "PROPERTY_", "JOB_", "VISIT_", "INVOICE_", "QUOTE_", "USER_")


@cache
def _review_topics() -> frozenset[str]:
    from tasks.reviews.triggers import TOPICS

    return frozenset(topic for topics in TOPICS.values() for topic in topics)


@cache
def _slack_topics() -> frozenset[str]:
    from tasks.slack.kinds import REVIEW_FAILED_TOPIC, TOPIC_KINDS

    return frozenset(t for t in TOPIC_KINDS if t != REVIEW_FAILED_TOPIC)


def work_for(topic: str) -> tuple[str, ...]:
    """The kinds of work a topic may cause, in the order they run: ("refresh", "review", "slack")."""
    upper = topic.strip().upper()
    work: list[str] = []
    if upper.startswith(SYNCED_PREFIXES):
        work.append("refresh")
    if upper in _review_topics():
        work.append("review")
    if upper in _slack_topics():
        work.append("slack")
    return tuple(work)


def initial_state(topic: str) -> str:
    """The inbox row's work_state at ingest: "pending" when the topic causes work, else "none"."""
    return PENDING if work_for(topic) else NOTHING
