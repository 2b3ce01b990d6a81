"""Owner-only files: the data, logs, ledgers, pid files and secrets the pipeline writes are for
the user who runs it alone (folders 0700, files 0600).

Entry points call `restrict_umask()` so that what they and their children (Kafka, Spark) create
is owner-only too; `private_dir` also tightens a folder made before this rule.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import BinaryIO

UMASK = 0o077  # no bits for group and others
DIR_MODE = 0o700
FILE_MODE = 0o600


def restrict_umask() -> int:
    """Make everything this process creates from now on owner-only; return the old umask."""
    return os.umask(UMASK)


def private_dir(path: Path) -> Path:
    """Create `path` owner-only, or make an existing folder owner-only; return it."""
    old = os.umask(UMASK)  # the missing parents too
    try:
        path.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    finally:
        os.umask(old)
    path.chmod(DIR_MODE)
    return path


def _open(path: Path, flags: int) -> int:
    fd = os.open(path, flags | os.O_WRONLY | os.O_CREAT, FILE_MODE)
    os.fchmod(fd, FILE_MODE)  # a file that existed keeps its mode through os.open
    return fd


def append_private(path: Path) -> BinaryIO:
    """Open `path` for appending bytes (a log), as an owner-only file."""
    return os.fdopen(_open(path, os.O_APPEND), "ab")


def write_private(path: Path, text: str) -> None:
    """Replace the contents of `path` with `text` (UTF-8), as an owner-only file."""
    with os.fdopen(_open(path, os.O_TRUNC), "w", encoding="utf-8") as out:
        out.write(text)
