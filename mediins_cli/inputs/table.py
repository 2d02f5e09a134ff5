"""Reading a decoded file as a text table with physical line numbers, and the checks over it."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from mediins_cli.errors import PROBLEM_SCHEMA, Problem, problems_frame
from mediins_cli.inputs.columns import ENCODINGS, VALUE_ALIASES, Column
from mediins_cli.inputs.source import _Decoded, _DecodeFailure, _utf8_source
from mediins_cli.mask import mask_account_expr
from mediins_cli.money import yuan_is_valid
from mediins_cli.resources import display_path

_DATE_RE = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
_MONTH_RE = r"^[0-9]{4}-(0[1-9]|1[0-2])$"


def _read_table(
    path: Path, columns: tuple[Column, ...], encoding: str
) -> tuple[pl.DataFrame | None, pl.DataFrame, str]:
    """Decode, map the header, read every cell as text, attach physical line numbers."""
    shown = display_path(path)
    problems: list[Problem] = []

    def fail(line: int, column: str, code: str, message: str) -> tuple[None, pl.DataFrame, str]:
        problems.append(Problem(shown, line, column, code, message))
        return None, problems_frame(problems), encoding

    enc = ENCODINGS.get(encoding.lower())
    if enc is None:
        return fail(
            0, "", "BAD_ENCODING", f"unknown encoding {encoding!r} (use auto, utf-8 or gb18030)"
        )
    if not path.is_file():
        return fail(0, "", "NO_FILE", "no such file")
    try:
        with _utf8_source(path, enc) as decoded:
            header = _read_header(decoded.path)
            if header is None:
                return fail(1, "", "EMPTY_FILE", "the file is empty: expected a header row")
            names, header_problems = _map_header(header, columns, shown)
            if header_problems:
                return None, problems_frame(header_problems), decoded.encoding
            try:
                frame = pl.read_csv(
                    decoded.path,
                    has_header=True,
                    new_columns=names,
                    infer_schema=False,
                    raise_if_empty=False,
                )
            except pl.exceptions.ComputeError:
                ragged = _ragged_lines(decoded.path, len(names), shown)
                if not ragged:
                    raise
                return None, problems_frame(ragged), decoded.encoding
            frame = frame.with_columns(_physical_lines(decoded, frame.height))
    except _DecodeFailure as exc:
        tried = {
            "auto": "neither UTF-8 nor GB18030",
            "utf-8": "not UTF-8 (try --encoding gb18030)",
            "gb18030": "not GB18030",
        }[enc]
        return fail(exc.line, "", "BAD_ENCODING", f"undecodable byte 0x{exc.byte:02x}: {tried}")
    texts = [c for c in frame.columns if c != "line"]
    known = {c.name for c in columns}  # unknown extra columns are carried through untouched
    frame = frame.with_columns(
        pl.col(c).str.strip_chars().replace("", None).alias(c) for c in texts if c in known
    ).filter(~pl.all_horizontal(pl.col(c).is_null() for c in texts) if texts else pl.lit(True))
    return frame, problems_frame(problems), decoded.encoding


def _read_header(path: Path) -> list[str] | None:
    with path.open(encoding="utf-8-sig", newline="") as fh:
        for row in csv.reader(fh):
            return row
    return None


def _map_header(
    header: list[str], columns: tuple[Column, ...], shown: str
) -> tuple[list[str], list[Problem]]:
    """Canonical names for the header (aliases mapped, extras kept); problems on line 1."""
    lookup: dict[str, str] = {}
    for col in columns:
        lookup[col.name] = col.name
        for alias in col.aliases:
            lookup[alias] = col.name
    names: list[str] = []
    problems: list[Problem] = []
    seen: dict[str, int] = {}
    for position, raw in enumerate(header, start=1):
        text = raw.strip()
        name = lookup.get(text, lookup.get(text.lower(), text))
        if not text:
            name = f"column_{position}"
        if name in seen:
            problems.append(
                Problem(
                    shown,
                    1,
                    name,
                    "DUPLICATE_COLUMN",
                    f"column {position} ({text}) repeats column {seen[name]}",
                )
            )
        seen[name] = position
        names.append(name)
    if "line" in seen:
        problems.append(
            Problem(
                shown,
                1,
                "line",
                "RESERVED_COLUMN",
                "'line' is reserved for source line numbers; rename it",
            )
        )
    for col in columns:
        if col.required and col.name not in seen:
            aliases = " / ".join(col.aliases)
            problems.append(
                Problem(
                    shown,
                    1,
                    col.name,
                    "MISSING_COLUMN",
                    f"required column is missing (also accepted: {aliases})",
                )
            )
    return names, problems


def _physical_lines(decoded: _Decoded, records: int) -> pl.Expr | pl.Series:
    """Line of the file each record starts on (1 is the header). Fast when no field spans
    lines; otherwise the file is walked once with the csv module."""
    lines = decoded.newlines + (0 if decoded.ends_with_newline else 1)
    if lines == records + 1:
        return (pl.int_range(records, dtype=pl.Int64) + 2).alias("line")
    starts: list[int] = []
    with decoded.path.open(encoding="utf-8-sig", newline="") as fh:
        reader = csv.reader(fh)
        next(reader, None)
        previous = reader.line_num
        for _ in reader:
            starts.append(previous + 1)
            previous = reader.line_num
    return pl.Series("line", starts[:records], dtype=pl.Int64).alias("line")


def _ragged_lines(path: Path, width: int, shown: str) -> list[Problem]:
    problems = []
    with path.open(encoding="utf-8-sig", newline="") as fh:
        reader = csv.reader(fh)
        next(reader, None)
        start = reader.line_num + 1
        for row in reader:
            if len(row) > width:
                problems.append(
                    Problem(
                        shown, start, "", "BAD_ROW", f"{len(row)} fields, the header has {width}"
                    )
                )
            start = reader.line_num + 1
    return problems


# --------------------------------------------------------------------------- checks


@dataclass(frozen=True)
class _Check:
    column: str
    code: str
    failed: pl.Expr  # true on a row with this problem
    message: pl.Expr  # text of the problem (personal data masked)
    severity: str = "error"


def _collect(frame: pl.DataFrame, checks: list[_Check], shown: str) -> pl.DataFrame:
    """Every failed check as a problem row, at any scale (no Python loop over rows)."""
    flagged = frame.with_columns(
        [c.failed.fill_null(False).alias(f"__check{i}") for i, c in enumerate(checks)]
    )
    parts = []
    for i, check in enumerate(checks):
        rows = flagged.filter(pl.col(f"__check{i}"))
        if rows.height:
            parts.append(
                rows.select(
                    pl.lit(shown).alias("file"),
                    pl.col("line"),
                    pl.lit(check.column).alias("column"),
                    pl.lit(check.code).alias("code"),
                    check.message.alias("message"),
                    pl.lit(check.severity).alias("severity"),
                )
            )
    if not parts:
        return pl.DataFrame(schema=PROBLEM_SCHEMA)
    return pl.concat(parts).cast(PROBLEM_SCHEMA)  # type: ignore[arg-type]


def _col(frame: pl.DataFrame, name: str) -> pl.Expr:
    """An optional column, or nulls where the file does not have it."""
    return pl.col(name) if name in frame.columns else pl.lit(None, dtype=pl.String)


def _quoted(expr: pl.Expr) -> pl.Expr:
    """A cell's value, quoted, for a message. A file whose columns slipped can put an ID number,
    an account number or a name where a date or amount belongs: long digit strings are masked
    like accounts and text with Chinese characters like names (DESIGN §7)."""
    shown = (
        pl.when(expr.str.contains(r"[0-9]{9,}"))
        .then(mask_account_expr(expr))
        .when(expr.str.contains(r"[\u3400-\u9fff]"))
        .then(pl.concat_str(expr.str.slice(0, 1), pl.lit("**")))
        .otherwise(expr.str.slice(0, 40))
    )
    return pl.concat_str(pl.lit("'"), shown, pl.lit("'"))


def _amount_check(column: str) -> _Check:
    """Yuan with at most two decimals (money.YUAN_PATTERN), in either file."""
    return _Check(
        column,
        "BAD_AMOUNT",
        pl.col(column).is_not_null() & ~yuan_is_valid(pl.col(column)),
        pl.concat_str(
            _quoted(pl.col(column)), pl.lit(" is not an amount in yuan with at most two decimals")
        ),
    )


def _empty(column: str) -> _Check:
    return _Check(column, "EMPTY", pl.col(column).is_null(), pl.lit("is empty"))


def _parse_date(expr: pl.Expr) -> pl.Expr:
    return pl.when(expr.str.contains(_DATE_RE)).then(expr.str.to_date("%Y-%m-%d", strict=False))


def _parse_month(expr: pl.Expr) -> pl.Expr:
    return pl.when(expr.str.contains(_MONTH_RE)).then(
        (expr + "-01").str.to_date("%Y-%m-%d", strict=False)
    )


def _date_check(column: str, parsed: str) -> _Check:
    return _Check(
        column,
        "BAD_DATE",
        pl.col(column).is_not_null() & pl.col(parsed).is_null(),
        pl.concat_str(_quoted(pl.col(column)), pl.lit(" is not a date YYYY-MM-DD")),
    )


def _coded(frame: pl.DataFrame, column: str) -> pl.Expr:
    """A coded column through its value aliases (case-insensitive); unknown values stay."""
    raw = _col(frame, column)
    aliases = VALUE_ALIASES[column]
    return raw.str.to_lowercase().replace_strict(aliases, default=raw, return_dtype=pl.String)
