"""Crash injection for tests/test_crash.py: run ``mediins`` in a real subprocess whose chosen
function is wrapped to count its calls, or at its k-th call to kill the process (SIGKILL,
SIGTERM) or to fail with an ``OSError`` (disk full, read-only folder).

The child side (:func:`child`) imports the modules it patches, replaces the chosen name there,
then calls ``mediins_cli.entry.main()`` (the console script's entry point, which installs the
signal handlers) with ``sys.argv`` set: the product runs unmodified, and only the chosen call
behaves differently (the others go straight through, counted).
A point that takes a path or a file descriptor (the ``os`` functions, ``fcntl.flock``) counts
only the calls that reach the output folder, so an input file opened or a library's own file
does not shift the numbering.
"""

from __future__ import annotations

import errno
import fcntl
import importlib
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

TESTS = Path(__file__).resolve().parent

#: name → (module, attribute) patched in the child; the attribute is where the product looks
#: the name up at call time (``assess`` is imported into runs, ``_read_pass`` and ``debit`` are
#: called from their own modules, polars functions through ``pl.``, os and fcntl by attribute)
POINTS: dict[str, tuple[str, str]] = {
    "flock": ("fcntl", "flock"),
    "read_pass": ("mediins_cli.inputs.source", "_read_pass"),
    "read_csv": ("polars", "read_csv"),
    "scan_csv": ("polars", "scan_csv"),
    "collect_all": ("polars", "collect_all"),
    "debit": ("mediins_cli.rounds", "debit"),
    "neutralise": ("mediins_cli.outputs", "neutralise"),  # once per CSV file, just before it
    "assess": ("mediins_cli.runs", "assess"),
    "mkdir": ("os", "mkdir"),
    "open": ("os", "open"),
    "fdopen": ("os", "fdopen"),
    "fsync": ("os", "fsync"),
    "chmod": ("os", "chmod"),
    "rename": ("os", "rename"),
    "unlink": ("os", "unlink"),
}
#: points whose first argument is a path (or a file descriptor): counted under the out folder
#: only (or under the temporary folder, with ``"within": "temp"``)
PATHED = {"flock", "mkdir", "open", "fdopen", "fsync", "chmod", "rename", "unlink"}

#: the child: ``python -c WRAPPER SPEC_JSON ARGS...``
WRAPPER = f"import sys; sys.path.insert(0, {str(TESTS)!r}); import crashkit; crashkit.child()"


def command(spec: dict[str, Any], args: list[str]) -> list[str]:
    """The argv of a child running ``mediins ARGS`` under ``spec``:

    - ``{"out": DIR, "count": FILE}``: count every point's calls, written as JSON to FILE;
    - ``{"out": DIR, "point": P, "k": K, "signal": S, "after": bool}``: send signal S to
      itself at the K-th call of P (before the call runs, or just after it returned);
    - ``{"out": DIR, "point": P, "k": K, "errno": E}``: the K-th call of P raises
      ``OSError(E)`` instead of running (``fdopen``: the file's first write does);
    - with ``"instant": FILE`` and ``"lock": PATH`` (the month's lock file), what the temporary
      folder holds and whether the lock is held at that instant (just before the signal or the
      error) are written to FILE as JSON: ``{"temp": [...], "lock_held": true | false | null}``;
    - with ``"within": "temp"``, pathed points count the calls under the temporary folder instead;
    - with ``"no_tmpfile": true``, ``os.open`` refuses ``O_TMPFILE`` (EOPNOTSUPP), as a file
      system without it does (NFS, older overlayfs)."""
    return [sys.executable, "-c", WRAPPER, json.dumps(spec), *args]


# --------------------------------------------------------------------------- the child


def _path_of(name: str, args: tuple[Any, ...]) -> str | None:
    """The path a call of a pathed point reaches, resolved; None when it cannot be told."""
    first = args[0] if args else None
    if isinstance(first, int):
        try:
            return os.readlink(f"/proc/self/fd/{first}")
        except OSError:
            return None
    if isinstance(first, (str, os.PathLike)):
        return os.path.realpath(os.fspath(first))
    return None


