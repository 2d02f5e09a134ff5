"""Writing files and run directories (DESIGN §8), and the lock that keeps runs apart.

Files are written atomically (a temporary file in the same folder, then a rename) and a run
directory as a whole (a temporary directory beside it, then a rename), so a reader finds a run
complete or not at all. Nothing here deletes what an earlier run or an operator made: a replaced
run is moved aside.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import socket
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import polars as pl

from mediins_cli.errors import Refused

#: files holding personal data are readable by their owner only
PRIVATE = 0o600
#: summaries and manifests hold counts, names of files and hashes
PUBLIC = 0o644
LOCK_NAME = ".lock"


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


def csv_bytes(frame: pl.DataFrame) -> bytes:
    """CSV, UTF-8, ``\\n`` line endings: the same bytes for the same frame."""
    return frame.write_csv().encode("utf-8")


def json_bytes(data: Any) -> bytes:
    """JSON with sorted keys and a final newline: the same bytes for the same data."""
    return (json.dumps(data, ensure_ascii=False, indent=2, sort_keys=True) + "\n").encode("utf-8")


def atomic_write_csv(path: Path, frame: pl.DataFrame, mode: int = PRIVATE) -> None:
    atomic_write_bytes(path, csv_bytes(frame), mode)


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 22):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass(frozen=True)
class OutputFile:
    name: str
    data: bytes
    mode: int = PRIVATE


def write_run_dir(target: Path, files: list[OutputFile]) -> None:
    """Create ``target`` with exactly ``files``, all at once: written into a hidden sibling
    directory, flushed, then renamed. ``target`` must not exist."""
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    try:
        for f in files:
            path = staging / f.name
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("wb") as fh:
                fh.write(f.data)
                fh.flush()
                os.fsync(fh.fileno())
            os.chmod(path, f.mode)
        os.chmod(staging, 0o755)
        os.rename(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)  # our own unfinished staging folder
        raise
    _fsync_dir(target.parent)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def move_aside(run_dir: Path) -> Path:
    """Rename an earlier run to ``<name>.superseded-<n>`` (the first free n); never delete."""
    n = 1
    while (candidate := run_dir.with_name(f"{run_dir.name}.superseded-{n}")).exists():
        n += 1
    os.rename(run_dir, candidate)
    return candidate


# --------------------------------------------------------------------------- lock


def lock_holder(month_dir: Path) -> str | None:
    """Who holds the month's lock, or None; takes nothing and creates nothing."""
    path = month_dir / LOCK_NAME
    if not path.exists():
        return None
    with path.open("r+") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return fh.read().strip() or "another process"
        fcntl.flock(fh, fcntl.LOCK_UN)
    return None


@contextlib.contextmanager
def month_lock(month_dir: Path, what: str) -> Iterator[None]:
    """Hold the month's lock for the block, or refuse (exit 3) naming who holds it. The kernel
    releases it if the process dies, so a crashed run never leaves a stale lock behind."""
    month_dir.mkdir(parents=True, exist_ok=True)
    fh = (month_dir / LOCK_NAME).open("a+")
    try:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            holder = fh.read().strip() or "another process"
            raise Refused(f"another run holds the lock of {month_dir}: {holder}") from None
        fh.seek(0)
        fh.truncate()
        started = datetime.now().astimezone().isoformat(timespec="seconds")
        fh.write(f"{what}, pid {os.getpid()} on {socket.gethostname()}, since {started}\n")
        fh.flush()
        yield
    finally:
        fh.close()
