"""Mizzen testing."""
