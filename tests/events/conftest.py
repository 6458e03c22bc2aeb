"""The review tests' fixtures (a fresh sandbox per test, an engine, recording channels) serve here too."""

from tests.reviews.conftest import channels, engine, live

__all__ = ["channels", "engine", "live"]
