"""Files touchlog writes for a user: exports, audit exports, checkpoints, rejects files.

``NewFiles`` writes exports, audit exports, checkpoints and rejects files (docs/cli.md
"Files touchlog writes"). A target is refused, before any work, when it is a ``Protected``
file (the event database, the reporting database, the file being read; by path and by
inode), is not a regular file, or exists and ``force`` was not given. Each file is written
to an unnamed temporary file in the target's folder (``O_TMPFILE``; a named ``.part`` file
where the file system has none), owner-only, synced, then put in place in one step and the
folder synced. Killed at any moment, a target is its previous file or the complete new one.
Files written together are published in order, and the later ones' previous versions are
removed first, so a description (a ``.meta.json``, a manifest) is never older than its data.
"""

from __future__ import annotations

import errno
import io
import os
import secrets
import stat
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import IO, Any

from touchlog.domain.errors import FileWriteError
from touchlog.domain.storage import faults
from touchlog.domain.storage.scratch import sweep

# Files beside a SQLite database that belong to it.
DATABASE_SIBLINGS = ("", "-wal", "-shm", "-journal")
PART_SUFFIX = ".part"  # a named temporary file's, where O_TMPFILE is not supported
_NO_TMPFILE = (errno.EOPNOTSUPP, errno.EISDIR, errno.EINVAL)
EXISTS = "the file exists; use --force to replace it"


class Protected:
    """Files a written file must never replace, each with what it is (for the message)."""

    def __init__(self) -> None:
        self.paths: dict[Path, str] = {}
        self.inodes: dict[tuple[int, int], str] = {}

    def database(self, path: Path | None, what: str) -> Protected:
        """A SQLite database file and its journals (nothing for a server's database)."""
        if path is not None:
            for suffix in DATABASE_SIBLINGS:
                self.file(Path(f"{path}{suffix}"), what)
        return self

    def file(self, path: Path, what: str) -> Protected:
        self.paths.setdefault(Path(os.path.realpath(path)), what)
        with suppress(OSError):
            self.inodes.setdefault(_identity(os.stat(path)), what)
        return self

    def stream(self, stream: IO[Any], what: str) -> Protected:
        """An open file, by its inode (whatever name it was opened by; stdin too)."""
        with suppress(OSError, ValueError, AttributeError):  # no descriptor (a StringIO)
            self.inodes.setdefault(_identity(os.fstat(stream.fileno())), what)
        return self

    def what(self, path: Path) -> str | None:
        """What ``path`` is, if it is protected."""
        found = self.paths.get(Path(os.path.realpath(path)))
        with suppress(OSError):
            found = found or self.inodes.get(_identity(os.stat(path)))
        return found


def _identity(status: os.stat_result) -> tuple[int, int]:
    return status.st_dev, status.st_ino


class NewFiles:
    """Files written together and published when the block ends without an error.

    ``open`` checks a target and gives the (binary or text) file to write it through.
    An error in the block discards every file; an OSError anywhere is a ``FileWriteError``
    naming the file and the reason. Example::

        with NewFiles(force=False, protected=Protected().file(source, "input")) as files:
            files.open(Path("out.csv"), text=True).write("a,b\\n")
    """

    def __init__(self, *, force: bool = False, protected: Protected | None = None) -> None:
        self.force = force
        self.protected = protected or Protected()
        self.pending: list[_Pending] = []

    def __enter__(self) -> NewFiles:
        return self

    def __exit__(self, kind: type[BaseException] | None, *_: object) -> None:
        try:
            if kind is None:
                self._publish()
        finally:
            for pending in self.pending:
                pending.discard()

    def check(self, path: Path) -> Path:
        """Refuses a protected, special or (without ``force``) existing target; returns
        the path to write (symbolic links followed)."""
        what = self.protected.what(path)
        if what is not None:
            raise FileWriteError(path, f"it is the {what}")
        target = Path(os.path.realpath(path))
        try:
            status = os.stat(target)
        except FileNotFoundError:
            return target
        except OSError as e:
            raise FileWriteError(path, e.strerror or str(e)) from None
        if stat.S_ISDIR(status.st_mode):
            raise FileWriteError(path, "it is a folder")
        if not stat.S_ISREG(status.st_mode):
            raise FileWriteError(path, "not a regular file")
        if not self.force:
            raise FileWriteError(path, EXISTS)
        return target

    def open(self, path: Path, *, text: bool = False) -> IO[Any]:
        """The file to write ``path``'s content to (text: UTF-8, newlines as written)."""
        pending = _Pending(path, self.check(path))
        self.pending.append(pending)
        sweep(pending.target.parent, f".{pending.target.name}.touchlog-")
        with pending.errors():
            pending.create()
        binary = io.BufferedWriter(_Output(pending.fd, path))
        pending.out = (io.TextIOWrapper(binary, encoding="utf-8", newline="") if text
                       else binary)
        return pending.out

    def _publish(self) -> None:
        for pending in self.pending:
            with pending.errors():
                pending.sync()
        for pending in reversed(self.pending[1:]):  # no companion older than its data
            with pending.errors():
                faults.file_step("REMOVE", pending.target)
                with suppress(FileNotFoundError):
                    os.unlink(pending.target)
        for pending in self.pending:
            with pending.errors():
                pending.publish(replace=self.force)


