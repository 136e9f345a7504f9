"""Mizzen store."""
