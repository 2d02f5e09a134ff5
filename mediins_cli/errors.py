"""Problems found in operator-supplied files, and the exceptions that carry them.

Problems are collected, never raised one at a time (the beancount way): a loader returns every
problem it found, and the CLI prints them as ``file:line: column: message`` and exits 2.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from enum import IntEnum
from pathlib import Path
from typing import TYPE_CHECKING

from mediins_cli.i18n import _

if TYPE_CHECKING:  # polars is imported where a frame is made: `mediins --help` needs none
    import polars as pl


def problem_schema() -> dict[str, type[pl.DataType]]:
    """Columns of a problem table, as written by ``--errors PATH`` (DESIGN §3)."""
    import polars as pl

    return {
        "file": pl.String,
        "line": pl.Int64,
        "column": pl.String,
        "code": pl.String,
        "message": pl.String,
        "severity": pl.String,
    }


class ExitCode(IntEnum):
    """Exit statuses of every command (DESIGN §7)."""

    OK = 0
    UNEXPECTED = 1
    BAD_INPUT = 2
    REFUSED = 3


@dataclass(frozen=True, order=True)
class Problem:
    """One thing wrong with an input. ``line`` is the physical line of the file (1 = header);
    0 means the file as a whole. Messages never carry personal data in full."""

    file: str
    line: int
    column: str
    code: str
    message: str
    severity: str = "error"  # "error" stops the run; "warning" is reported only

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        parts = [where] if where else []
        if self.severity == "warning":
            parts.append(_("warning"))
        if self.column:
            parts.append(self.column)
        return ": ".join([*parts, self.message])


class MediinsError(Exception):
    """Base of the errors the CLI maps to an exit status."""

    exit_code: ExitCode = ExitCode.UNEXPECTED


def problems_frame(problems: list[Problem] | tuple[Problem, ...]) -> pl.DataFrame:
    """Problems as a table (the form row checks produce them in, at any scale)."""
    import polars as pl

    rows = [(p.file, p.line, p.column, p.code, p.message, p.severity) for p in problems]
    return pl.DataFrame(rows, schema=problem_schema(), orient="row")


def problem_rows(
    frame: pl.DataFrame,
    column: str,
    code: str,
    message: pl.Expr,
    file: str | None = None,
    severity: str = "error",
) -> pl.DataFrame:
    """One problem per row of ``frame`` (which has ``line``, and ``file`` unless ``file`` is
    given): ``message`` made from the row's own cells, masked where it is made."""
    import polars as pl

    return frame.select(
        pl.col("file") if file is None else pl.lit(file).alias("file"),
        pl.col("line"),
        pl.lit(column).alias("column"),
        pl.lit(code).alias("code"),
        message.alias("message"),
        pl.lit(severity).alias("severity"),
    ).cast(problem_schema())  # type: ignore[arg-type]


def message_expr(template: str, **values: pl.Expr) -> pl.Expr:
    """A problem's message for every row: ``template`` (translated: its words in the language's
    order) with each ``{name}`` replaced by the row's ``values[name]`` (masked where it is
    made). A value that is null makes the message null, as ``concat_str`` does."""
    import re

    import polars as pl

    parts: list[pl.Expr] = []
    for i, piece in enumerate(re.split(r"\{(\w+)\}", template)):
        if i % 2:
            parts.append(values[piece])
        elif piece:
            parts.append(pl.lit(piece))
    return pl.concat_str(parts) if len(parts) > 1 else parts[0]


def format_problems(frame: pl.DataFrame, limit: int | None = None) -> list[str]:
    """``file:line: column: message`` for the first ``limit`` problems (errors first, in file
    and line order)."""
    import polars as pl

    ordered = frame.sort(
        pl.col("severity") != "error", "file", "line", "column", maintain_order=True
    )
    if limit is not None:
        ordered = ordered.head(limit)
    return [str(Problem(**row)) for row in ordered.iter_rows(named=True)]


class BadInput(MediinsError):
    """Inputs (data files, rule packs, calendar files, options) that cannot be used.

    Carries every problem found, as a table (:func:`problem_schema`); warnings may ride along.
    """

    exit_code = ExitCode.BAD_INPUT

    def __init__(self, problems: list[Problem] | tuple[Problem, ...] | pl.DataFrame | str) -> None:
        import polars as pl

        if isinstance(problems, str):
            problems = [Problem(file="", line=0, column="", code="USAGE", message=problems)]
        if not isinstance(problems, pl.DataFrame):
            problems = problems_frame(problems)
        self.frame: pl.DataFrame = problems
        self.errors = int((problems["severity"] == "error").sum())
        super().__init__("\n".join(format_problems(problems, limit=20)))


class Refused(MediinsError):
    """A run that must not go ahead: the round already ran with other inputs, round 2 before
    round 1, another run holding the lock (DESIGN §7, exit status 3).

    ``again``: the option that lets the very command that was refused go ahead (``--force``);
    the command line shows that command again with it, as the operator typed it (``--out``
    included), so that what is run next acts on the same folder."""

    exit_code = ExitCode.REFUSED

    def __init__(self, message: str, again: str | None = None) -> None:
        super().__init__(message)
        self.again = again


#: the output folder when none is given (``--out``, the setting ``out``)
DEFAULT_OUT = "out"


def command_line(command: str, out: Path | str | None = None, *options: str) -> str:
    """``mediins COMMAND [--out OUT] [OPTIONS]``, as a refusal suggests another command: with
    the output folder of the run that was refused unless it is the default one, so that the
    suggestion acts on the same folder (issue 12)."""
    words = ["mediins", command]
    if out is not None and str(out) != DEFAULT_OUT:
        words.append(f"--out {shlex.quote(str(out))}")
    return " ".join([*words, *options])


class CalendarNotCovered(BadInput):
    """A date in a year that no working-day calendar covers. mediins never guesses."""

    def __init__(self, year: int, calendar_dir: str) -> None:
        self.year = year
        message = _(
            "no working-day calendar covers {year}: the installed chinese-calendar has no data "
            "for it and there is no {calendar_dir}/{year}.toml. Add that file from the State "
            "Council's holiday notice for {year} (format in rules/calendars/README.md), or "
            "upgrade chinese-calendar once it covers {year}."
        ).format(year=year, calendar_dir=calendar_dir)
        super().__init__([Problem("", 0, "", "CALENDAR_NOT_COVERED", message)])
