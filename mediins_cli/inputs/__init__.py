"""Reading and validating ``enrollees.csv`` and ``ledger.csv`` (DESIGN §3).

The one place input files are touched. Each file is decoded (UTF-8 with or without BOM, or
GB18030 by option or detection), its header mapped through the Chinese aliases, every cell checked
with polars expressions over whole columns, and every problem collected as a row of a problem
table with the *physical* line of the file, so an operator's editor can jump to it.

What comes out is typed and exact: dates as ``Date``, months as the ``Date`` of their first day,
money as integer fen (``Int64``), and the source line of every row in ``line``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import polars as pl

from mediins_cli.errors import BadInput
from mediins_cli.inputs.columns import (
    ENCODINGS,
    ENROLLEE_COLUMNS,
    ID_TYPES,
    LEDGER_COLUMNS,
    STATUSES,
    VALUE_ALIASES,
    Column,
)
from mediins_cli.inputs.enrollees import read_enrollees
from mediins_cli.inputs.ledger import ledger_balances_at, read_ledger
from mediins_cli.resources import display_path

__all__ = [
    "ENCODINGS",
    "ENROLLEE_COLUMNS",
    "ID_TYPES",
    "LEDGER_COLUMNS",
    "STATUSES",
    "VALUE_ALIASES",
    "Column",
    "Inputs",
    "extra_columns",
    "ledger_balances_at",
    "load_inputs",
    "read_enrollees",
    "read_ledger",
]


def extra_columns(enrollees: pl.DataFrame) -> list[str]:
    """Columns of a typed enrollee frame that mediins does not know: carried through untouched."""
    known = {c.name for c in ENROLLEE_COLUMNS} | {"premium_fen", "line"}
    return [c for c in enrollees.columns if c not in known]


@dataclass(frozen=True)
class Inputs:
    """Both files, typed, with the warnings that did not stop them."""

    enrollees: pl.DataFrame
    ledger: pl.DataFrame
    warnings: pl.DataFrame
    encodings: dict[str, str]


# --------------------------------------------------------------------------- public API


def load_inputs(enrollees: Path, ledger: Path, encoding: str = "auto") -> Inputs:
    """Load and validate both files; any error raises :class:`BadInput` listing every problem
    found in either file (warnings included)."""
    e_frame, e_problems, e_enc = read_enrollees(enrollees, encoding)
    l_frame, l_problems, l_enc = read_ledger(ledger, encoding)
    problems = pl.concat([e_problems, l_problems])
    if e_frame is None or l_frame is None or (problems["severity"] == "error").any():
        raise BadInput(problems)
    return Inputs(
        e_frame,
        l_frame,
        problems,
        {display_path(enrollees): e_enc, display_path(ledger): l_enc},
    )
