"""The gateway: the always-on ASGI front door (Jobber webhooks, Slack, Twilio, OAuth, admin, metrics)."""
