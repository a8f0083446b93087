"""Scratch folders: private folders for a command's temporary files (an import's spool,
verify --projections' shadow tables), beside its database.

A folder's name holds the process id, and a lock is held on it while it is used, so the
next command of that kind removes what a killed one left behind, and never a folder still
in use (docs/import.md "Large files"). ``sweep`` also removes the ``.part`` files that
domain/storage/files.py leaves where the file system has no unnamed temporary files.
"""

from __future__ import annotations

import fcntl
import glob
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from touchlog.domain.errors import FileWriteError

LOCK_FILE = ".lock"


def cache_folder() -> Path:
    """The user's cache folder for touchlog: ``$XDG_CACHE_HOME/touchlog``, by default
    ``~/.cache/touchlog``."""
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(cache) / "touchlog"


@contextmanager
def scratch_folder(kind: str, beside: Path | None) -> Iterator[Path]:
    """A private folder ``.touchlog-KIND-PID-…`` for a command's temporary files, removed
    afterwards: in the folder of ``beside`` (a database file), else (none, or that folder
    is not writable) in ``cache_folder()``. Folders of that kind that killed commands left
    there are removed first."""
    prefix = f".touchlog-{kind}-"
    places = [Path(os.path.realpath(beside)).parent] if beside is not None else []
    error: OSError | None = None
    for parent in [*places, cache_folder()]:
        try:
            if parent not in places:  # never the database's folder: it is not ours to make
                parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            sweep(parent, prefix)
            folder = Path(tempfile.mkdtemp(prefix=f"{prefix}{os.getpid()}-", dir=parent))
            lock = os.open(folder / LOCK_FILE, os.O_WRONLY | os.O_CREAT, 0o600)
            break
        except OSError as e:
            error = error or e
    else:
        assert error is not None
        raise FileWriteError(places[0] if places else cache_folder(),
                             f"cannot make a temporary folder: {error.strerror or error}")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)  # held by this process and those it forks
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        os.close(lock)


def sweep(parent: Path, prefix: str) -> list[Path]:
    """Removes what killed processes left in ``parent``: the entries ``PREFIX``PID-… whose
    process has ended and, for a folder, whose lock nobody holds (a process of another PID
    namespace may be using it). Returns what it removed."""
    removed = []
    for left in parent.glob(f"{glob.escape(prefix)}*"):
        pid = left.name[len(prefix):].split("-", 1)[0]
        if not pid.isdigit() or _running(int(pid)):
            continue
        if not left.is_dir():
            with suppress(OSError):
                left.unlink()
                removed.append(left)
        elif not _locked(left):
            shutil.rmtree(left, ignore_errors=True)
            removed.append(left)
    return removed


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's
        return True
    return True


def _locked(folder: Path) -> bool:
    try:
        fd = os.open(folder / LOCK_FILE, os.O_RDONLY)
    except FileNotFoundError:
        return False  # killed before it took the lock
    except OSError:
        return True  # not ours to judge
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return True
    finally:
        os.close(fd)
    return False
