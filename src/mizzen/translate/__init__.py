"""Mizzen translate."""
