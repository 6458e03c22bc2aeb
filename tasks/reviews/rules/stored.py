"""What a request row keeps for its send: the job's fields, the settings and branding as planned, and when
the trigger happened. Planning writes it (`stored_json`); the send reads it once (`StoredContext.parse`),
so a settings edit after planning never changes a message already planned."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tasks.jobber.models import parse_time
from tasks.reviews.rules.mapping import ReviewContext
from tasks.reviews.rules.rendering import Branding
from tasks.reviews.settings import ReviewSettings


@dataclass(frozen=True)
class StoredContext:
    context: ReviewContext
    settings: ReviewSettings
    branding: Branding
    trigger_at: datetime | None

    @classmethod
    def parse(cls, stored: Mapping[str, Any] | None, *, job_id: str) -> StoredContext:
        stored = stored or {}
        brand = stored.get("branding") or {}
        return cls(
            context=ReviewContext.from_json(stored.get("fields") or {"job_id": job_id}),
            settings=ReviewSettings.model_validate(stored.get("settings") or {}),
            branding=Branding(
                public_url=str(brand.get("public_url") or "http://127.0.0.1:8700"),
                business_name=str(brand.get("business_name") or "Our team"),
                business_postal_address=brand.get("business_postal_address"),
            ),
            trigger_at=parse_time(stored.get("trigger_at")),
        )


def stored_json(
    context: ReviewContext, settings: ReviewSettings, branding: Branding, *, trigger_at: datetime, **extra: Any
) -> dict[str, Any]:
    """The row's `context` column at planning."""
    return {
        "fields": context.as_json(),
        "settings": settings.model_dump(mode="json"),
        "branding": {
            "public_url": branding.public_url,
            "business_name": branding.business_name,
            "business_postal_address": branding.business_postal_address,
        },
        "trigger_at": trigger_at.isoformat(),
        **extra,
    }
