"""The command line as the end-to-end tests call it: in process, through click's runner."""

from __future__ import annotations

import json
from typing import Any

from click.testing import CliRunner, Result

from touchlog.cli.main import cli


def run(db: str, *args: str) -> Result:
    """``touchlog --db DB ARGS…``, its exit code and output kept (stdout and stderr apart)."""
    return CliRunner().invoke(cli, ["--db", db, *args])


def ok(db: str, *args: str) -> Any:
    """The JSON answer of a command that must succeed."""
    result = run(db, *args, "--format", "json")
    assert result.exit_code == 0, (args, result.output)
    return json.loads(result.stdout)
