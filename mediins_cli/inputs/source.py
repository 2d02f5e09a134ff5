"""An input file, opened once: decoded, hashed from the very bytes that are parsed (DESIGN §8).

A file is opened once and kept open for the whole run. It is checked for UTF-8 (or
transcoded from GB18030) on opening, its bytes are hashed on a thread of its own meanwhile
(:class:`_FileHash`), and polars reads the *same open file* through ``/proc/self/fd/N``: a
file renamed over the path mid-run cannot be parsed in place of the one that was hashed, and a
file written in place mid-run is caught by :meth:`Source.check` or by :attr:`Source.sha256`
(its size, modification or change time moved).

A GB18030 file is transcoded into an anonymous temporary file (``O_TMPFILE``: it never has a
name), so a run killed at any instant leaves no UTF-8 copy of the enrollee file behind.
"""

from __future__ import annotations

import codecs
import contextlib
import hashlib
import io
import os
import stat
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Protocol

import polars as pl

from mediins_cli.errors import BadInput, Problem
from mediins_cli.i18n import _
from mediins_cli.inputs.columns import ENCODINGS
from mediins_cli.inputs.xlsx import (
    MAX_WORKBOOK_BYTES,
    XLSX,
    BadWorkbook,
    Sheet,
    looks_like_workbook,
    read_workbook,
)
from mediins_cli.resources import display_path
from mediins_cli.signals import held
from mediins_cli.tempnames import remove_leftovers, temp_name

_CHUNK = 1 << 22
#: a Parquet file starts (and ends) with these bytes; it is read as a table, never decoded
PARQUET_MAGIC = b"PAR1"
PARQUET = "parquet"
TRANSCODED = "mediins-transcoded"  # the temporary copy of a GB18030 file, where it has a name
_PROC_FD = Path("/proc/self/fd")


class SourceProblem(Exception):
    """A file that cannot be read as text at all (missing, not a file, undecodable)."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(problem.message)
        self.problem = problem


@dataclass
class Source:
    """An open input file. ``readable`` is a path polars and the csv module can open that
    reaches the bytes that were hashed (UTF-8 text, or a Parquet file as it is)."""

    shown: str
    encoding: str  # what the bytes were: "utf-8" | "gb18030" | "parquet"
    hashed: Digest = field(repr=False)  # :attr:`sha256`
    newlines: int
    ends_with_newline: bool
    carriage_returns: int  # counted until the first line feed
    readable: str
    _fd: int = field(repr=False)
    _identity: tuple[int, ...] = field(repr=False)
    #: a workbook's first sheet (:mod:`.xlsx`), read from the bytes that were hashed
    sheet: Sheet | None = field(default=None, repr=False)
    #: no NUL byte anywhere in the text: no cell holds one (the checks of a pass need not
    #: look in each; 38 M ledger rows with a memo: 0.5 s of CPU). False when not known.
    nul_free: bool = False

    def text(self) -> IO[str]:
        """The decoded text, from its start (a BOM dropped), in lines that end at line feeds
        only, as polars reads them (a carriage return alone is text), line ends kept."""
        return open(self.readable, encoding="utf-8-sig", newline="\n")

    @property
    def sha256(self) -> str:
        """The SHA-256 of the file's bytes, once they are all hashed (:class:`_FileHash`);
        :class:`BadInput` if the file was written to before they were."""
        digest = self.hashed.hexdigest()
        if self.hashed.changed():
            raise self._changed()
        return digest

    def check(self) -> None:
        """Raise :class:`BadInput` if the file was written to since it was opened: what was
        parsed might then not be what was hashed."""
        if file_identity(os.fstat(self._fd)) != self._identity:
            raise self._changed()

    def _changed(self) -> BadInput:
        return BadInput(
            [
                Problem(
                    self.shown,
                    0,
                    "",
                    "FILE_CHANGED",
                    _("the file changed while mediins read it; run again once it is complete"),
                )
            ]
        )


class Digest(Protocol):
    """A file's SHA-256, perhaps still being computed."""

    def hexdigest(self) -> str: ...

    def changed(self) -> bool: ...


