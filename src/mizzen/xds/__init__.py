"""Mizzen xds."""
