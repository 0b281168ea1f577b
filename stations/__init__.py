"""Warehouse stations: batches of returned items graded by the models, their jobs, and the
items left to people (``batches``, ``jobs``, ``review``; the pure ``grading`` rules)."""
