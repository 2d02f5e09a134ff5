"""Writing files and run directories (DESIGN §8), and the lock that keeps runs apart.

Files are written atomically (a temporary file in the same folder, then a rename) and a run
directory as a whole (a temporary directory beside it, then a rename), so a reader finds a run
complete or not at all. A run that dies leaves at most its own temporary file or staging
directory, named after its process (:mod:`mediins_cli.tempnames`); the next run removes those
whose process is gone (staging directories: every one, under the month's lock). Nothing here
deletes what an earlier run or an operator made: a replaced run is moved aside.

Modes never widen what the operator's umask narrows. Text cells a spreadsheet would execute
are neutralised in every CSV file written (:func:`neutralise`).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import socket
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import polars as pl

from mediins_cli.errors import Refused
from mediins_cli.i18n import _
from mediins_cli.tempnames import remove_leftovers, temp_name

#: files holding personal data are readable by their owner only
PRIVATE = 0o600
#: summaries and manifests hold counts, names of files and hashes
PUBLIC = 0o644
LOCK_NAME = ".lock"
FOLDER = 0o755


def umask() -> int:
    """The process's umask, read (not cached: a library caller may change it) without changing
    it where the system allows."""
    with contextlib.suppress(OSError), open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    current = os.umask(0o077)
    os.umask(current)
    return current


def narrowed(mode: int) -> int:
    """``mode`` less what the umask takes away: mediins never widens an operator's umask."""
    return mode & ~umask()


# --------------------------------------------------------------------------- files


#: a table in memory, or a plan that makes one (written by streaming)
Frame = TypeVar("Frame", pl.DataFrame, pl.LazyFrame)

#: a cell a spreadsheet would execute: starting with =, +, -, @, a tab or a carriage return,
#: and not simply a number (an amount like -12.50 or a date is never altered)
_FORMULA = r"^[=+\-@\t\r]"
_NUMBER = r"^[+-]?[0-9]+(\.[0-9]+)?$"


def neutralise(frame: Frame) -> Frame:
    """Every text cell (and column name) a spreadsheet would execute, with a leading ``'``
    (DESIGN §8): names, agencies and carried-through extra columns alike. A plan stays a plan
    (the columns holding such a cell are found in one streaming pass over the text columns)."""
    schema = frame.collect_schema() if isinstance(frame, pl.LazyFrame) else frame.schema
    text = [c for c, dtype in schema.items() if dtype == pl.String]
    if text:  # only the columns where some cell starts like a formula (usually none) are rewritten
        probe = frame.select(pl.col(c).str.contains(_FORMULA).any() for c in text)
        found = probe.collect(engine="streaming") if isinstance(probe, pl.LazyFrame) else probe
        text = [c for c, hit in zip(text, found.row(0), strict=True) if hit]
    if text:
        frame = frame.with_columns(
            pl.when(pl.col(c).str.contains(_FORMULA) & ~pl.col(c).str.contains(_NUMBER))
            .then(pl.lit("'") + pl.col(c))
            .otherwise(pl.col(c))
            .alias(c)
            for c in text
        )
    renamed = {
        c: f"'{c}"
        for c in schema
        if re.match(_FORMULA, c) and not re.match(_NUMBER, c) and f"'{c}" not in schema
    }
    return frame.rename(renamed) if renamed else frame


def csv_text(frame: pl.DataFrame) -> str:
    """CSV, ``\\n`` line endings, formulas neutralised: the same text for the same frame."""
    return neutralise(frame).write_csv()


def csv_bytes(frame: pl.DataFrame) -> bytes:
    """:func:`csv_text` in UTF-8."""
    return csv_text(frame).encode("utf-8")


def json_bytes(data: Any) -> bytes:
    """JSON with sorted keys and a final newline: the same bytes for the same data."""
    return (json.dumps(data, ensure_ascii=False, indent=2, sort_keys=True) + "\n").encode("utf-8")


