"""Files llm-magics keeps on disk (cache, job store, local-model state): private and recoverable.

State files hold prompts and answers, so they are created for the user alone
(directories 0700, files 0600), and an SQLite file that is not a database any
more is moved aside, never deleted, so a fresh one can start without losing it::

    >>> moved = move_aside(Path("/tmp/cache.sqlite"))   # doctest: +SKIP
    >>> moved.name                                       # doctest: +SKIP
    'cache.sqlite.corrupt-20250101-120000'
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import stat
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from ..errors import ConfigurationError

__all__ = ["DIR_MODE", "FILE_MODE", "private_dir", "private_file", "open_database",
           "is_corrupt", "move_aside", "unusable_file_errors"]

log = logging.getLogger("llm_magics.state")

DIR_MODE = 0o700
FILE_MODE = 0o600
_SIDECARS = ("-wal", "-shm", "-journal")  # SQLite's files next to the database


def private_dir(folder: Path) -> None:
    """Create ``folder`` and any missing parents as 0700; existing directories are left as is
    (a parent like ``~/.cache`` is not ours to change)."""
    missing = []
    for level in (folder, *folder.parents):
        if level.exists():
            break
        missing.append(level)
    for level in reversed(missing):
        with contextlib.suppress(FileExistsError):  # another process made it first
            level.mkdir(mode=DIR_MODE)
        with contextlib.suppress(OSError):  # mkdir's mode is filtered by the umask
            level.chmod(DIR_MODE)


def private_file(path: Path) -> None:
    """Create ``path`` as 0600 if missing (parents 0700). An existing file of ours loses its
    group and world bits (files from older versions were 0644); a read-only one stays so."""
    private_dir(path.parent)
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE))
    except FileExistsError:
        info = path.stat()
        if stat.S_ISREG(info.st_mode) and info.st_uid == os.getuid() and info.st_mode & 0o077:
            path.chmod(info.st_mode & 0o700)


def open_database(path: Path, *, what: str, busy_timeout_s: float,
                  setup: Callable[[sqlite3.Connection], object]) -> sqlite3.Connection:
    """An autocommit connection to the private SQLite file ``path``, usable from any thread,
    after ``setup(db)`` (pragmas, schema) ran on it.

    A file that is not a database is moved aside with a warning naming both
    paths, and a fresh one is started. SQLite creates its ``-wal``/``-shm``
    files with the database's own mode, so they are private too.
    """
    for attempt in range(2):
        private_file(path)
        db = sqlite3.connect(path, check_same_thread=False, isolation_level=None,
                             timeout=busy_timeout_s)
        try:
            setup(db)
            return db
        except sqlite3.DatabaseError as err:
            db.close()
            if attempt or not is_corrupt(err):
                raise
            moved = move_aside(path)
            log.warning("The %s %s is not a readable database (%s): moved it to %s and started "
                        "a fresh one. Delete the moved file once you no longer need it.",
                        what, path, err, moved)
    raise AssertionError("unreachable: the second attempt returns or raises")


@contextlib.contextmanager
def unusable_file_errors(path: Path | None, what: str, fix: str) -> Iterator[None]:
    """Turn "the file cannot be used" (locked, read-only, disk full, damaged, no access) into
    a ``ConfigurationError`` naming the file and ``fix``; programming errors pass through."""
    try:
        yield
    except (sqlite3.Error, OSError) as err:
        the_file = isinstance(err, (OSError, sqlite3.OperationalError)) or (
            isinstance(err, sqlite3.DatabaseError) and is_corrupt(err))
        if not the_file:
            raise
        raise ConfigurationError(
            f"The {what} {path} cannot be used ({type(err).__name__}: {err}). {fix}"
        ) from err


def is_corrupt(err: sqlite3.Error) -> bool:
    """The file is not a database (or a damaged one): moving it aside is the only way on."""
    name = getattr(err, "sqlite_errorname", "")
    if name:
        return name in ("SQLITE_NOTADB", "SQLITE_CORRUPT")
    text = str(err)
    return "not a database" in text or "malformed" in text


def move_aside(path: Path) -> Path:
    """Rename ``path`` (and its SQLite side files) to ``<name>.corrupt-<time>``; return the new
    path. If another process moved it first, there is nothing left to do."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    target = path.with_name(f"{path.name}.corrupt-{stamp}-{os.getpid()}")
    with contextlib.suppress(FileNotFoundError):
        os.replace(path, target)
    for suffix in _SIDECARS:
        with contextlib.suppress(FileNotFoundError):
            os.replace(f"{path}{suffix}", f"{target}{suffix}")
    return target
