"""The account's users and the webhook endpoints an app subscribes (``webhookEndpointCreate``)."""

from __future__ import annotations

from typing import Any

from ..models import User, WebhookEndpoint
from .core import StoreCore
from .values import UserError


class AccountMixin(StoreCore):
    def user_edit(self, user_id: Any, attrs: dict[str, Any]) -> User:
        with self._change(user_id, User, "userId", "USER_UPDATE") as user:
            name = (attrs.get("name") or "").strip()
            if "name" in attrs and not name:
                raise UserError("Name can't be blank", ["input", "name"])
            if name:
                first, _, last = name.partition(" ")
                user.first, user.last = first, last
        return user

    def webhook_endpoint_create(self, topic: str, url: str) -> WebhookEndpoint:
        if not url.startswith(("http://", "https://")):
            raise UserError("Url is invalid", ["input", "url"])
        with self.lock:
            return self._create(WebhookEndpoint, topic=topic, url=url)
