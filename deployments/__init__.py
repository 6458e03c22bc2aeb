"""What runs in production, and only that: the processes that serve the flows of ``flows/``.

* ``cli/``: the ``jobberflow`` command line, one module per sub-command
* ``gateway/``: the always-on ASGI front door (Jobber webhooks into the inbox, the relay, Slack, Twilio,
  OAuth, the admin page, metrics)
* ``runner.py``: serves every deployment of prefect.yaml from one process (the embedded default)
* ``processes.py``: child processes that die with their parent (gateway -> relay, demo -> everything)

The Jobber sandbox and the demo are developer tools in the top-level ``sandbox`` package; only the CLI's
``sandbox serve`` and ``demo`` commands import it, when they run.
"""
