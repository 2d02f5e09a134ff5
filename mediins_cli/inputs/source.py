"""Decoding an input file: UTF-8 (BOM or not) or GB18030, found by option or detection."""

from __future__ import annotations

import codecs
import contextlib
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

_CHUNK = 1 << 22


@dataclass(frozen=True)
class _Decoded:
    path: Path
    encoding: str
    newlines: int
    ends_with_newline: bool


class _DecodeFailure(Exception):
    def __init__(self, line: int, byte: int) -> None:
        self.line, self.byte = line, byte


def _scan_utf8(path: Path) -> _Decoded:
    """Check the file is UTF-8 without writing anything; count its lines on the way."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    newlines, last = 0, b""
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as exc:
                at = exc.start - (len(exc.object) - len(chunk))  # object = pending bytes + chunk
                raise _DecodeFailure(
                    newlines + chunk.count(b"\n", 0, max(at, 0)) + 1, exc.object[exc.start]
                ) from None
            newlines += chunk.count(b"\n")
            last = chunk[-1:]
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError as exc:
            raise _DecodeFailure(newlines + 1, exc.object[exc.start]) from None
    return _Decoded(path, "utf-8", newlines, last == b"\n")


def _transcode_gb18030(path: Path, target: Path) -> _Decoded:
    """Stream a GB18030 file into a UTF-8 copy (LIBRARIES.md: scan_csv reads UTF-8 only)."""
    decoder = codecs.getincrementaldecoder("gb18030")()
    newlines, last = 0, b""
    with path.open("rb") as src, target.open("wb") as dst:
        while chunk := src.read(_CHUNK):
            try:
                text = decoder.decode(chunk)
            except UnicodeDecodeError as exc:
                at = exc.start - (len(exc.object) - len(chunk))  # object = pending bytes + chunk
                raise _DecodeFailure(
                    newlines + chunk.count(b"\n", 0, max(at, 0)) + 1, exc.object[exc.start]
                ) from None
            newlines += chunk.count(b"\n")
            last = chunk[-1:]
            dst.write(text.encode("utf-8"))
        try:
            dst.write(decoder.decode(b"", final=True).encode("utf-8"))
        except UnicodeDecodeError as exc:
            raise _DecodeFailure(newlines + 1, exc.object[exc.start]) from None
    return _Decoded(target, "gb18030", newlines, last == b"\n")


@contextlib.contextmanager
def _utf8_source(path: Path, encoding: str) -> Iterator[_Decoded]:
    """The file as UTF-8 (itself, or a temporary transcoded copy removed afterwards)."""
    tmp: Path | None = None
    try:
        if encoding == "utf-8":
            yield _scan_utf8(path)
            return
        if encoding == "auto":
            try:
                yield _scan_utf8(path)
                return
            except _DecodeFailure as utf8_failure:
                failure = utf8_failure
        fd, name = tempfile.mkstemp(prefix="mediins-", suffix=".csv")
        os.close(fd)
        tmp = Path(name)
        try:
            decoded = _transcode_gb18030(path, tmp)
        except _DecodeFailure as gb18030_failure:
            if encoding == "auto":  # report where the encoding that got further broke
                raise max(failure, gb18030_failure, key=lambda f: f.line) from None
            raise
        yield decoded
    finally:
        if tmp is not None:
            tmp.unlink(missing_ok=True)