@dataclass(frozen=True)
class _Known:
    """A digest computed already (a workbook, hashed from the bytes read into memory)."""

    sha256: str

    def hexdigest(self) -> str:
        return self.sha256

    def changed(self) -> bool:
        return False


class _FileHash:
    """The SHA-256 of an open file, read again from its start on a thread of its own, at the
    lowest CPU priority the system gives a thread (Linux: nice 19): it takes the time the
    checks leave a core idle, not time from them (DESIGN §10). The file's UTF-8 check no longer
    waits for the hash: opening 3.2 GB took 2.95 s, hash-bound; the hash of 10 M enrollees and
    their ledger is 2.7 s of CPU. :meth:`hexdigest` waits for the end; :meth:`changed` says
    whether the file was written to before the end (its identity, as :meth:`Source.check`
    compares it). The thread reads by position through a descriptor of its own, so the
    main thread's reads of the file never move under it."""

    def __init__(self, fd: int, identity: tuple[int, ...]) -> None:
        self._fd = os.dup(fd)
        self._identity = identity
        self._digest = hashlib.sha256()
        self._stop = threading.Event()
        self._error: Exception | None = None
        self._moved = False
        self._thread = threading.Thread(target=self._run, name="mediins-hash", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        with contextlib.suppress(OSError, AttributeError):  # a thread's own priority: Linux
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)
        buffer = bytearray(_CHUNK)  # one buffer, read into again and again
        view = memoryview(buffer)
        offset = 0
        try:
            while not self._stop.is_set() and (n := _read_at(self._fd, buffer, offset)):
                self._digest.update(view[:n])
                offset += n
            self._moved = file_identity(os.fstat(self._fd)) != self._identity
        except Exception as exc:  # said by hexdigest: a hash cut short is never given
            self._error = exc
        finally:
            view.release()
            os.close(self._fd)

    def hexdigest(self) -> str:
        self._thread.join()
        if self._error is not None:
            raise self._error
        if self._stop.is_set():
            raise RuntimeError("the file's hash was stopped before its end")
        return self._digest.hexdigest()

    def changed(self) -> bool:
        self._thread.join()
        return self._moved

    def stop(self) -> None:
        """Stop reading (the file is closed: nobody asked for its hash); idempotent."""
        self._stop.set()
        self._thread.join()


def _read_at(fd: int, buffer: bytearray, offset: int) -> int:
    """Read into ``buffer`` from ``offset`` of ``fd`` without moving its position: how many
    bytes came (0 at the end)."""
    if hasattr(os, "preadv"):
        return os.preadv(fd, [buffer], offset)
    data = os.pread(fd, len(buffer), offset)  # (where there is no preadv)
    buffer[: len(data)] = data
    return len(data)


def file_identity(st: os.stat_result) -> tuple[int, ...]:
    """What changes when a file is written to or replaced: its device, inode, size and time."""
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


class _DecodeFailure(Exception):
    def __init__(self, line: int, byte: int) -> None:
        self.line, self.byte = line, byte


@dataclass
class _Pass:
    """What one read through the file learned."""

    newlines: int
    ends_with_newline: bool
    carriage_returns: int
    nul_free: bool


def _read_pass(src: IO[bytes], decoder_name: str, sink: IO[bytes] | None) -> _Pass:
    """Read ``src`` from its start once: decode it (raising at the first bad byte with its
    line), count line ends, and write the UTF-8 text to ``sink`` when there is one. (The
    file is hashed apart: :class:`_FileHash`.)

    UTF-8 that is only checked, not copied, goes through :func:`_utf8_pass` first; a file it
    does not pass whole is read again here, decoded by Python, which says where it broke."""
    if decoder_name == "utf-8" and sink is None:
        src.seek(0)
        checked = _utf8_pass(src)
        if checked is not None:
            return checked
    src.seek(0)
    decoder = codecs.getincrementaldecoder(decoder_name)()
    return _decode_pass(src, decoder, sink)


