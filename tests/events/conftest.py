"""The review tests' fixtures (a fresh sandbox per test, an engine, recording channels) serve here too."""

from tests.reviews.conftest import channels, configured, engine, live

__all__ = ["channels", "configured", "engine", "live"]
