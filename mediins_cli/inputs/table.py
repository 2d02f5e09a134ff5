"""Reading an open file as a text table with physical line numbers, and the checks over it.

Every cell is read as text; nothing a file holds reaches the terminal except through a
problem message made here, where values are shown by what their column holds
(:func:`mediins_cli.mask.shown_expr`). A file polars cannot parse is walked once more to name
the line and the problem (an unclosed quote, too many fields); polars' own message, which
quotes raw rows, is never shown.
"""

from __future__ import annotations

import csv
import os
import re
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from mediins_cli.errors import (
    Problem,
    message_expr,
    problem_rows,
    problem_schema,
    problems_frame,
)
from mediins_cli.frames import one_piece
from mediins_cli.i18n import N_, _, current_lang, translation
from mediins_cli.inputs.columns import (
    ENGINE_COLUMNS,
    HOLDS,
    MAX_CELL_CHARS,
    MAX_COLUMNS,
    SHAPED_COLUMNS,
    VALUE_ALIASES,
    Column,
    spellings,
)
from mediins_cli.inputs.source import PARQUET, Source, SourceProblem, open_source
from mediins_cli.inputs.xlsx import EXCEL_NUMBER_FIX, EXCEL_NUMBER_TEXT, XLSX
from mediins_cli.mask import shown as shown_value
from mediins_cli.mask import shown_expr
from mediins_cli.money import MAX_AMOUNT_FEN, fen_to_yuan, yuan_is_valid, yuan_to_fen

#: dates and months of the years 1900–2999: nothing mediins handles is older or later, and a
#: year 0 would be a date no program can hold
_YEAR = r"(19|2[0-9])[0-9]{2}"
_DATE_RE = rf"^{_YEAR}-[0-9]{{2}}-[0-9]{{2}}$"
_MONTH_RE = rf"^{_YEAR}-(0[1-9]|1[0-2])$"
#: characters no known column may hold: C0 controls, DEL, zero-width and bidi marks, a BOM
_INVISIBLE = r"[\x00-\x1f\x7f\u200b-\u200f\u202a-\u202e\u2028\u2029\u2066-\u2069\ufeff]"


def strip_cells(plan: pl.LazyFrame, columns: list[str]) -> pl.LazyFrame:
    """``columns`` of a plan without surrounding spaces, an empty cell as null, each stripped
    once: stripped for a ``when`` and again for its ``then`` took 1 M enrollees 0.42 s of CPU,
    not 0.25. (Written as ``when``: ``replace("", None)`` built a map that held 1 GB more at
    10 M rows.)"""
    if not columns:
        return plan
    return plan.with_columns(pl.col(c).str.strip_chars() for c in columns).with_columns(
        pl.when(pl.col(c) != "").then(pl.col(c)).alias(c) for c in columns
    )


def read_table(
    source: Source, columns: tuple[Column, ...]
) -> tuple[pl.DataFrame | None, pl.DataFrame]:
    """The file as a frame of text cells (known columns stripped, empty cells null, blank rows
    dropped) with the physical ``line`` of each row, and its structural problems (frame None
    when it cannot be read as a table)."""
    names, problems = table_names(source, columns)
    if names is None:
        return None, problems
    known = {c.name for c in columns}  # unknown extra columns are carried through untouched
    try:
        # one streaming plan: the cells are stripped as they are read, so the file's raw text
        # and its stripped copy are never both in memory (10 M rows: 2.7 GB at the peak, not 4.9)
        frame = one_piece(text_plan(source, names, known).collect(engine="streaming"))
    except pl.exceptions.PolarsError:  # its message quotes raw rows: never shown
        return None, unreadable(source, len(names))
    starts, warnings = physical_numbering(source, frame.height)
    if starts is not None:
        frame = renumbered(frame, starts)
    if names:  # blank rows are skipped (a copy only when there is one)
        blank = frame.select(blank_row(names)).to_series()
        if blank.any():
            frame = frame.filter(~blank)
    return frame, pl.concat([warnings, cell_problems(frame, names, known, source.shown)])