class _Output(io.FileIO):
    """A temporary file's descriptor, whose write errors name the file it becomes."""

    def __init__(self, fd: int, path: Path) -> None:
        super().__init__(fd, "wb")
        self.path = path

    def write(self, data: Any) -> int:
        try:
            return super().write(data)
        except OSError as e:
            raise FileWriteError(self.path, e.strerror or str(e)) from None


class _Pending:
    """One file being written: its temporary file and where it goes."""

    def __init__(self, path: Path, target: Path) -> None:
        self.path, self.target = path, target  # as named, and with links followed
        self.fd = -1
        self.part: Path | None = None  # the named temporary file, when there is one
        self.out: IO[Any] | None = None

    @contextmanager
    def errors(self) -> Iterator[None]:
        try:
            yield
        except OSError as e:
            raise FileWriteError(self.path, e.strerror or str(e)) from None

    def create(self) -> None:
        folder = self.target.parent
        faults.file_step("WRITE", self.target)
        try:
            self.fd = os.open(folder, os.O_TMPFILE | os.O_WRONLY, 0o600)
        except OSError as e:
            if e.errno not in _NO_TMPFILE:
                raise
            self.part = self._part_name()
            self.fd = os.open(self.part, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)

    def sync(self) -> None:
        assert self.out is not None
        self.out.flush()
        faults.file_step("SYNC", self.target)
        os.fsync(self.fd)

    def publish(self, *, replace: bool) -> None:
        faults.file_step("PUBLISH", self.target)
        folder = os.open(self.target.parent, os.O_RDONLY | os.O_DIRECTORY)
        try:
            if self.part is None:  # an unnamed file: linked in place (beside it to replace)
                self.part = self._part_name() if replace else None
                # A folder descriptor makes it linkat(AT_SYMLINK_FOLLOW), which follows
                # /proc/self/fd/N to the file (plain link() would link the symbolic link).
                os.link(f"/proc/self/fd/{self.fd}", (self.part or self.target).name,
                        dst_dir_fd=folder)
            if self.part is not None:
                if not replace and os.path.lexists(self.target):
                    raise FileExistsError
                os.replace(self.part, self.target)
                self.part = None
            os.fsync(folder)
        except FileExistsError:  # made meanwhile by someone else
            raise FileWriteError(self.path, EXISTS) from None
        finally:
            os.close(folder)

    def discard(self) -> None:
        if self.out is not None:
            with suppress(OSError, FileWriteError):
                self.out.close()  # an unnamed temporary file goes with its last descriptor
            self.out = None
        elif self.fd >= 0:
            with suppress(OSError):
                os.close(self.fd)
        self.fd = -1
        if self.part is not None:
            with suppress(OSError):
                os.unlink(self.part)
            self.part = None

    def _part_name(self) -> Path:
        return self.target.parent / (f".{self.target.name}.touchlog-{os.getpid()}-"
                                     f"{secrets.token_hex(4)}{PART_SUFFIX}")
