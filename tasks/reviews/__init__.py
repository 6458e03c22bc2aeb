"""Review requests: from a Jobber event (or the poll, or a Make.com scenario) to one message, sent once.

The path: `triggers` (does the event start the contractor's trigger?) -> `mapping` (Jobber's fields)
-> `eligibility` (may this client be asked, on which channel, and why not) -> `timing` and `timezones`
(when, in the recipient's zone, outside quiet hours) -> `planning` (one row per job: the dedupe) ->
`sending` (claim, re-check, render with `rendering`, deliver exactly once, reconcile) with `records`
(the rows' state machine). `pipeline` joins them for one event; `polling` and `make` are the other two
ways in; `settings` is the contractor's choices; `prefect_tasks` and `commands` are the thin wrappers
for flows and the CLI. The event path (tasks/events/) calls `pipeline` once per event of a batch.
"""
