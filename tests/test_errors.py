"""Every exception class of the project lives in tasks/errors.py, in one tree a caller can catch."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import tasks.errors as errors
from tasks.errors import JobberflowError, PermanentError, TransientError

# Exceptions that stay where they are, and why: a private class (a leading underscore, such as the inbox
# writer's _PartialFailure) is control flow raised and caught inside its own module, never seen by a caller.
# The Jobber sandbox stands in for Jobber itself and imports nothing from tasks/: its errors (OAuthError,
# UserError) are the fake Jobber's own answers, not the project's.
FAKE_JOBBER = "sandbox.jobber."


def _project_exceptions() -> dict[str, type[BaseException]]:
    import deployments
    import flows
    import sandbox
    import tasks

    found: dict[str, type[BaseException]] = {}
    for package in (tasks, flows, deployments, sandbox):
        for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
            if ".migrations" in info.name or info.name.endswith("__main__") or info.name == "tasks.errors":
                continue
            if info.name.startswith(FAKE_JOBBER):
                continue
            module = importlib.import_module(info.name)
            for name, value in vars(module).items():
                if name.startswith("_") or not inspect.isclass(value) or value.__module__ != info.name:
                    continue
                if issubclass(value, BaseException):
                    found[f"{info.name}.{name}"] = value
    return found


def test_every_exception_class_is_defined_in_tasks_errors() -> None:
    outside = sorted(_project_exceptions())
    assert outside == [], "move these to tasks/errors.py"


def test_the_tree_has_one_root_and_transient_and_permanent_never_meet() -> None:
    classes = [c for c in vars(errors).values() if inspect.isclass(c) and issubclass(c, BaseException)]
    assert len(classes) > 30
    assert all(issubclass(c, JobberflowError) for c in classes), "one root a caller can catch"
    both = [c.__name__ for c in classes if issubclass(c, TransientError) and issubclass(c, PermanentError)]
    assert both == []
    # what the gateway and the queues rely on
    assert issubclass(errors.InboxUnavailable, TransientError) and issubclass(errors.PrefectUnavailable, TransientError)
    assert issubclass(errors.RelayNotConfigured, errors.ConfigurationError)
    assert errors.RelayNotConfigured("PREFECT_API_URL is not set").variable == "PREFECT_API_URL"
    assert issubclass(errors.RenderError, ValueError) and issubclass(errors.BodyTooLarge, PermanentError)
    assert issubclass(errors.AccountMismatch, errors.JobberAuthError)
