"""Every report by name, and its export."""

from __future__ import annotations

from typing import Any

REPORT_EXPORTS: dict[str, Any] = {}
