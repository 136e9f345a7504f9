"""Mizzen samples."""
