"""Mizzen registry."""
