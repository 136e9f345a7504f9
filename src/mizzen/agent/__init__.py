"""Mizzen agent."""
