"""Helpers shared by the test suite: toy data and job files."""