def table_names(
    source: Source, columns: tuple[Column, ...]
) -> tuple[list[str] | None, pl.DataFrame]:
    """The file's header as canonical names (aliases mapped, extras kept), with its problems;
    None when the header refuses the file."""
    header, problem = _read_header(source)
    if problem is not None:
        return None, problems_frame([problem])
    assert header is not None
    names, problems = _map_header(header, columns, source.shown)
    return (None if problems else names), problems_frame(problems)


def text_plan(
    source: Source,
    names: list[str],
    known: set[str],
    piece: bytes | None = None,
    before: int = 0,
    as_written: Collection[str] = (),
) -> pl.LazyFrame:
    """The file's records as a plan of text cells named ``names`` (known columns stripped as
    they are read, an empty cell null) and the ``line`` of each: a CSV's physical line while no
    value spans lines (:func:`physical_numbering` says otherwise), a Parquet file's row, a
    workbook's row (with a ``__number_…`` flag per ID or account column: the cells Excel holds
    as numbers). Blank records stay: they are numbered too, and :func:`blank_row` finds them.
    ``piece``, ``before``: a piece of a CSV (:func:`csv_pieces`) after ``before`` records.
    ``as_written``: known columns not stripped (their cells as the file has them)."""
    stripped = [c for c in names if c in known and c not in as_written]
    if source.sheet is not None:  # in memory already, numbered as Excel numbers its rows
        cells = scan_text(source, names).collect()
        numbers = [n for n in names if HOLDS.get(n) in ("id", "account")]
        return strip_cells(cells.lazy(), stripped).with_columns(
            source.sheet.lines(cells.height), *source.sheet.numbers(names, numbers).values()
        )
    return (
        strip_cells(scan_text(source, names, piece), stripped)
        # numbered in the plan: numbering the collected frame had polars join its pieces at
        # the next step, slower and beside the old frame (10 M rows: 2.9 s, 1.9 GB more)
        .with_row_index("line", (1 if source.encoding == PARQUET else 2) + before)
        .select(*names, pl.col("line").cast(pl.Int64))
    )


#: the enrollee check reads a CSV in pieces of about this many bytes (:func:`csv_pieces`)
PIECE_BYTES = 128 << 20


def csv_pieces(source: Source) -> Iterator[bytes | None]:
    """A CSV cut at line ends into pieces of about :data:`PIECE_BYTES`, each its header line and
    then whole records, in order; a single None (the file read as it is) for a file no larger,
    a workbook or a Parquet file.

    Why: polars' streaming CSV reader runs ahead of a pass that does much with each row (the
    enrollee check's typing) and holds what it read: 1.9 GB above the typed frame for 10 M
    enrollees. A pass over pieces holds one piece's worth (DESIGN §10). A line end is a record's
    end only outside quotes: once a piece (or the header) holds a quote, the rest of the file
    is one piece, so a quoted value may span lines there as anywhere."""
    size = PIECE_BYTES  # read when called: the tests make it small
    if source.sheet is not None or source.encoding == PARQUET:
        yield None
        return
    if os.stat(source.readable).st_size <= size:
        yield None
        return
    with open(source.readable, "rb") as fh:
        header = fh.readline()
        if b'"' in header:
            yield None
            return
        start, total = fh.tell(), os.fstat(fh.fileno()).st_size
        while start < total:
            fh.seek(start + size)
            fh.readline()  # to the end of the record the size ends in
            # read once, by position, into the piece (a block grown to its record's end and
            # then put after the header was copied twice more: 1 GB, 1.7 s, not 1.1)
            block = os.pread(fh.fileno(), min(fh.tell(), total) - start, start)
            if b'"' in block:
                fh.seek(start)
                block = fh.read()
            if not block:  # the file is shorter than it was: Source.check says so
                return
            start += len(block)
            yield header + block


def blank_row(names: list[str]) -> pl.Expr:
    """True on a record with no cell (every cell empty or spaces): skipped, never checked."""
    return pl.all_horizontal(pl.col(c).is_null() for c in names)


