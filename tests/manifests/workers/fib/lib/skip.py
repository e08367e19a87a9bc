"""Fixture module the full manifest excludes."""
