"""The console entry point: signals first, then the command line (DESIGN §8).

SIGTERM and SIGINT are handled like an error from the very start (imports included: see
:mod:`mediins_cli.signals`): temporary files and staging folders removed, the month's lock
released, and the process exits 143 or 130 with one line, never a traceback. A signal that
arrives while polars computes is handled when the computation returns control to Python. A
SIGKILL cannot be handled: what it leaves behind carries the process id and is removed by the
next run (:mod:`mediins_cli.tempnames`).
"""

from __future__ import annotations

import signal
import sys

from mediins_cli.signals import Stopped, install


def main() -> None:
    """``mediins``: install the handlers, then import and run the command line."""
    install()
    try:
        from mediins_cli.cli import app

        app()
    except Stopped as exc:
        name = signal.Signals(exc.signum).name
        sys.stderr.write(
            f"mediins: stopped by {name}; a run directory is complete or absent, never partial\n"
        )
        raise SystemExit(128 + exc.signum) from None
