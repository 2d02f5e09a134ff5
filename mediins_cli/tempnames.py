"""Temporary files and folders named after the process that made them.

A run killed at any instant (SIGKILL included) can leave a temporary file or folder behind.
Every one mediins makes is named ``.<name>.<pid>.<random>.tmp`` (or ``….<pid>.old.tmp``), so the
next run that writes ``<name>`` can tell its own kind and remove those whose process is gone
(DESIGN §8: a run that dies leaves nothing the next run does not remove).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path


def temp_name(name: str) -> tuple[str, str]:
    """Prefix and suffix of a temporary sibling of ``name``, carrying this process's id."""
    return f".{name}.{os.getpid()}.", ".tmp"


_TEMP = re.compile(r"^\.(?P<name>.+)\.(?P<pid>[0-9]+)\.[^.]+\.tmp$")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_leftovers(directory: Path, name: str, *, any_process: bool = False) -> list[Path]:
    """Remove the temporary files or staging directories of ``name`` in ``directory`` left by
    runs that died (their process is gone; with ``any_process``, all of them: the caller holds
    the lock that every writer of ``name`` holds). Returns what was removed."""
    removed = []
    with contextlib.suppress(FileNotFoundError, NotADirectoryError):
        for entry in os.scandir(directory):
            m = _TEMP.match(entry.name)
            if m is None or m["name"] != name:
                continue
            if not any_process and _alive(int(m["pid"])):
                continue
            path = Path(entry.path)
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
            removed.append(path)
    return removed


@contextlib.contextmanager
def temporary_folder(name: str) -> Iterator[Path]:
    """A private temporary folder (mode 0700) named after ``name`` and this process, removed
    on leaving; those a killed process left are removed first."""
    base = Path(tempfile.gettempdir())
    remove_leftovers(base, name)
    prefix, suffix = temp_name(name)
    with tempfile.TemporaryDirectory(prefix=prefix, suffix=suffix) as folder:
        yield Path(folder)
