"""Where rule packs and operator calendar files live.

Order: ``MEDIINS_RULES_DIR`` (and ``MEDIINS_CALENDAR_DIR``) if set; the ``rules/`` folder of a
source checkout (an editable install, as ``make`` sets up); the copy packaged into a wheel.
"""

from __future__ import annotations

import os
from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def rules_dir() -> Path:
    env = os.environ.get("MEDIINS_RULES_DIR")
    if env:
        return Path(env)
    checkout = _PACKAGE.parent / "rules"
    if checkout.is_dir():
        return checkout
    return _PACKAGE / "_rules"


def calendar_dir() -> Path:
    env = os.environ.get("MEDIINS_CALENDAR_DIR")
    if env:
        return Path(env)
    return rules_dir() / "calendars"


def display_path(path: Path) -> str:
    """A path as an operator would type it: relative to the working directory when inside it."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)
