"""Slack: notifications for important Jobber events, and the `/jobber` slash command.

Notifications go through an outbox so that a Slack outage delays them and never loses them:

```
event -> notify.py (refetch from Jobber, build the context) -> render.py (pure: Jinja -> Block Kit)
      -> outbox.py (one row per notification, deduplicated on the event's identity)
      -> dispatch.py (claim due rows, pace per channel, post through sender.py, record the outcome)
```

`routing.py` maps notification kinds to channels, `factory.py` builds the slack-sdk `WebClient` (base URL
injectable so tests drive the real SDK against a local endpoint), `signature.py` verifies Slack's request
signatures and `commands.py` answers slash commands from the synced database.
"""
