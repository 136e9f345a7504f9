"""Mizzen cli."""
