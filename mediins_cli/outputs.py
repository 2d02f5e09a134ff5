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

import codecs
import contextlib
import fcntl
import hashlib
import io
import json
import os
import re
import shutil
import socket
import tempfile
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO, Any, TypeVar, cast

import polars as pl

from mediins_cli.errors import Refused
from mediins_cli.hashing import ThreadedSha256
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
_FORMULA_START = "=+-@\t\r"
_FORMULA = r"^[=+\-@\t\r]"
_NUMBER = r"^[+-]?[0-9]+(\.[0-9]+)?$"


def formula_columns(frame: pl.DataFrame, columns: Iterable[str] | None = None) -> frozenset[str]:
    """The text columns of ``frame`` (of ``columns``, when given) where some cell starts like a
    formula (:func:`neutralise`): usually none. A column's least and greatest cell bound the
    first character of every cell in it (text is ordered by its UTF-8 bytes, that is by code
    point), so a column whose bounds leave out =, +, -, @, tab and CR (IDs, codes, dates,
    Chinese names) is settled by those two alone; only the others are searched."""
    given = frame.columns if columns is None else columns
    # a column of categories: its few distinct values are searched (its bounds are the
    # categories', and polars has no text search on categories)
    coded = [c for c in given if is_text(frame.schema[c]) and frame.schema[c] != pl.String]
    found_coded = [
        c
        for c in coded
        if frame.get_column(c).unique().cast(pl.String).str.contains(_FORMULA).any()
    ]
    names = [c for c in given if frame.schema[c] == pl.String]
    if not names:
        return frozenset(found_coded)
    bounds = frame.select(
        *(pl.col(c).min().alias(f"{i}<") for i, c in enumerate(names)),
        *(pl.col(c).max().alias(f"{i}>") for i, c in enumerate(names)),
    ).row(0)
    lows, highs = bounds[: len(names)], bounds[len(names) :]
    searched = [
        c
        for c, low, high in zip(names, lows, highs, strict=True)
        # high None: the column has no cell; low[:1] is "" where the least cell is empty
        if high is not None and any(low[:1] <= start <= high[:1] for start in _FORMULA_START)
    ]
    if not searched:
        return frozenset(found_coded)
    found = frame.select(pl.col(c).str.contains(_FORMULA).any() for c in searched).row(0)
    return frozenset([*found_coded, *(c for c, hit in zip(searched, found, strict=True) if hit)])


def is_text(dtype: pl.DataType) -> bool:
    """Whether a column of ``dtype`` is written as text: strings, and categories (a column of
    few distinct values, such as agency codes, held as categories to save memory)."""
    return dtype == pl.String or dtype == pl.Categorical or isinstance(dtype, pl.Enum)


@dataclass(frozen=True)
class Probed:
    """A table to write as CSV and the text columns of it that may hold a cell starting like a
    formula, known from the frames its cells come from (:func:`formula_columns` of those), so
    that :func:`neutralise` need not look through the table itself: a plan would be run twice
    for it. A text column not in ``formulas`` holds no such cell (amounts, dates and codes
    mediins makes, or carried text found to hold none)."""

    table: pl.DataFrame | pl.LazyFrame
    formulas: frozenset[str]


#: bytes, or a view of them
Buffer = bytes | memoryview

#: what a run directory's CSV files are written from
Table = pl.DataFrame | pl.LazyFrame | Probed


@dataclass(frozen=True)
class Split:
    """One table written as many CSV files (an agency list each): the rows whose ``by`` names a
    file go to that file, in the table's order, without that column; a file's rows must be
    together. ``formulas`` as :class:`Probed` has them.

    The table is made into CSV text once and cut at its rows' line ends: 500 agency lists of a
    province took 1.3 s written one by one (2.5 ms each to plan a write), their text at once
    0.1 s."""

    table: pl.DataFrame
    by: str
    formulas: frozenset[str]


