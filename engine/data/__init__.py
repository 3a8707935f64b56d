"""Datasets: read local files or built-in sets, detect the format, validate every row before any model loads."""