def atomic_write_bytes(path: Path, data: bytes, mode: int = PRIVATE) -> None:
    """Write ``path`` at once: a temporary sibling, flushed, then renamed over it. Leftovers of
    writers of the same file that died are removed first."""
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_leftovers(path.parent, path.name)
    prefix, suffix = temp_name(path.name)
    fd, tmp = tempfile.mkstemp(prefix=prefix, suffix=suffix, dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, narrowed(mode))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


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
class OutputFormat:
    """How CSV files are written: UTF-8 (with a BOM when ``excel``, so Excel shows Chinese) or
    GB18030. JSON files are always UTF-8. ``xlsx``: the CSV files also as Excel workbooks
    (:mod:`mediins_cli.xlsx`)."""

    excel: bool = False
    encoding: str = "utf-8"  # "utf-8" | "gb18030"
    xlsx: bool = False

    def write_csv(self, frame: pl.DataFrame | pl.LazyFrame, path: Path) -> None:
        """``frame`` as CSV at ``path`` (formulas neutralised): UTF-8 is written by polars
        straight to the file, with no copy of the text in Python; a plan streams into it.
        GB18030, which polars does not write, goes through the text once."""
        if isinstance(frame, pl.LazyFrame):
            plan = neutralise(frame)
            if self.encoding != "gb18030":
                plan.sink_csv(path, include_bom=self.excel, engine="streaming")
                return
            safe = plan.collect()
        else:
            safe = neutralise(frame)
        if self.encoding == "gb18030":
            path.write_bytes(safe.write_csv().encode("gb18030"))
        else:
            safe.write_csv(path, include_bom=self.excel)

    @property
    def read_encoding(self) -> str:
        return "gb18030" if self.encoding == "gb18030" else "utf8"

    def as_dict(self) -> dict[str, Any]:
        # xlsx only when asked for: the manifests of runs without workbooks stay as they were
        return {
            "excel": self.excel,
            "encoding": self.encoding,
            **({"xlsx": True} if self.xlsx else {}),
        }


@dataclass(frozen=True)
class OutputFile:
    name: str
    data: bytes
    mode: int = PRIVATE


@dataclass(frozen=True)
class Written:
    """A file written into a run directory: what its manifest says of it."""

    sha256: str
    bytes: int


class Staging:
    """A run directory being written: a hidden folder named after this process, readable by
    its owner only until it is complete (see :func:`staged_run_dir`)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.written: dict[str, Written] = {}
        self._modes: dict[str, int] = {}

    def _new(self, name: str, mode: int) -> Path:
        relative = Path(name)
        if relative.is_absolute() or ".." in relative.parts or name in self.written:
            raise ValueError(f"{name!r} cannot be written into a run directory")
        path = self.path / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        self._modes[name] = mode
        return path

    def write(self, name: str, data: bytes, mode: int = PRIVATE) -> Written:
        path = self._new(name, mode)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        self.written[name] = Written(sha256_bytes(data), len(data))
        return self.written[name]

    def write_csv(
        self, name: str, frame: pl.DataFrame | pl.LazyFrame, fmt: OutputFormat, mode: int = PRIVATE
    ) -> Written:
        """A frame as CSV, written by polars to the file and hashed from what is on disk."""
        path = self._new(name, mode)
        fmt.write_csv(frame, path)
        self.written[name] = Written(sha256_file(path), path.stat().st_size)
        return self.written[name]

    def _finish(self) -> None:
        """Modes as asked (never wider than the umask), then everything on disk at once."""
        for name, mode in self._modes.items():
            os.chmod(self.path / name, narrowed(mode))
        for folder in {(self.path / name).parent for name in self._modes} - {self.path}:
            os.chmod(folder, narrowed(FOLDER))
        _sync_folder(self.path, [self.path / name for name in self._modes])
        os.chmod(self.path, narrowed(FOLDER))


@contextlib.contextmanager
def staged_run_dir(target: Path) -> Iterator[Staging]:
    """Create ``target`` with exactly the files written in the block, all at once: into a
    hidden sibling named after this process, flushed to disk, then renamed. ``target`` must
    not exist; the caller holds the month's lock. On any failure the staging folder goes."""
    target.parent.mkdir(parents=True, exist_ok=True)
    prefix, suffix = temp_name(target.name)
    staging = Staging(Path(tempfile.mkdtemp(prefix=prefix, suffix=suffix, dir=target.parent)))
    try:
        yield staging
        staging._finish()
        os.rename(staging.path, target)
    except BaseException:
        shutil.rmtree(staging.path, ignore_errors=True)  # our own unfinished staging folder
        raise
    _fsync_dir(target.parent)


