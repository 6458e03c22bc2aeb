"""Review requests: from a Jobber event (or the poll, or a Make.com scenario) to one message, sent once.

A functional core and an I/O shell. Each use-case (usecases/) loads facts, decides with the rules, and
writes through the ledger:

    plan   event/poll/Make.com --> jobber.resolve_event (fetch) --> rules.triggers.match_event
           --> ledger.find_request (the dedupe) + loader.client_facts (cooldown, opt-outs)
           --> rules.plan.decide_plan: rules.eligibility.assess (rules.channels.choose_channels)
               -> rules.timing.send_time -> rules.rendering (a broken template is found now)
           --> ledger.insert_request: one row per (account, job), `planned` or `skipped` with its reason
    send   ledger.due_request_ids --> ledger.claim (tasks/store/lease.py: a fenced token)
           --> rules.stored (the row's context, parsed once) --> jobber.still_valid (the re-check)
           --> loader.opt_outs --> rules.channels.choose_channels --> rules.rendering
           --> rules.timing.send_time (again, on the clock: quiet hours just before the call)
           --> ledger.deliver_once per channel: the claim renewed WHERE claim_token = :token in the
               transaction that commits the `sending` delivery row, then the provider; a row left
               `sending`/`unknown` is reconciled with the provider first
           --> ledger.record_sent | put_back | finish (each fenced by the token)

- rules/: pure functions of facts, settings and time (no database; tests/reviews/test_layout.py checks).
- loader.py: the database facts; jobber.py: what reviews read from Jobber.
- ledger.py: the only module that writes review requests and deliveries.
- usecases/: plan, send, poll, makecom (the Make.com endpoint), preview.
- settings.py: the contractor's choices; decision.py: what a run reports per job; prefect_tasks.py and
  cli.py: the thin wrappers for flows and `jobberflow reviews ...`.
The event path (tasks/events/) calls `usecases.plan.plan_from_event` once per event of a batch, then
`usecases.send.dispatch_due`.
"""
