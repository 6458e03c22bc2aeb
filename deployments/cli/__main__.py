"""``python -m deployments.cli ...``: the same as the ``jobberflow`` script (used to spawn child processes)."""

from . import main

main()
