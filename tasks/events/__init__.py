"""The event path: one Jobber webhook -> at most one unit of orchestrated work, from one refetch.

```
Jobber --webhook--> gateway: verify -> webhook_inbox row (work_state pending | none) -> 200
relay (its own process): new rows -> Prefect events (the UI's event feed) + ONE background task run
                         (`handle_jobber_events.delay()`) per wake-up, never one per webhook
event worker (`jobberflow worker`, prefect.task_worker): the task claims every pending row
   (queue.py: a fenced lease, so two workers never take the same row), fetches each item once
   (fetch.py: one document per resource serves sync, reviews and Slack), then per event:
   refresh the synced record, plan (or skip) the review request, queue the Slack notification
   (handler.py); then sends what is due now and posts Slack; one artifact row per event.
jobber-events deployment (every minute): the same drain, for rows a lost wake-up left behind.
```

The inbox is the source of truth: a task run reads its work from the database, not from its
parameters, so a wake-up that Prefect drops delays work and never loses it.

Modules: `names` (Prefect event names), `routing` (which topics cause work), `queue` (claims on the
inbox), `fetch` (one refetch per item), `handler` (the work itself).
"""

from tasks.events.names import account_related, event_name, event_payload, event_resource, split_topic

__all__ = ["account_related", "event_name", "event_payload", "event_resource", "split_topic"]
