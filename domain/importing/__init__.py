"""Bulk import of contacts from a file (the contract is docs/import.md).

``import_file(log, "contacts.csv")`` records the file's contacts and returns a ``Summary``;
``reading=Reading.of("map.toml", settings)`` reads someone else's file through a mapping.
The modules: sources.py (CSV, TSV, white-space columns, JSON Lines, workbook.py for .xlsx),
csv_rows.py (the plain contract: the header check and the reading of a row), mapping.py
and mapping_check.py (mapping files), records.py (a mapping compiled for a file's
columns), pipeline.py (the two passes), spool.py (validated rows on disk between them),
parallel.py (the forked helper that parses rows on the second core).
"""

from touchlog.domain.importing.pipeline import (
    LogOpener,
    Reading,
    Rejection,
    Summary,
    import_file,
)

__all__ = ["LogOpener", "Reading", "Rejection", "Summary", "import_file"]
