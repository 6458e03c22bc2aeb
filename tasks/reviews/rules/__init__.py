"""The rules of review requests: pure functions of facts, settings and time (no database, no Jobber).

mapping (Jobber JSON -> ReviewContext), triggers (does an event start the trigger?), eligibility and
channels (may this client be asked, on which channel), timing and timezones (when, in whose zone,
outside quiet hours), rendering (the messages), plan (the planning decision), stored (what a
request row keeps for its send). The shell gathers the facts (tasks.reviews.loader,
tasks.reviews.jobber) and writes the outcome (tasks.reviews.ledger).
"""
