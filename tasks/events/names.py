"""The Prefect events the gateway emits for Jobber webhooks, and what flows match on.

Topic `JOB_CLOSED` for item `Z2lk...` becomes event `jobber.job.closed` about resource
`jobber.job.Z2lk...`, with the account as a related resource and the webhook's fields as payload.
"""

from __future__ import annotations

from typing import Any

# Topics whose first word is not the resource's name as we spell it.
_RESOURCE_WORDS = {"PRODUCT_OR_SERVICE": "product_or_service", "ON_MY_WAY_TRACKING_LINK": "on_my_way_tracking_link"}


def split_topic(topic: str) -> tuple[str, str]:
    """("JOB_CLOSED") -> ("job", "closed"); ("PRODUCT_OR_SERVICE_CREATE") -> ("product_or_service", "create")."""
    upper = topic.strip().upper()
    for prefix, word in _RESOURCE_WORDS.items():
        if upper.startswith(prefix + "_"):
            return word, upper[len(prefix) + 1 :].lower()
    resource, _, action = upper.partition("_")
    return resource.lower(), (action or "event").lower()


def event_name(topic: str) -> str:
    resource, action = split_topic(topic)
    return f"jobber.{resource}.{action}"


def event_resource(topic: str, item_id: str) -> dict[str, str]:
    resource, _ = split_topic(topic)
    return {"prefect.resource.id": f"jobber.{resource}.{item_id}", "prefect.resource.name": f"{resource} {item_id}"}


def account_related(account_id: str) -> list[dict[str, str]]:
    return [{"prefect.resource.id": f"jobber.account.{account_id}", "prefect.resource.role": "account"}]


def event_payload(
    *, topic: str, item_id: str, account_id: str, occurred_at: str, inbox_id: int | None = None
) -> dict[str, Any]:
    return {"topic": topic, "itemId": item_id, "accountId": account_id, "occurredAt": occurred_at, "inboxId": inbox_id}
