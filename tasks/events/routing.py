"""Which Jobber topics cause work, and which work: the gateway stores every verified webhook, but only
the ones something acts on wake a worker. Pure functions of the topic (no settings, no I/O), so the
gateway can decide at ingest; `warm()` loads the tables before the first webhook.

| work    | topics                                                                         |
|---------|--------------------------------------------------------------------------------|
| refresh | every topic about a resource the sync stores (tasks/sync/refresh.py `resource_for_topic`) |
| review  | the topics any review trigger listens to (tasks/reviews/rules/triggers.py TOPICS) |
| slack   | the topics a Slack notification may come from (tasks/slack/kinds.py)           |
"""

from __future__ import annotations

from functools import cache

from tasks.sync.refresh import resource_for_topic

PENDING = "pending"
NOTHING = "none"


@cache
def _review_topics() -> frozenset[str]:
    from tasks.reviews.rules.triggers import TOPICS

    return frozenset(topic for topics in TOPICS.values() for topic in topics)


@cache
def _slack_topics() -> frozenset[str]:
    from tasks.slack.kinds import REVIEW_FAILED_TOPIC, TOPIC_KINDS

    return frozenset(t for t in TOPIC_KINDS if t != REVIEW_FAILED_TOPIC)


def work_for(topic: str) -> tuple[str, ...]:
    """The kinds of work a topic may cause, in the order they run: ("refresh", "review", "slack")."""
    upper = topic.strip().upper()
    work: list[str] = []
    if resource_for_topic(upper) is not None:  # a resource the sync stores
        work.append("refresh")
    if upper in _review_topics():
        work.append("review")
    if upper in _slack_topics():
        work.append("slack")
    return tuple(work)


def initial_state(topic: str) -> str:
    """The inbox row's work_state at ingest: "pending" when the topic causes work, else "none"."""
    return PENDING if work_for(topic) else NOTHING


def warm() -> None:
    """Load the topic tables now (the gateway calls it at start, not on its first webhook's hot path)."""
    _review_topics()
    _slack_topics()
