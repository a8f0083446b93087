"""Bulk import of contacts from a file (the contract is docs/import.md).

``import_file(log, "contacts.csv")`` records the file's contacts and returns a ``Summary``;
``reading=Reading.of("map.toml", settings)`` reads someone else's file through a mapping.
The modules: reading.py (a mapping and the options over it), sources.py (CSV, TSV,
white-space columns, JSON Lines, workbook.py for .xlsx), csv_rows.py (the plain contract:
the header check and the reading of a row), mapping.py and mapping_check.py (mapping
files), records.py (a mapping compiled for a file's columns) and fields.py (a computed
field), pipeline.py (the two passes), summary.py (rejections and counts), spool.py
(validated rows on disk between them), parallel.py (the forked helper that parses rows on
the second core).
"""

from touchlog.domain.importing.pipeline import (
    LogOpener,
    Reading,
    Rejection,
    Summary,
    import_file,
)

__all__ = ["LogOpener", "Reading", "Rejection", "Summary", "import_file"]