def write_run_dir(target: Path, files: list[OutputFile]) -> None:
    """:func:`staged_run_dir` with ``files`` already in memory."""
    with staged_run_dir(target) as staging:
        for f in files:
            staging.write(f.name, f.data, f.mode)


def _syncfs() -> Any:
    """Linux's ``syncfs(2)``, or None where there is none."""
    with contextlib.suppress(OSError, AttributeError):
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        return libc.syncfs
    return None


def _sync_folder(folder: Path, files: list[Path]) -> None:
    """Everything written under ``folder`` on disk before it is renamed into place: one
    ``syncfs`` of its file system where the system has it (one flush for hundreds of agency
    lists), else an ``fsync`` of each file."""
    syncfs = _syncfs()
    if syncfs is not None:
        fd = os.open(folder, os.O_RDONLY | os.O_CLOEXEC)
        try:
            if syncfs(fd) == 0:
                return
        finally:
            os.close(fd)
    for path in files:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def remove_staging(month_dir: Path, run_name: str) -> list[Path]:
    """Staging directories of ``run_name`` left by runs that died; call under the month's
    lock (every writer of a run directory holds it, so none of them is live)."""
    return remove_leftovers(month_dir, run_name, any_process=True)


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


def _made_dirs(path: Path) -> list[Path]:
    """Create ``path`` and its missing parents; the ones this call created, deepest first."""
    missing = []
    probe = path
    while not probe.exists():
        missing.append(probe)
        if probe.parent == probe:
            break
        probe = probe.parent
    made = []
    for folder in reversed(missing):
        try:
            folder.mkdir()
            made.append(folder)
        except FileExistsError:
            pass
    return list(reversed(made))


@contextlib.contextmanager
def month_lock(month_dir: Path, what: str) -> Iterator[None]:
    """Hold the month's lock for the block, or refuse (exit 3) naming who holds it. The kernel
    releases it if the process dies, so a crashed run never leaves a stale lock behind.

    A month folder this call created is removed again on leaving if nothing but the lock is
    in it (bad input writes nothing, not even the folder). Whoever takes the lock checks that
    the file it locked is still the one at the path, so removing it cannot let two runs in."""
    made: list[Path] = []
    path = month_dir / LOCK_NAME
    fd: int | None = None
    try:
        for _attempt in range(20):
            made += _made_dirs(month_dir)
            try:
                candidate = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
            except FileNotFoundError:  # the folder was removed by a run just leaving it
                continue
            try:
                fcntl.flock(candidate, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                said = os.read(candidate, 4096).decode("utf-8", "replace").strip()
                os.close(candidate)
                raise Refused(
                    _("another run holds the lock of {folder}: {holder}").format(
                        folder=month_dir, holder=said or _("another process")
                    )
                ) from None
            try:
                same = os.path.samestat(os.fstat(candidate), os.stat(path))
            except FileNotFoundError:
                same = False
            if same:
                fd = candidate
                break
            os.close(candidate)  # locked a file that was removed meanwhile: take the new one
        else:
            raise Refused(
                _("could not take the lock of {folder}; try again").format(folder=month_dir)
            )
        os.ftruncate(fd, 0)
        started = datetime.now().astimezone().isoformat(timespec="seconds")
        os.write(
            fd, f"{what}, pid {os.getpid()} on {socket.gethostname()}, since {started}\n".encode()
        )
        yield
    finally:
        # folders this call made, with nothing in them but the lock it holds, go again: on
        # bad input, a refusal, a signal or an error alike (another run's lock is never touched)
        if fd is not None and made:
            with contextlib.suppress(FileNotFoundError):
                if {e.name for e in os.scandir(month_dir)} == {LOCK_NAME}:
                    path.unlink()
        for folder in made:  # deepest first; stops at the first that is not empty
            try:
                folder.rmdir()
            except OSError:
                break
        if fd is not None:
            os.close(fd)
