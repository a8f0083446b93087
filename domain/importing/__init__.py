"""Bulk import of contacts from a CSV file (the contract is docs/import.md).

``import_file(log, "contacts.csv")`` records the file's contacts and returns a ``Summary``.
The modules: csv_rows.py (the header check and the reading of a row), pipeline.py (the two
passes), spool.py (validated rows on disk between them), parallel.py (the forked helper
that parses rows on the second core).
"""

from touchlog.domain.importing.pipeline import LogOpener, Rejection, Summary, import_file

__all__ = ["LogOpener", "Rejection", "Summary", "import_file"]
