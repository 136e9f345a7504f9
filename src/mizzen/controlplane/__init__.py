"""Mizzen controlplane."""