def _decode_pass(
    src: IO[bytes], decoder: codecs.IncrementalDecoder, sink: IO[bytes] | None
) -> _Pass:
    newlines = returns = 0
    last, nul = b"", False
    while chunk := src.read(_CHUNK):
        try:
            text = decoder.decode(chunk)
        except UnicodeDecodeError as exc:
            at = exc.start - (len(exc.object) - len(chunk))  # object = pending bytes + chunk
            raise _DecodeFailure(
                newlines + chunk.count(b"\n", 0, max(at, 0)) + 1, exc.object[exc.start]
            ) from None
        if not newlines:  # only a file without a line feed needs its carriage returns
            returns += chunk.count(b"\r")
        newlines += chunk.count(b"\n")
        nul = nul or b"\x00" in chunk  # one byte in both encodings
        last = chunk[-1:]
        if sink is not None:
            sink.write(text.encode("utf-8"))
    try:
        tail = decoder.decode(b"", final=True)
    except UnicodeDecodeError as exc:
        raise _DecodeFailure(newlines + 1, exc.object[exc.start]) from None
    if sink is not None:
        sink.write(tail.encode("utf-8"))
        sink.flush()
    return _Pass(newlines, last == b"\n", returns, not nul)


def _utf8_pass(src: IO[bytes]) -> _Pass | None:
    """:func:`_decode_pass` of UTF-8 without a sink, checked by polars: Rust's validation, the
    rules of Python's strict decoder (surrogates, overlong forms, code points past U+10FFFF
    refused), without building the text (220 MB of ledger: 0.05 s, not 0.33 s). None if any
    byte is not UTF-8: nothing here says which.

    A file of more than :data:`_SPLIT_BYTES` is checked in two halves at once, the second on
    a thread of its own (both read by position), cut where a character starts: the check
    holds up every command until it ends, and one core did it while the other hashed (10 M
    enrollees and their ledger, 3.2 GB: 2.4 s). The hash, at the lowest priority, then takes
    the time the passes after leave a core idle."""
    fd = _fileno(src)
    size = os.fstat(fd).st_size if fd is not None else 0
    if fd is None or size <= _SPLIT_BYTES:
        src.seek(0)
        return _utf8_read(src.read)
    middle = _character_start(fd, size // 2)
    later: list[_Pass | BaseException | None] = []

    def second_half() -> None:
        try:
            later.append(_utf8_read(_range_reader(fd, middle, size)))
        except BaseException as exc:  # said on the main thread
            later.append(exc)

    thread = threading.Thread(target=second_half, name="mediins-utf8", daemon=True)
    thread.start()
    try:
        first = _utf8_read(_range_reader(fd, 0, middle))
    finally:
        thread.join()
    (second,) = later
    if isinstance(second, BaseException):
        raise second
    if first is None or second is None:
        return None
    return _Pass(
        first.newlines + second.newlines,
        second.ends_with_newline,
        # (as counted in one pass: until the first line feed)
        first.carriage_returns + (0 if first.newlines else second.carriage_returns),
        first.nul_free and second.nul_free,
    )


#: a file larger than this is checked for UTF-8 in two halves at once (:func:`_utf8_pass`)
_SPLIT_BYTES = 64 << 20


def _fileno(src: IO[bytes]) -> int | None:
    try:
        return src.fileno()
    except (AttributeError, OSError, io.UnsupportedOperation):
        return None


def _character_start(fd: int, offset: int) -> int:
    """``offset``, or the first place after it where a character starts (a byte that is not
    a UTF-8 continuation byte), within the three bytes a character can run on."""
    ahead = os.pread(fd, 3, offset)
    for i, byte in enumerate(ahead):
        if byte & 0xC0 != 0x80:
            return offset + i
    return offset + len(ahead)


def _range_reader(fd: int, start: int, end: int) -> Callable[[int], bytes]:
    """A ``read(n)`` of the bytes of ``fd`` from ``start`` to ``end``, by position."""
    offset = start

    def read(n: int) -> bytes:
        nonlocal offset
        data = os.pread(fd, min(n, end - offset), offset) if offset < end else b""
        offset += len(data)
        return data

    return read


def _utf8_read(read: Callable[[int], bytes]) -> _Pass | None:
    """:func:`_utf8_pass` of the bytes ``read`` gives, in chunks, to its end."""
    newlines = returns = 0
    last = pending = b""
    nul = False
    while chunk := read(_CHUNK):
        data = pending + chunk if pending else chunk
        whole = _whole_characters(data)  # a character cut by the chunk's end waits for the next
        if not _is_utf8(data[:whole]):
            return None
        pending = data[whole:]
        if not newlines:  # as _decode_pass counts them
            returns += chunk.count(b"\r")
        newlines += _line_feeds(chunk)
        nul = nul or b"\x00" in chunk  # memchr: 1 GB in 0.03 s
        last = chunk[-1:]
    if pending:  # the file ends inside a character
        return None
    return _Pass(newlines, last == b"\n", returns, not nul)


def _line_feeds(chunk: bytes) -> int:
    """How many line feeds ``chunk`` holds: numpy compares its bytes at once (3.2 GB: 0.5 s of
    one core; ``bytes.count`` took 1.4 s)."""
    import numpy as np

    return int(np.count_nonzero(np.frombuffer(chunk, dtype=np.uint8) == 0x0A))


def _whole_characters(data: bytes) -> int:
    """Length of ``data`` without a multi-byte character it ends inside (its lead byte and the
    continuation bytes after it), if it does; else all of it (bad bytes included)."""
    end = len(data)
    for start in range(end - 1, max(end - 4, -1), -1):
        byte = data[start]
        if byte & 0xC0 != 0x80:  # not a continuation byte: where the last character starts
            length = 2 if byte < 0xE0 else 3 if byte < 0xF0 else 4
            return start if byte >= 0xC0 and end - start < length else end
    return end


def _is_utf8(data: bytes) -> bool:
    try:
        pl.Series([data], dtype=pl.Binary).cast(pl.String)
    except pl.exceptions.PolarsError:
        return False
    return True


def _anonymous_file() -> tuple[int, str | None]:
    """A temporary file with no name (removed by the kernel when closed, or when the process
    dies), and the name to remove where the system has no ``O_TMPFILE``."""
    directory = tempfile.gettempdir()
    remove_leftovers(Path(directory), TRANSCODED)  # a killed run's, where the copy had a name
    flag = getattr(os, "O_TMPFILE", 0)
    if flag and _PROC_FD.is_dir():
        with contextlib.suppress(OSError):
            return os.open(directory, flag | os.O_RDWR | os.O_CLOEXEC, 0o600), None
    # no O_TMPFILE here (NFS, an old overlayfs): a name for an instant, with SIGTERM and SIGINT
    # held off meanwhile; it carries this process's id, so a SIGKILL's leftover goes next time
    prefix, suffix = temp_name(TRANSCODED)
    with held():
        fd, name = tempfile.mkstemp(prefix=prefix, suffix=suffix, dir=directory)
        if _PROC_FD.is_dir():
            os.unlink(name)  # the open descriptor is enough
            return fd, None
    return fd, name


def _fd_path(fd: int, fallback: str) -> str:
    return str(_PROC_FD / str(fd)) if _PROC_FD.is_dir() else fallback


@contextlib.contextmanager
def open_source(path: Path, encoding: str = "auto", workbook: bool = False) -> Iterator[Source]:
    """Open ``path`` for the block; raise :class:`SourceProblem` if it cannot be read as text.

    ``encoding``: ``auto`` (UTF-8, else GB18030), ``utf-8`` or ``gb18030`` (and aliases).
    ``workbook``: an Excel workbook is read too (its first sheet); else it is refused."""
    shown = display_path(path)

    def problem(line: int, code: str, message: str) -> SourceProblem:
        return SourceProblem(Problem(shown, line, "", code, message))

    enc = ENCODINGS.get(encoding.lower())
    if enc is None:
        raise problem(
            0,
            "BAD_ENCODING",
            _("unknown encoding {encoding!r} (use auto, utf-8 or gb18030)").format(
                encoding=encoding
            ),
        )
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        raise problem(0, "NO_FILE", _("no such file")) from None
    except OSError as exc:
        raise problem(
            0, "NO_FILE", _("cannot be opened: {reason}").format(reason=exc.strerror)
        ) from None
    with contextlib.ExitStack() as stack:
        stack.callback(os.close, fd)
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):  # a folder, a pipe or a device: never read endlessly
            raise problem(0, "NO_FILE", _("not a regular file"))
        raw = stack.enter_context(io.FileIO(fd, "rb", closefd=False))
        src = stack.enter_context(io.BufferedReader(raw, _CHUNK))
        head = os.pread(fd, 8, 0)
        if looks_like_workbook(path.name, head):  # a sheet of cells, not text (§13)
            yield _workbook_source(shown, src, fd, st, workbook)
            return
        hashed = _FileHash(fd, file_identity(st))  # meanwhile, at the lowest priority
        stack.callback(hashed.stop)  # (called before the file is closed)
        if head.startswith(PARQUET_MAGIC):  # a table, not text (§10)
            yield Source(
                shown,
                PARQUET,
                hashed,
                0,
                False,
                0,
                _fd_path(fd, str(path)),
                fd,
                file_identity(st),
            )
            return
        failure: _DecodeFailure | None = None
        if enc in ("utf-8", "auto"):
            try:
                found = _read_pass(src, "utf-8", None)
            except _DecodeFailure as exc:
                if enc == "utf-8":
                    raise _undecodable(
                        shown, exc, _("not UTF-8 (try --encoding gb18030)")
                    ) from None
                failure = exc
            if failure is None:
                yield Source(
                    shown,
                    "utf-8",
                    hashed,
                    found.newlines,
                    found.ends_with_newline,
                    found.carriage_returns,
                    _fd_path(fd, str(path)),
                    fd,
                    file_identity(st),
                    nul_free=found.nul_free,
                )
                return
        tmp, name = _anonymous_file()
        stack.callback(os.close, tmp)
        if name is not None:
            stack.callback(os.unlink, name)
        sink = stack.enter_context(io.FileIO(tmp, "wb", closefd=False))
        try:
            found = _read_pass(src, "gb18030", sink)
        except _DecodeFailure as exc:
            if failure is not None:  # report where the encoding that got further broke
                raise _undecodable(
                    shown, max(failure, exc, key=lambda f: f.line), _("neither UTF-8 nor GB18030")
                ) from None
            raise _undecodable(shown, exc, _("not GB18030")) from None
        yield Source(
            shown,
            "gb18030",
            hashed,
            found.newlines,
            found.ends_with_newline,
            found.carriage_returns,
            _fd_path(tmp, name or ""),
            fd,
            file_identity(st),
            nul_free=found.nul_free,
        )


