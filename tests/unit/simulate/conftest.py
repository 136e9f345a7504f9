"""Fixtures of the simulate tests."""

from simulate_helpers import run_tests

__all__ = ["run_tests"]
