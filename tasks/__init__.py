"""The logic of jobberflow, as plain typed functions with thin Prefect ``@task`` wrappers.

Packages stand on floors and import only their own floor and the floors below (tests/test_layering.py
checks it, lazy imports included):

5. ``events``: the event path (which topics cause work, the inbox as a work queue, one refetch per item,
   the handler that runs sync, reviews and Slack for each event)
4. ``reviews``: review requests (pure rules, a loader, one ledger, the use-cases plan/send/poll/makecom)
3. ``sync`` (Jobber into the database, with its repository), ``slack``, ``admin``: one pipeline each
2. ``jobber`` (the API client and actions) and ``delivery`` (Twilio, SMTP, the local outbox)
1. ``store``: models, migrations and the repositories every pipeline shares (accounts, inbox, opt-outs)
0. ``settings``, ``errors``, ``retry``, ``phone``, ``deployment_specs``: values and configuration

``flows/`` orchestrates these; ``deployments/`` runs them in production; ``sandbox/`` is the developer's
stand-in for Jobber. Nothing here imports any of the three.
"""