def split_csv(split: Split) -> Iterator[tuple[str, list[Buffer]]]:
    """Each file of ``split`` and its UTF-8 CSV text in parts, header first (formulas
    neutralised): the bytes :func:`_csv_into` gives the file's rows alone, in the order the
    files come. (In parts: the rows are a view of the whole text, not copied.)"""
    import numpy as np

    files = split.table.get_column(split.by)
    runs = files.rle()
    names, lengths = runs.struct.field("value"), runs.struct.field("len")
    if names.n_unique() != names.len():
        raise ValueError(f"the rows of one file of {split.by} are not together")
    frame = neutralise(split.table.drop(split.by), split.formulas)
    header = frame.clear().write_csv().encode("utf-8")
    text = io.BytesIO()
    frame.write_csv(text, include_header=False)
    body = text.getbuffer()
    ends = np.flatnonzero(np.frombuffer(body, dtype=np.uint8) == 0x0A) + 1
    if len(ends) != frame.height:  # a quoted cell holds a line break: rows cut as rows
        start = 0
        for name, length in zip(names, lengths, strict=True):
            yield name, [frame.slice(start, length).write_csv().encode("utf-8")]
            start += length
        return
    start = 0
    for name, end in zip(names, ends[lengths.cum_sum().to_numpy() - 1], strict=True):
        yield name, [header, body[start:end]]
        start = int(end)