class _NoRoom:
    """What a file written on a full disk does: its first write fails with ENOSPC."""

    def __init__(self, fh: Any, path: str, code: int) -> None:
        self._fh, self._path, self._code = fh, path, code

    def write(self, _data: bytes) -> int:
        raise OSError(self._code, os.strerror(self._code), self._path)

    def __enter__(self) -> _NoRoom:
        return self

    def __exit__(self, *_exc: object) -> None:
        self._fh.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._fh, name)


#: the originals, for the child's own look around (the patched ones would count those calls)
_open, _flock, _listdir = os.open, fcntl.flock, os.listdir


def _instant(spec: dict[str, Any]) -> None:
    """With ``"instant": FILE``: write what the temporary folder holds and whether the month's
    lock is held (None: no lock file) at this instant, as JSON."""
    if "instant" not in spec:
        return
    try:
        fd = _open(spec["lock"], os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        held = None
    else:
        try:  # another open file description of the lock file: refused while the run holds it
            _flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            held = False
        except BlockingIOError:
            held = True
        finally:
            os.close(fd)
    seen = {"temp": sorted(_listdir(tempfile.gettempdir())), "lock_held": held}
    Path(spec["instant"]).write_text(json.dumps(seen), encoding="utf-8")


def _without_tmpfile(original: Any) -> Any:
    def refusing(path: Any, flags: int, *args: Any, **kwargs: Any) -> int:
        if flags & os.O_TMPFILE == os.O_TMPFILE:
            code = errno.EOPNOTSUPP
            raise OSError(code, os.strerror(code), os.fspath(path))
        return original(path, flags, *args, **kwargs)

    return refusing


def child() -> None:
    from mediins_cli import signals

    spec = json.loads(sys.argv[1])
    sys.argv = ["mediins", *sys.argv[2:]]
    root = tempfile.gettempdir() if spec.get("within") == "temp" else spec["out"]
    out = os.path.realpath(root)
    counts: dict[str, int] = {}
    watched = list(POINTS) if "count" in spec else [spec["point"]]

    def under_out(name: str, args: tuple[Any, ...]) -> bool:
        if name not in PATHED:
            return True
        path = _path_of(name, args)
        return path is not None and (path == out or path.startswith(out + os.sep))

    def wrap(name: str, original: Any) -> Any:
        def patched(*args: Any, **kwargs: Any) -> Any:
            if not under_out(name, args):
                return original(*args, **kwargs)
            counts[name] = counts.get(name, 0) + 1
            if name != spec.get("point") or counts[name] != spec["k"]:
                return original(*args, **kwargs)
            if "errno" in spec:
                code = spec["errno"]
                path = _path_of(name, args)
                _instant(spec)
                if name == "fdopen":  # the disk fills while the file is written
                    return _NoRoom(original(*args, **kwargs), path or "", code)
                raise OSError(code, os.strerror(code), path)
            result = original(*args, **kwargs) if spec.get("after") else None
            _instant(spec)
            os.kill(os.getpid(), spec["signal"])
            if signals.holding():
                # the product holds this signal off here: it is delivered when let through
                return result if spec.get("after") else original(*args, **kwargs)
            time.sleep(30)  # SIGKILL ends the process here; SIGTERM's handler raises here
            raise AssertionError(f"signal {spec['signal']} was not delivered")

        return patched

    if spec.get("no_tmpfile"):
        os.open = _without_tmpfile(os.open)
    for name in watched:
        module_name, attribute = POINTS[name]
        module = importlib.import_module(module_name)
        setattr(module, attribute, wrap(name, getattr(module, attribute)))
    try:
        from mediins_cli.entry import main

        main()
    finally:
        if "count" in spec:
            Path(spec["count"]).write_text(json.dumps(counts, sort_keys=True), encoding="utf-8")
