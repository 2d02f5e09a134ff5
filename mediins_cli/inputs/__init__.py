"""Reading and validating ``enrollees.csv`` and ``ledger.csv`` (DESIGN §3).

The one place input files are touched. Each file is opened once (``source``: hashed from the
bytes that are parsed, DESIGN §8), decoded (UTF-8 with or without BOM, or
GB18030 by option or detection), its header mapped through the Chinese aliases, every cell checked
with polars expressions over whole columns, and every problem collected as a row of a problem
table with the *physical* line of the file, so an operator's editor can jump to it.

What comes out is typed and exact: dates as ``Date``, months as the ``Date`` of their first day,
money as integer fen (``Int64``), and the source line of every row in ``line``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
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
    agency_file_stem,
)
from mediins_cli.inputs.enrollees import check_enrollees, read_enrollees
from mediins_cli.inputs.ledger import LedgerPass, check_ledger, ledger_balances_at, read_ledger
from mediins_cli.inputs.source import Source, SourceProblem, open_source

__all__ = [
    "ENCODINGS",
    "ENROLLEE_COLUMNS",
    "ID_TYPES",
    "LEDGER_COLUMNS",
    "STATUSES",
    "VALUE_ALIASES",
    "Column",
    "Inputs",
    "LedgerPass",
    "Source",
    "Validated",
    "agency_file_stem",
    "check_enrollees",
    "check_ledger",
    "extra_columns",
    "ledger_balances_at",
    "load_inputs",
    "open_sources",
    "read_enrollees",
    "read_ledger",
    "validate_inputs",
]


def extra_columns(enrollees: pl.DataFrame) -> list[str]:
    """Columns of a typed enrollee frame that mediins does not know: carried through untouched
    (not those it adds itself, named ``__…``: a file's own such columns are not kept)."""
    known = {c.name for c in ENROLLEE_COLUMNS} | {"premium_fen", "line"}
    return [c for c in enrollees.columns if c not in known and not c.startswith("__")]


@dataclass(frozen=True)
class Inputs:
    """Both files, typed, with the warnings that did not stop them."""

    enrollees: pl.DataFrame
    ledger: pl.DataFrame
    warnings: pl.DataFrame
    encodings: dict[str, str]


# --------------------------------------------------------------------------- public API


@contextlib.contextmanager
def open_sources(paths: dict[str, Path], encoding: str = "auto") -> Iterator[dict[str, Source]]:
    """Open every file for the block (see :mod:`.source`); the problems of all the files that
    cannot be read are raised together as :class:`BadInput`. The enrollee file may be an Excel
    workbook (:mod:`.xlsx`)."""
    with contextlib.ExitStack() as stack:
        opened, problems = {}, []
        for role, path in paths.items():
            try:
                opened[role] = stack.enter_context(
                    open_source(path, encoding, workbook=role == "enrollees")
                )
            except SourceProblem as exc:
                problems.append(exc.problem)
        if problems:
            raise BadInput(problems)
        yield opened


def load_inputs(enrollees: Path, ledger: Path, encoding: str = "auto") -> Inputs:
    """Load and validate both files; any error raises :class:`BadInput` listing every problem
    found in either file (warnings included)."""
    with open_sources({"enrollees": enrollees, "ledger": ledger}, encoding) as sources:
        e_frame, e_problems = check_enrollees(sources["enrollees"])
        l_frame, l_problems = check_ledger(sources["ledger"])
        for source in sources.values():
            source.check()
    problems = pl.concat([e_problems, l_problems])
    if e_frame is None or l_frame is None or (problems["severity"] == "error").any():
        raise BadInput(problems)
    return Inputs(
        e_frame,
        l_frame,
        problems,
        {s.shown: s.encoding for s in sources.values()},
    )


@dataclass(frozen=True)
class Validated:
    """What ``validate`` learns: the enrollees, typed; the ledger as the streaming pass of
    ``deduct`` reduces it (DESIGN §10: the same path, so a ledger larger than memory is checked
    as it is run); the warnings that did not stop them."""

    enrollees: pl.DataFrame
    ledger: LedgerPass
    warnings: pl.DataFrame
    encodings: dict[str, str]


#: validate reads the whole ledger: every row is "before" this cut-off
_NO_CUTOFF = datetime(9999, 12, 31)


def validate_inputs(enrollees: Path, ledger: Path, encoding: str = "auto") -> Validated:
    """Both files checked as ``deduct`` checks them, the ledger first and streamed; any error
    raises :class:`BadInput` listing every problem of both files (warnings included)."""
    with open_sources({"enrollees": enrollees, "ledger": ledger}, encoding) as sources:
        passed: LedgerPass | None = None
        try:
            passed = ledger_balances_at(sources["ledger"], _NO_CUTOFF)
            l_problems = passed.warnings
        except BadInput as exc:
            l_problems = exc.frame
        e_frame, e_problems = check_enrollees(sources["enrollees"])
        for source in sources.values():
            source.check()
    problems = pl.concat([e_problems, l_problems])
    if e_frame is None or passed is None or (problems["severity"] == "error").any():
        raise BadInput(problems)
    return Validated(e_frame, passed, problems, {s.shown: s.encoding for s in sources.values()})