def unreadable(source: Source, width: int) -> pl.DataFrame:
    """The problems of a file polars could not parse as a table of ``width`` columns, said as
    an operator can fix them (polars' own message quotes raw rows: never shown)."""
    if source.encoding == PARQUET:
        return problems_frame([_bad_parquet(source)])
    if source.encoding == XLSX:
        return problems_frame([_bad_workbook(source)])
    found = structure_problems(source, width)
    if not found:
        found = [
            Problem(
                source.shown, 0, "", "BAD_CSV", _("not a CSV file polars can read; no line found")
            )
        ]
    return problems_frame(found)


def physical_numbering(source: Source, records: int) -> tuple[pl.Series | None, pl.DataFrame]:
    """For a CSV file of ``records`` records (blank ones included) where a quoted value spans
    lines: the line each record starts on, by record (:func:`renumbered` applies it), and a
    MULTILINE_VALUE warning per such value; else None and no warning (the lines
    :func:`text_plan` gave are right)."""
    if source.sheet is not None or source.encoding == PARQUET:
        return None, problems_frame([])
    lines, spans = _physical_lines(source, records)
    warnings = [
        Problem(
            source.shown,
            start,
            "",
            "MULTILINE_VALUE",
            _(
                "a quoted value spans lines {start}–{end}; if a quote was left open by mistake, "
                "rows were merged into it"
            ).format(start=start, end=end),
            "warning",
        )
        for start, end in spans
    ]
    return (lines if isinstance(lines, pl.Series) else None), problems_frame(warnings)


def renumbered(frame: pl.DataFrame, starts: pl.Series) -> pl.DataFrame:
    """``frame``'s rows (numbered by :func:`text_plan`: record ``i`` is line ``i + 2``) on the
    lines their records start on (:func:`physical_numbering`)."""
    return frame.with_columns(starts.gather(frame.get_column("line") - 2).alias("line"))


def cell_problems(
    frame: pl.DataFrame, names: list[str], known: set[str], shown: str
) -> pl.DataFrame:
    """The problems :func:`_cell_checks` finds in ``frame``'s text cells."""
    longest = frame.select(pl.col(names).str.len_bytes().max()).row(0) if names else ()
    long = {c for c, n in zip(names, longest, strict=True) if (n or 0) > MAX_CELL_CHARS}
    return _collect(frame, _cell_checks(names, known, long), shown)


def scan_text(source: Source, names: list[str], piece: bytes | None = None) -> pl.LazyFrame:
    """The file as a plan of text columns named ``names`` (the header mapped): a CSV's cells
    as they are written; a Parquet file's columns written as text the way a CSV export would
    write them (dates ``YYYY-MM-DD``, times ``YYYY-MM-DD HH:MM:SS``), then checked alike.
    ``piece``: a CSV's header line and some of its records (:func:`csv_pieces`) instead."""
    if source.sheet is not None:
        return source.sheet.text(names).lazy()
    if source.encoding != PARQUET:
        return pl.scan_csv(
            source.readable if piece is None else piece,
            has_header=True,
            new_columns=names,
            infer_schema=False,
            raise_if_empty=False,
        )
    plan = pl.scan_parquet(source.readable)
    schema = plan.collect_schema()
    return plan.select(
        _as_text(pl.col(old), dtype).alias(new)
        for (old, dtype), new in zip(schema.items(), names, strict=True)
    )


