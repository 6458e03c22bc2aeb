"""Outbound channels for review requests: SMS through Twilio, email through SMTP, and a local outbox.

Every channel follows `tasks.delivery.base.Channel`; get one from `tasks.delivery.factory`. Sending is
I/O only: rendering happens before (templates), the exactly-once bookkeeping around it (tasks.store).
"""

from tasks.delivery.base import Channel, OutgoingMessage, RecordingChannel, SendResult, suppression_reason

__all__ = ["Channel", "OutgoingMessage", "RecordingChannel", "SendResult", "suppression_reason"]
