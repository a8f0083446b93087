"""The relationship reports: each a view of the reporting schema and a ``touchlog report``."""
