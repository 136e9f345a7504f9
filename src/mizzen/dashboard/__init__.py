"""Mizzen dashboard."""
