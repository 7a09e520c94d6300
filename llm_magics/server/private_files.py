"""State that only its owner may read: directories 0700, files 0600, whatever the umask says.

The gateway's state holds other people's prompts, files and answers; with a
common umask (022) they would be created readable by every local user.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

__all__ = ["private_dir", "private_file"]

log = logging.getLogger("llm_magics.server")


def private_dir(path: Path) -> Path:
    """Create ``path`` (and parents) as 0700; an existing one open to others gets a warning."""
    existed = path.is_dir()
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    if not existed:
        os.chmod(path, 0o700)  # mkdir's mode is filtered by the umask
    elif stat.S_IMODE(path.stat().st_mode) & 0o077:
        log.warning("%s is readable by other users; chmod 700 it to keep its contents private",
                    path)
    return path


def private_file(path: Path) -> Path:
    """Create ``path`` empty as 0600 if missing (a database opened later keeps the mode)."""
    fd = os.open(path, os.O_CREAT | os.O_WRONLY | os.O_APPEND, 0o600)
    try:
        os.fchmod(fd, 0o600)
    finally:
        os.close(fd)
    return path
