"""Writing files: atomically (a temporary file in the same folder, then a rename), so a reader
never sees half a file and a failed run leaves nothing behind (DESIGN §8)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import polars as pl

#: files holding personal data are readable by their owner only
PRIVATE = 0o600


def atomic_write_bytes(path: Path, data: bytes, mode: int = PRIVATE) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_csv(path: Path, frame: pl.DataFrame, mode: int = PRIVATE) -> None:
    """CSV, UTF-8, ``\\n`` line endings, the same bytes for the same frame."""
    atomic_write_bytes(path, frame.write_csv().encode("utf-8"), mode)
