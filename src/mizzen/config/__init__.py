"""Mizzen config."""
