"""The gateway: the always-on ASGI front door (Jobber webhooks, Slack, Twilio, OAuth, admin, metrics).

Every request passes `inbound.py` first: one body limit for every route, and a `Verifier` per provider
(Jobber, Slack, Twilio, Make.com) with one refusal. The routes live one area a module (webhooks, slack,
twilio, reviews, oauth, admin, health); `relay.py` hands stored webhooks on to Prefect.
"""