def _as_text(column: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    if dtype == pl.Date:
        return column.dt.strftime("%Y-%m-%d")
    if isinstance(dtype, pl.Datetime):
        return column.dt.strftime("%Y-%m-%d %H:%M:%S")
    if dtype == pl.String:
        return column
    return column.cast(pl.String)


def _bad_parquet(source: Source) -> Problem:
    return Problem(
        source.shown,
        0,
        "",
        "BAD_PARQUET",
        _("not a Parquet file of plain columns polars can read (a nested or binary column is not)"),
    )


def _bad_workbook(source: Source) -> Problem:
    return Problem(
        source.shown,
        0,
        "",
        "BAD_WORKBOOK",
        _("the workbook's first sheet cannot be read as a table"),
    )


def _read_header(source: Source) -> tuple[list[str] | None, Problem | None]:
    """The header: the first line alone (a header never spans lines); a Parquet file's column
    names; a workbook's first row with anything in it."""
    if source.sheet is not None:
        return source.sheet.header, None
    if source.encoding == PARQUET:
        try:
            return list(pl.read_parquet_schema(source.readable)), None
        except (pl.exceptions.PolarsError, OSError):
            return None, _bad_parquet(source)
    if source.newlines == 0 and source.carriage_returns:
        return None, Problem(
            source.shown,
            1,
            "",
            "BAD_LINE_ENDINGS",
            _(
                "lines end in a carriage return alone (old Mac style); save the file with LF or "
                "CRLF line ends"
            ),
        )
    with source.text() as fh:
        first = fh.readline()
    if not first.strip("\r\n"):
        return None, Problem(
            source.shown, 1, "", "EMPTY_FILE", _("the file is empty: expected a header row")
        )
    try:
        return next(csv.reader([first.rstrip("\r\n")], strict=True)), None
    except csv.Error:
        return None, Problem(
            source.shown, 1, "", "BAD_QUOTE", _("the header row has an unbalanced quote")
        )


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

    def bad(column: str, code: str, message: str) -> None:
        problems.append(Problem(shown, 1, column, code, message))

    if len(header) > MAX_COLUMNS:
        bad(
            "",
            "TOO_MANY_COLUMNS",
            _("{n} columns; at most {most} are read").format(n=len(header), most=MAX_COLUMNS),
        )
        return [], problems
    seen: dict[str, int] = {}
    for position, raw in enumerate(header, start=1):
        text = raw.strip()
        name = lookup.get(text, lookup.get(text.lower(), text))
        if not text:
            name = f"column_{position}"
        if re.search(_INVISIBLE, text) or len(text) > 200:
            bad(
                f"column_{position}",
                "BAD_TEXT",
                _("the column name has control characters or is too long"),
            )
            name = f"column_{position}"
        if name in seen:
            # a header row may be a data row (the header left out): what it says is masked
            known = name in lookup.values()
            said = name if known else shown_value(name, "label")[1:-1]
            spelled = _(" ({text})").format(text=text) if known else ""
            bad(
                said,
                "DUPLICATE_COLUMN",
                _("column {position}{spelled} repeats column {first}").format(
                    position=position, spelled=spelled, first=seen[name]
                ),
            )
        elif name not in lookup.values() and (name in ENGINE_COLUMNS or name.startswith("__")):
            bad(
                name,
                "RESERVED_COLUMN",
                _(
                    "'{name}' is a column mediins makes itself (names starting with __ too); "
                    "rename it"
                ).format(name=name),
            )
        seen[name] = position
        names.append(name)
    for col in columns:
        if col.required and col.name not in seen:
            aliases = " / ".join(col.aliases)
            bad(
                col.name,
                "MISSING_COLUMN",
                _("required column is missing (also accepted: {aliases})").format(aliases=aliases),
            )
    return names, problems


def _physical_lines(
    source: Source, records: int
) -> tuple[pl.Expr | pl.Series, list[tuple[int, int]]]:
    """Line of the file each record starts on (1 is the header), and the (first, last) lines of
    records that span several. Fast when no value spans lines; otherwise the file is walked
    once, split as polars splits it (:func:`_walk`)."""
    lines = source.newlines + (0 if source.ends_with_newline else 1)
    if lines == records + 1:
        return (pl.int_range(records, dtype=pl.Int64) + 2).alias("line"), []
    walked = list(_walk(source))
    spans = [(r.start, r.end) for r in walked if r.end > r.start]
    starts = [r.start for r in walked][:records]
    return pl.Series("line", starts, dtype=pl.Int64).alias("line"), spans


# The rest of a quoted value: up to its closing quote ("" is a quote inside it).
_QUOTED_REST = re.compile(r'(?:[^"]|"")*"(?!")')
_AFTER_QUOTE = N_(
    "text after a closing quote (quote the whole value and write a quote inside it twice)"
)
_QUOTE_INSIDE = N_(
    "a quote inside an unquoted value (quote the whole value and write the quote twice)"
)


@dataclass(frozen=True)
class _Record:
    start: int  # physical lines, 1 being the header
    end: int
    fields: int
    problem: str | None = None  # a BAD_QUOTE message
    lone_return: bool = False  # a carriage return not before a line feed, outside quotes


def _walk(source: Source) -> Iterator[_Record]:
    """The records after the header, as polars splits a file: at line feeds outside quoted
    values (a blank line is a record; a carriage return alone is part of a value), with how
    many fields each has and the first quoting problem of each."""
    in_quote = False
    start = fields = number = 0
    lone = False
    with source.text() as fh:
        fh.readline()
        for number, raw in enumerate(fh, start=2):
            text = raw[:-1] if raw.endswith("\n") else raw
            text = text[:-1] if text.endswith("\r") else text
            closed = False  # just past a closing quote: the value must end here
            if in_quote:
                m = _QUOTED_REST.match(text)
                if m is None:
                    continue  # the whole line is inside the quoted value
                in_quote, closed, pos = False, True, m.end()
            else:
                start, fields, pos, lone = number, 1, 0, False
            problem = None
            while True:
                if closed:
                    if pos == len(text):
                        break
                    if text[pos] != ",":
                        problem = (
                            _(_AFTER_QUOTE)
                            if number == start
                            else _(
                                "a quote opened on this line closes on line {number} and is "
                                "followed by more text: an unbalanced quote"
                            ).format(number=number)
                        )
                        break
                    closed, pos, fields = False, pos + 1, fields + 1
                elif text.startswith('"', pos):
                    m = _QUOTED_REST.match(text, pos + 1)
                    if m is None:
                        in_quote = True
                        break
                    closed, pos = True, m.end()
                else:
                    end = text.find(",", pos)
                    value = text[pos:] if end < 0 else text[pos:end]
                    lone = lone or "\r" in value
                    if '"' in value:
                        problem = _(_QUOTE_INSIDE)
                        break
                    if end < 0:
                        break
                    pos, fields = end + 1, fields + 1
            if not in_quote:
                yield _Record(start, number, fields, problem, lone)
    if in_quote:
        yield _Record(start, number, fields, _("a quote opened on this line is never closed"))


def structure_problems(source: Source, width: int) -> list[Problem]:
    """Walk a file polars could not parse and say where and why, as an operator can fix it:
    a quote that never closes, text after a closing quote, a quote inside an unquoted value,
    a row with more fields than the header. No cell is quoted."""
    problems = []
    for r in _walk(source):
        if r.problem is not None:
            problems.append(Problem(source.shown, r.start, "", "BAD_QUOTE", r.problem))
        elif r.fields > width and r.lone_return:
            message = _(
                "a carriage return alone (an old Mac line end?) joins this line to the next: "
                "{fields} fields, the header has {width}"
            ).format(fields=r.fields, width=width)
            problems.append(Problem(source.shown, r.start, "", "BAD_LINE_ENDINGS", message))
        elif r.fields > width:
            message = _("{fields} fields, the header has {width}").format(
                fields=r.fields, width=width
            )
            problems.append(Problem(source.shown, r.start, "", "BAD_ROW", message))
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
    if not checks:
        return pl.DataFrame(schema=problem_schema())
    flags = [f"__check{i}" for i in range(len(checks))]
    flagged = (  # lazy, so the checks' shared parts are computed once (CSE)
        frame.lazy()
        .with_columns(
            c.failed.fill_null(False).alias(flag) for flag, c in zip(flags, checks, strict=True)
        )
        .filter(pl.any_horizontal(flags))  # the rows with a problem: usually none
        .collect()
    )
    if flagged.height == 0:
        return pl.DataFrame(schema=problem_schema())
    parts = []
    for i, check in enumerate(checks):
        rows = flagged.filter(pl.col(f"__check{i}"))
        if rows.height:
            parts.append(
                problem_rows(rows, check.column, check.code, check.message, shown, check.severity)
            )
    if not parts:
        return pl.DataFrame(schema=problem_schema())
    return pl.concat(parts)


def _cell_checks(
    texts: list[str], known: set[str], long: set[str] | None = None, nul_free: bool = False
) -> list[_Check]:
    """Every cell: no NUL, no more than a spreadsheet cell holds; a known column's value also
    without control or invisible characters (a line break inside a name, a stray BOM) — save
    in the columns whose own shape check refuses any stray character anyway.

    ``long``: the columns holding a cell of more than :data:`MAX_CELL_CHARS` bytes, the only
    ones whose characters must be counted; None: flag by bytes (a pass that only needs to know
    whether to read again and say where). ``nul_free``: the file holds no NUL byte
    (:attr:`Source.nul_free`), so the other columns' cells are not searched for one."""
    checks = []
    for column in texts:
        cell = pl.col(column)
        if long is None or column in long:
            count = cell.str.len_bytes() if long is None else cell.str.len_chars()
            checks.append(
                _Check(
                    column,
                    "BAD_TEXT",
                    count > MAX_CELL_CHARS,
                    message_expr(
                        _("is {n} characters long; at most {most}, what a cell holds"),
                        n=cell.str.len_chars().cast(pl.String),
                        most=pl.lit(str(MAX_CELL_CHARS)),
                    ),
                )
            )
        if column in known and column not in SHAPED_COLUMNS:
            checks.append(
                _Check(
                    column,
                    "BAD_TEXT",
                    cell.str.contains(_INVISIBLE),
                    pl.lit(
                        _(
                            "holds a control or invisible character (a NUL, a line break, a "
                            "stray BOM)"
                        )
                    ),
                )
            )
        elif column not in known and not nul_free:
            checks.append(
                _Check(
                    column,
                    "BAD_TEXT",
                    cell.str.contains("\x00", literal=True),
                    pl.lit(_("holds a NUL byte")),
                )
            )
    return checks


def _col(columns: Collection[str], name: str) -> pl.Expr:
    """An optional column, or nulls where the file does not have it (``columns``: its own)."""
    return pl.col(name) if name in columns else pl.lit(None, dtype=pl.String)


def _quoted(column: str, expr: pl.Expr | None = None) -> pl.Expr:
    """A cell's value, quoted, for a message, masked by what its column holds (DESIGN §7)."""
    return shown_expr(pl.col(column) if expr is None else expr, HOLDS.get(column, "personal"))


def _amount_check(column: str, fen: pl.Expr | None = None) -> list[_Check]:
    """Yuan with at most two decimals (money.YUAN_PATTERN), and within the bound one amount may
    reach (DESIGN §3: money never wraps around), in either file. ``fen``: the column already
    parsed with :func:`yuan_to_fen`, if it is, so neither check parses it again: a cell is out
    of the pattern exactly where its fen are null (10 M enrollees: a search per row less)."""
    cell = pl.col(column)
    return [
        _Check(
            column,
            "BAD_AMOUNT",
            cell.is_not_null() & (~yuan_is_valid(cell) if fen is None else fen.is_null()),
            message_expr(
                _("{value} is not an amount in yuan with at most two decimals"),
                value=_quoted(column),
            ),
        ),
        _Check(
            column,
            "BAD_AMOUNT",
            (yuan_to_fen(cell) if fen is None else fen).abs() > MAX_AMOUNT_FEN,
            pl.lit(
                _("is beyond ±{most} yuan, the most one amount may be").format(
                    most=fen_to_yuan(MAX_AMOUNT_FEN)
                )
            ),
        ),
    ]


def excel_number(columns: Collection[str], column: str, unshaped: pl.Expr | None = None) -> pl.Expr:
    """True where Excel turned a number that must stay text (an ID, an account number) into a
    number: a number cell of a workbook, or text such as ``1.10101E+17`` in any file (a CSV
    that went through Excel). ``columns``: those of the file's :func:`text_plan`.
    ``unshaped``: true where the text is not in its column's shape, if known; such text alone
    is looked at (a shape of digits holds no ``.`` or ``E``)."""
    flag = f"__number_{column}"
    cell = pl.col(flag) if flag in columns else pl.lit(False)
    text = pl.col(column) if unshaped is None else pl.when(unshaped).then(pl.col(column))
    return cell | text.str.contains(EXCEL_NUMBER_TEXT).fill_null(False)


def excel_number_check(column: str, excel: pl.Expr) -> _Check:
    """EXCEL_NUMBER: the digits after the 15th (and any leading zero) are lost, so the value
    cannot be trusted or repaired; the fix is in the message (the value masked)."""
    template = (
        _("Excel stored this ID as a number and lost its last digits ({value}): {fix}")
        if HOLDS.get(column) == "id"
        else _(
            "Excel stored this account number as a number and lost its last digits ({value}): {fix}"
        )
    )
    return _Check(
        column,
        "EXCEL_NUMBER",
        excel,
        message_expr(template, value=_quoted(column), fix=pl.lit(_(EXCEL_NUMBER_FIX))),
    )


def _empty(column: str) -> _Check:
    return _Check(column, "EMPTY", pl.col(column).is_null(), pl.lit(_("is empty")))


def _parse_date(expr: pl.Expr) -> pl.Expr:
    # cache=False: looking a date up among those seen cost more than parsing it again, even in
    # a column of few dates (3 M enrollment dates of 6,300: 0.23 s, not 0.14)
    return pl.when(expr.str.contains(_DATE_RE)).then(
        expr.str.to_date("%Y-%m-%d", strict=False, cache=False)
    )


def _parse_month(expr: pl.Expr) -> pl.Expr:
    return pl.when(expr.str.contains(_MONTH_RE)).then(
        (expr + "-01").str.to_date("%Y-%m-%d", strict=False)
    )


def _date_check(column: str, parsed: str) -> _Check:
    return _Check(
        column,
        "BAD_DATE",
        pl.col(column).is_not_null() & pl.col(parsed).is_null(),
        message_expr(_("{value} is not a date YYYY-MM-DD"), value=_quoted(column)),
    )


def _coded(columns: Collection[str], column: str) -> pl.Expr:
    """A coded column through its value aliases (case-insensitive: looked up among their
    :func:`spellings`); unknown values stay."""
    raw = _col(columns, column)
    return raw.replace_strict(_SPELLINGS[column], default=raw, return_dtype=pl.String)


_SPELLINGS = {column: spellings(aliases) for column, aliases in VALUE_ALIASES.items()}


Checked = tuple[pl.DataFrame | None, pl.DataFrame]  # the typed frame (None: unusable), problems


def read_checked(
    source: Source,
    columns: tuple[Column, ...],
    check: Callable[[pl.DataFrame, str], tuple[pl.DataFrame, pl.DataFrame]],
    what: str,
) -> Checked:
    """A file read as a table, typed by ``check``, with every problem: structure, cells,
    ``check``'s own, and a file of no rows (``what`` it should have held)."""
    raw, problems = read_table(source, columns)
    if raw is None:
        return None, problems
    frame, found = check(raw, source.shown)
    return frame, pl.concat([problems, found, no_rows(raw, source.shown, what)])


def read_path(
    path: Path, encoding: str, read: Callable[[Source], Checked], workbook: bool = False
) -> tuple[pl.DataFrame | None, pl.DataFrame, str]:
    """``read`` of a file given by path: (frame, problems, the encoding it was in); an Excel
    workbook where ``workbook``."""
    try:
        with open_source(path, encoding, workbook) as source:
            return (*read(source), source.encoding)
    except SourceProblem as exc:
        return None, problems_frame([exc.problem]), encoding


def no_rows(frame: pl.DataFrame, shown: str, what: str) -> pl.DataFrame:
    """A file with a header and no rows is refused (DESIGN §3): an empty export is a failed
    export, not a month with nothing to do."""
    if frame.height:
        return pl.DataFrame(schema=problem_schema())
    return problems_frame(
        [
            Problem(
                shown,
                0,
                "",
                "NO_ROWS",
                _("the file has a header and no rows: no {what}").format(
                    what=translation(current_lang()).pgettext("no rows", what)
                ),
            )
        ]
    )


# the checking machinery, for the other readers of files (the bank's return files)
Check = _Check
collect_checks = _collect
physical_lines = _physical_lines
