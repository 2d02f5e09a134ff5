"""SIGTERM and SIGINT as an exception, and the instants that must not be cut (DESIGN §8).

:func:`install` (called first thing by the console entry point) makes both signals raise
:class:`Stopped`, which unwinds through every ``finally`` and ``except BaseException``: the
clean-up runs, then the process exits 143 or 130. Further signals are ignored while that
clean-up runs. Inside :func:`held` a signal waits until the block ends: a handler runs in the
main thread whichever thread the kernel gave the signal to, so blocking it with a signal mask
would not hold it off (polars' threads would take it).
"""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator
from types import FrameType

HANDLED = (signal.SIGTERM, signal.SIGINT)

_holding = 0
_pending: int | None = None


class Stopped(BaseException):
    """Raised by the signal handler. A BaseException, so no ``except Exception`` swallows it."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def install() -> None:
    for each in HANDLED:
        signal.signal(each, _stop)


def _stop(signum: int, _frame: FrameType | None) -> None:
    global _pending
    if _holding:
        _pending = signum
        return
    _raise(signum)


def _raise(signum: int) -> None:
    for each in HANDLED:
        signal.signal(each, signal.SIG_IGN)  # one clean-up, not a second one inside it
    raise Stopped(signum)


def holding() -> bool:
    """Whether a signal now would wait for the end of a :func:`held` block."""
    return _holding > 0


@contextlib.contextmanager
def held() -> Iterator[None]:
    """SIGTERM and SIGINT handled when the block ends, not inside it."""
    global _holding, _pending
    _holding += 1
    try:
        yield
    finally:
        _holding -= 1
        if not _holding and _pending is not None:
            signum, _pending = _pending, None
            _raise(signum)
