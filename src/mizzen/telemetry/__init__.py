"""Mizzen telemetry."""