def neutralise(frame: Frame, formulas: Collection[str] | None = None) -> Frame:
    """Every text cell (and column name) a spreadsheet would execute, with a leading ``'``
    (DESIGN §8): names, agencies and carried-through extra columns alike. ``formulas``: the text
    columns that may hold such a cell, when the caller knows them (:class:`Probed`); otherwise
    they are found here, in a frame by :func:`formula_columns` and in a plan by one streaming
    pass over its text columns. A plan stays a plan."""
    schema = frame.collect_schema() if isinstance(frame, pl.LazyFrame) else frame.schema
    text = [c for c, dtype in schema.items() if is_text(dtype)]
    if formulas is not None:
        text = [c for c in text if c in formulas]
    elif isinstance(frame, pl.DataFrame):
        found_in = formula_columns(frame, text)
        text = [c for c in text if c in found_in]
    elif text:
        probe = frame.select(pl.col(c).cast(pl.String).str.contains(_FORMULA).any() for c in text)
        found = probe.collect(engine="streaming").row(0)
        text = [c for c, hit in zip(text, found, strict=True) if hit]
    if text:  # only the columns where some cell starts like a formula (usually none)
        frame = frame.with_columns(pl.col(c).cast(pl.String) for c in text).with_columns(
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
class Written:
    """A file written into a run directory: what its manifest says of it."""

    sha256: str
    bytes: int


class _CsvSink(io.RawIOBase):
    """Where polars writes a CSV file: each block it hands over is encoded as asked, hashed,
    counted and written, so the file is never read back for its hash, and GB18030 (which
    polars does not write) is made a block at a time, never as one text of the whole file."""

    def __init__(self, fh: io.RawIOBase, encoding: str) -> None:
        super().__init__()
        self._fh = fh
        # hashed on a thread of its own while polars makes the next block and this one is
        # written (0.8 GB: 2.5 → 2.0 s)
        self._digest = ThreadedSha256()
        self._size = 0
        gb18030 = encoding == "gb18030"
        self._decoder = codecs.getincrementaldecoder("utf-8")() if gb18030 else None
        self._encoder = codecs.getincrementalencoder("gb18030")() if gb18030 else None
        #: the file's own error (polars passes on its words only, not its errno)
        self.error: OSError | None = None

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        if self._decoder is not None and self._encoder is not None:
            self._put(self._encoder.encode(self._decoder.decode(data)))
        else:
            self._put(data)
        return len(data)

    def _put(self, block: Any) -> None:
        self._digest.update(block)
        self._size += len(block)
        rest = memoryview(block)
        try:
            while rest:  # an unbuffered file may take part of a block at a time
                rest = rest[self._fh.write(rest) or 0 :]
        except OSError as exc:
            self.error = exc
            raise

    def written(self) -> Written:
        """What was written, once polars is done (the end of a GB18030 text first)."""
        if self._decoder is not None and self._encoder is not None:
            self._put(self._encoder.encode(self._decoder.decode(b"", final=True), final=True))
        return Written(self._digest.hexdigest(), self._size)

    def close(self) -> None:
        """Let the hashing thread go (also when the writing failed); idempotent."""
        self._digest.close()
        super().close()


#: a table in memory up to this size is made into CSV text at once (an agency list: a few
#: hundred kB); a larger one streams into its file
SMALL_TABLE = 16 << 20


def _csv_into(
    sink: _CsvSink, table: pl.DataFrame | pl.LazyFrame, formulas: frozenset[str] | None, bom: bool
) -> None:
    """``table`` neutralised (:func:`neutralise`, with ``formulas`` when known) and written as
    CSV into ``sink``: a small frame made into text in memory, which polars does three times as
    fast as into a file (an agency list of 1,800 rows: 0.5 ms, not 1.6 ms); a plan or a large
    frame streaming into it."""
    if isinstance(table, pl.DataFrame):
        frame = neutralise(table, formulas)
        if frame.estimated_size() <= SMALL_TABLE:
            text = io.BytesIO()
            frame.write_csv(text, include_bom=bom)
            sink.write(text.getbuffer())
            return
        plan = frame.lazy()
    else:
        plan = neutralise(table, formulas)
    # polars asks no more of the sink than write()
    plan.sink_csv(cast(IO[bytes], sink), include_bom=bom, engine="streaming")


@dataclass(frozen=True)
class OutputFormat:
    """How CSV files are written: UTF-8 (with a BOM when ``excel``, so Excel shows Chinese) or
    GB18030. JSON files are always UTF-8. ``xlsx``: the CSV files also as Excel workbooks
    (:mod:`mediins_cli.xlsx`)."""

    excel: bool = False
    encoding: str = "utf-8"  # "utf-8" | "gb18030"
    xlsx: bool = False

    def write_csv(self, frame: Table, path: Path) -> Written:
        """``frame`` as CSV in a new file at ``path`` (formulas neutralised): written by polars,
        a plan or a large frame streaming into it, and hashed as it is written. GB18030 has no
        BOM."""
        table, formulas = (
            (frame.table, frame.formulas) if isinstance(frame, Probed) else (frame, None)
        )
        bom = self.excel and self.encoding != "gb18030"
        # polars hands over blocks of megabytes: the file needs no buffer of its own
        with open(path, "xb", buffering=0) as fh, _CsvSink(fh, self.encoding) as sink:
            try:
                _csv_into(sink, table, formulas, bom)
                return sink.written()
            except OSError as exc:  # the file's own error, where polars passed on its words
                error = sink.error or exc
                error.filename = error.filename or str(path)  # said with the file
                raise error from None

    def encoded(self, text: list[Buffer]) -> list[Buffer]:
        """UTF-8 CSV text, in parts, as :meth:`write_csv` writes it: with a BOM when ``excel``,
        or in GB18030."""
        if self.encoding == "gb18030":
            return [b"".join(text).decode("utf-8").encode("gb18030")]
        return [codecs.BOM_UTF8, *text] if self.excel else text

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

    def write(self, name: str, data: Buffer | list[Buffer], mode: int = PRIVATE) -> Written:
        """``data``, or its parts one after another, as the file ``name``."""
        parts = data if isinstance(data, list) else [data]
        path = self._new(name, mode)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        digest, size = hashlib.sha256(), 0
        try:
            with os.fdopen(fd, "wb") as fh:
                for part in parts:
                    fh.write(part)
                    digest.update(part)
                    size += memoryview(part).nbytes
        except OSError as exc:  # a full disk is said with the file, as write_csv says it
            exc.filename = exc.filename or str(path)
            raise
        self.written[name] = Written(digest.hexdigest(), size)
        return self.written[name]

    def write_csv(self, name: str, frame: Table, fmt: OutputFormat, mode: int = PRIVATE) -> Written:
        """A frame or plan as CSV, hashed as it is written (:meth:`OutputFormat.write_csv`)."""
        self.written[name] = fmt.write_csv(frame, self._new(name, mode))
        return self.written[name]

    def write_split(self, split: Split, fmt: OutputFormat, mode: int = PRIVATE) -> None:
        """Each file of ``split`` (:func:`split_csv`), as :meth:`write_csv` would write it."""
        for name, text in split_csv(split):
            self.write(name, fmt.encoded(text), mode)

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
