"""Fixture helper module."""
