"""Developer tools that stand in for the outside world; nothing here runs in production.

``sandbox.jobber`` is a local Jobber (GraphQL from the real schema, OAuth, query cost and rate limits,
signed webhooks); ``sandbox.demo`` is ``jobberflow demo``, the whole stack on one machine against it.
Tests, the demo and the benchmarks use them. ``tasks/`` and ``flows/`` never import this package, and
``deployments/`` imports it only lazily, from the ``sandbox`` and ``demo`` sub-commands of the CLI.
"""