def _workbook_source(
    shown: str, src: IO[bytes], fd: int, st: os.stat_result, allowed: bool
) -> Source:
    """A workbook, read whole (it is compressed: far smaller than the text it holds), hashed
    and parsed from those very bytes."""

    def problem(code: str, message: str) -> SourceProblem:
        return SourceProblem(Problem(shown, 0, "", code, message))

    if not allowed:
        raise problem(
            "BAD_WORKBOOK", _("an Excel workbook: only the enrollee file may be one; give CSV")
        )
    if st.st_size > MAX_WORKBOOK_BYTES:
        raise problem(
            "WORKBOOK_TOO_LARGE",
            _("the workbook is larger than {n} MB; give CSV").format(n=MAX_WORKBOOK_BYTES >> 20),
        )
    src.seek(0)
    data = src.read(MAX_WORKBOOK_BYTES + 1)
    try:
        sheet = read_workbook(data)
    except BadWorkbook as exc:
        raise problem(exc.code, exc.message) from None
    digest = _Known(hashlib.sha256(data).hexdigest())
    return Source(
        shown, XLSX, digest, 0, False, 0, _fd_path(fd, shown), fd, file_identity(st), sheet
    )


def _undecodable(shown: str, exc: _DecodeFailure, tried: str) -> SourceProblem:
    return SourceProblem(
        Problem(
            shown,
            exc.line,
            "",
            "BAD_ENCODING",
            _("undecodable byte {byte}: {tried}").format(byte=f"0x{exc.byte:02x}", tried=tried),
        )
    )
