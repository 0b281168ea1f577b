"""The revisions, oldest first: ``v0001_initial_schema.py``, ``v0002_...``."""
