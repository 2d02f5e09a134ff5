"""The console entry point: signals first, then the command line (DESIGN §8).

SIGTERM and SIGINT are handled like an error from the very start (imports included): the
handler raises :class:`Stopped`, which unwinds through every ``finally`` and ``except
BaseException`` (temporary files and staging folders removed, the month's lock released),
and the process exits 143 or 130 with one line, never a traceback. Further signals are
ignored while that clean-up runs. A signal that arrives while polars computes is handled when
the computation returns control to Python. A SIGKILL cannot be handled: what it leaves behind
carries the process id and is removed by the next run (:mod:`mediins_cli.outputs`).
"""

from __future__ import annotations

import signal
import sys
from types import FrameType


class Stopped(BaseException):
    """Raised by the signal handler. A BaseException, so no ``except Exception`` swallows it."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def _stop(signum: int, _frame: FrameType | None) -> None:
    for each in (signal.SIGTERM, signal.SIGINT):
        signal.signal(each, signal.SIG_IGN)  # one clean-up, not a second one inside it
    raise Stopped(signum)


def main() -> None:
    """``mediins``: install the handlers, then import and run the command line."""
    for each in (signal.SIGTERM, signal.SIGINT):
        signal.signal(each, _stop)
    try:
        from mediins_cli.cli import app

        app()
    except Stopped as exc:
        name = signal.Signals(exc.signum).name
        sys.stderr.write(
            f"mediins: stopped by {name}; a run directory is complete or absent, never partial\n"
        )
        raise SystemExit(128 + exc.signum) from None
