"""``touchlog keys``: the master key that wraps every customer's key (docs/privacy.md)."""

from __future__ import annotations

from pathlib import Path

import click


@click.group()
def keys() -> None:
    """Make the master key."""


@keys.command()
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
def init(file: Path) -> None:
    """Write a new master key (32 random bytes, base64) to FILE, readable by its owner
    only; name it in TOUCHLOG_MASTER_KEY_FILE. An existing file is never overwritten.

    Example: touchlog keys init /etc/touchlog/master.key
    """
    from touchlog.domain.storage.keys import MASTER_KEY_ENV, init_master_key

    init_master_key(file)
    click.echo(f"wrote the master key {file}; set {MASTER_KEY_ENV}={file}")
