"""The bank's return files (回盘), read and checked against the round's instructions (DESIGN §11).

Every return file is opened as an input is (hashed from the bytes that are parsed, decoded,
line by physical line), read in the bank's format, and checked: every cell well-formed, every
result value one the format knows, and every instruction answered exactly once with its own
account and amount. Any problem is bad input — ``file:line: column: problem``, nothing written —
and no cell reaches a message unmasked.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import date

import polars as pl

from mediins_cli.bank.formats import BankFormat
from mediins_cli.bank.instructions import FILE, by_reference
from mediins_cli.errors import BadInput, Problem, message_expr, problem_rows, problems_frame
from mediins_cli.i18n import _
from mediins_cli.inputs.source import Source
from mediins_cli.inputs.table import (
    Check,
    collect_checks,
    physical_lines,
    strip_cells,
    structure_problems,
)
from mediins_cli.mask import shown_expr
from mediins_cli.money import MAX_AMOUNT_FEN, fen_to_yuan_expr, yuan_is_valid, yuan_to_fen

#: how a reference of any month and round is spelled (instructions.reference_prefix)
_ANY_REFERENCE = r"^MI-([0-9]{4})([0-9]{2})-R([0-9])-[0-9]{8}$"
_FEN = r"^[0-9]{1,15}$"
_DATE = r"^(19|2[0-9])[0-9]{2}-?[0-9]{2}-?[0-9]{2}$"
#: missing answers named in the message, at most
_FIRST_FEW = 5
_HOLDS = {
    "reference": "label",
    "account_no": "account",
    "amount": "amount",
    "result": "agency",  # a code, or a short Chinese text such as 余额不足
    "message": "personal",
    "settled_on": "date",
}


@dataclass(frozen=True)
class Returns:
    """What the bank answered: one row per instruction (``reference``, ``result`` the mediins
    code, ``settled_on`` a Date or null, and where it was: ``return_file``, an Enum of the
    files' names, and ``return_line``), and each file's SHA-256 by the name it was given.
    (The bank's message is read, not kept: nothing is made of it.)"""

    answers: pl.DataFrame
    sha256: dict[str, str]


def read_returns(
    sources: list[Source],
    fmt: BankFormat,
    instructed: pl.DataFrame,
    prefix: str,
    what: str,
    effective: date | None = None,
) -> Returns:
    """Read and check the open return files against ``instructed`` (``reference``,
    ``account_no``, ``amount_fen``, ``__file``: the round's instructions). ``prefix``: the
    references of this month and round; ``what``: "round 1 of 2024-02", for messages;
    ``effective``: the round's effective date, before which no debit can have settled.
    :class:`BadInput` with every problem of every file if any."""
    frames, problems, seen = [], [], set()
    # each answer's file as an Enum of the files' names: a byte a row, not the name's text
    # (a tenth of the answers' memory was the name of their file, repeated)
    files = pl.Enum(list(dict.fromkeys(s.shown for s in sources)))
    for source in sources:
        if source.sha256 in seen:
            problems.append(
                problems_frame(
                    [
                        Problem(
                            source.shown, 0, "", "REPEATED_FILE", _("the same file is given twice")
                        )
                    ]
                )
            )
            continue
        seen.add(source.sha256)
        frame, found = _read_one(source, fmt, files)
        problems.append(found)
        if frame is not None:
            frames.append(frame)
    found = pl.concat(problems) if problems else problems_frame([])
    if frames:
        answers = pl.concat(frames)
        # a file that could not be read at all answers nothing: its answers are not "missing"
        whole = len(frames) == len(seen)
        found = pl.concat([found, _match(answers, instructed, prefix, what, whole)])
        if effective is not None:
            found = pl.concat([found, _early(answers, effective)])
    if found.height or not frames:
        if not found.height:
            found = problems_frame([Problem("", 0, "", "NO_RETURNS", _("no return file given"))])
        raise BadInput(found)
    return Returns(
        answers.select(
            "reference",
            "result",
            "settled_on",
            pl.col("file").alias("return_file"),
            pl.col("line").alias("return_line"),
        ),
        {s.shown: s.sha256 for s in sources},
    )


def _read_one(
    source: Source, fmt: BankFormat, files: pl.Enum
) -> tuple[pl.DataFrame | None, pl.DataFrame]:
    """One return file as text cells in the format's columns, typed and checked cell by cell;
    ``file`` its name, of ``files``."""
    shown = source.shown
    if source.encoding not in ("utf-8", "gb18030"):
        return None, problems_frame(
            [
                Problem(
                    shown,
                    0,
                    "",
                    "BAD_RETURN_FILE",
                    _("not a text file of {encoding} lines").format(encoding=fmt.encoding),
                )
            ]
        )
    if source.encoding != fmt.encoding and not _ascii(source):
        # an ASCII-only file is both; a file with other text decodes one way only
        return None, problems_frame(
            [
                Problem(
                    shown,
                    0,
                    "",
                    "BAD_ENCODING",
                    _(
                        "the file is {encoding}, but bank format {format} is {expected}: is it "
                        "another bank's file, or was it re-saved?"
                    ).format(encoding=source.encoding, format=fmt.id, expected=fmt.encoding),
                )
            ]
        )
    raw, problems = _cells(source, fmt)
    if raw is None:
        return None, problems_frame(problems)
    source.check()
    checked = _typed(raw, fmt, shown, files)
    found = pl.concat([problems_frame(problems), checked[1]])
    return checked[0], found


def _ascii(source: Source) -> bool:
    """True for a file of ASCII text only: the same text in UTF-8 and in GB18030 (a bank's
    return file of codes and digits, with no Chinese message, is one)."""
    with open(source.readable, "rb") as fh:
        while chunk := fh.read(1 << 20):
            if not chunk.isascii():
                return False
    return True


def _cells(source: Source, fmt: BankFormat) -> tuple[pl.DataFrame | None, list[Problem]]:
    """(text cells named by the format's columns, ``line``) or the file's structural problems."""
    shown = source.shown
    if fmt.quoted:
        return _quoted_cells(source, fmt)
    lines = pl.read_csv(
        source.readable,
        has_header=False,
        separator="\x00",
        quote_char=None,
        infer_schema=False,
        new_columns=["raw"],
        raise_if_empty=False,
    )
    if lines.width != 1:  # a NUL in the file: no bank file has one
        return None, [Problem(shown, 0, "", "BAD_TEXT", _("holds a NUL byte"))]
    lines = lines.with_columns(pl.int_range(1, pl.len() + 1, dtype=pl.Int64).alias("line"))
    expected = source.newlines + (0 if source.ends_with_newline else 1)
    if lines.height != expected and source.newlines:
        return None, [Problem(shown, 0, "", "BAD_RETURN_FILE", _("its lines cannot be told apart"))]
    names = [c if c != "ignore" else f"__ignore{i}" for i, c in enumerate(fmt.returns)]
    lines = lines.with_columns(pl.col("raw").str.strip_chars_start("\ufeff"))
    if fmt.header:
        header = lines.head(1)["raw"].to_list()
        mapped, problems = _header(header[0] if header else None, fmt, shown)
        if mapped is None:
            return None, problems
        names = mapped
        lines = lines.slice(1)
    lines = lines.filter(pl.col("raw").str.strip_chars() != "")
    fields = pl.col("raw").str.split(fmt.delimiter)
    counted = lines.with_columns(fields.list.len().alias("__n"))
    wrong = counted.filter(pl.col("__n") != len(names))
    if wrong.height:
        return None, [
            Problem(
                shown,
                int(r["line"]),
                "",
                "BAD_ROW",
                _(
                    "{n} fields separated by {delimiter}; bank format {format} has {expected}"
                ).format(
                    n=r["__n"], delimiter=repr(fmt.delimiter), format=fmt.id, expected=len(names)
                ),
            )
            for r in wrong.head(1000).iter_rows(named=True)
        ]
    cells = strip_cells(
        counted.lazy().select(*(fields.list.get(i).alias(n) for i, n in enumerate(names)), "line"),
        names,
    ).collect()
    return cells.drop([c for c in cells.columns if c.startswith("__ignore")]), []


def _quoted_cells(source: Source, fmt: BankFormat) -> tuple[pl.DataFrame | None, list[Problem]]:
    """A comma-delimited return file, quoted as CSV quotes."""
    shown = source.shown
    names = [c if c != "ignore" else f"__ignore{i}" for i, c in enumerate(fmt.returns)]
    if fmt.header:
        with source.text() as fh:
            first = fh.readline().rstrip("\r\n")
        mapped, problems = _header(first or None, fmt, shown)
        if mapped is None:
            return None, problems
        names = mapped
    try:
        frame = pl.read_csv(
            source.readable,
            has_header=fmt.header,
            new_columns=names,
            infer_schema=False,
            raise_if_empty=False,
        )
    except pl.exceptions.PolarsError:  # its message quotes raw rows: never shown
        found = structure_problems(source, len(names)) if fmt.header else []
        return None, found or [
            Problem(shown, 0, "", "BAD_RETURN_FILE", _("not a CSV file polars can read"))
        ]
    if fmt.header:
        lines, _counted = physical_lines(source, frame.height)
    else:
        lines = pl.int_range(1, frame.height + 1, dtype=pl.Int64).alias("line")
    frame = strip_cells(frame.with_columns(lines).lazy(), names).collect()
    blank = pl.all_horizontal(pl.col(n).is_null() for n in names)
    frame = frame.filter(~blank)
    return frame.drop([c for c in frame.columns if c.startswith("__ignore")]), []


def _header(
    text: str | None, fmt: BankFormat, shown: str
) -> tuple[list[str] | None, list[Problem]]:
    """Names for a header row: the format's return columns matched by name (any order, any
    case); others are kept aside as ``__ignore…``. Problems on line 1."""
    if text is None:
        return None, [
            Problem(shown, 1, "", "EMPTY_FILE", _("the file is empty: expected a header"))
        ]
    try:
        cells = next(csv.reader([text], delimiter=fmt.delimiter, strict=True))
    except csv.Error:
        return None, [
            Problem(shown, 1, "", "BAD_QUOTE", _("the header row has an unbalanced quote"))
        ]
    wanted = {c for c in fmt.returns if c != "ignore"}
    names, seen, problems = [], set(), []
    for position, cell in enumerate(cells, start=1):
        name = cell.strip().lstrip("\ufeff").lower()
        if name in wanted and name not in seen:
            names.append(name)
            seen.add(name)
        else:
            names.append(f"__ignore{position}")
    for missing in sorted(wanted - seen):
        problems.append(
            Problem(
                shown,
                1,
                missing,
                "MISSING_COLUMN",
                _("bank format {format} needs this column").format(format=fmt.id),
            )
        )
    return (None, problems) if problems else (names, [])


def _shown(column: str) -> pl.Expr:
    return shown_expr(pl.col(column), _HOLDS[column])


def _typed(
    frame: pl.DataFrame, fmt: BankFormat, shown: str, files: pl.Enum
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Amounts as fen, results as codes, dates as dates; every bad cell a problem."""
    has = set(frame.columns)
    text = pl.col
    if fmt.amount_unit == "yuan":
        fen = yuan_to_fen(text("amount"))
        well_formed = yuan_is_valid(text("amount"))
        not_unit = _("{value} is not an amount in yuan with at most two decimals")
    else:
        fen = pl.when(text("amount").str.contains(_FEN)).then(text("amount").cast(pl.Int64))
        well_formed = text("amount").str.contains(_FEN)
        not_unit = _("{value} is not an amount in fen (whole digits)")
    results = pl.DataFrame(
        {"result": list(fmt.results), "__code": list(fmt.results.values())},
        schema={"result": pl.String, "__code": pl.String},
    )
    settled = (
        pl.when(text("settled_on").str.contains(_DATE)).then(
            text("settled_on").str.replace_all("-", "").str.to_date("%Y%m%d", strict=False)
        )
        if "settled_on" in has
        else pl.lit(None, dtype=pl.Date)
    )
    typed = (
        frame.with_columns(
            fen.alias("amount_fen"),
            settled.alias("__settled"),
        )
        .join(results, on="result", how="left")
        .with_columns(pl.lit(shown).cast(files).alias("file"))
    )
    checks = [
        Check("reference", "EMPTY", text("reference").is_null(), pl.lit(_("is empty"))),
        Check("account_no", "EMPTY", text("account_no").is_null(), pl.lit(_("is empty"))),
        Check("amount", "EMPTY", text("amount").is_null(), pl.lit(_("is empty"))),
        Check(
            "amount",
            "BAD_AMOUNT",
            text("amount").is_not_null() & ~well_formed,
            message_expr(not_unit, value=_shown("amount")),
        ),
        Check(
            "amount",
            "BAD_AMOUNT",
            pl.col("amount_fen").abs() > MAX_AMOUNT_FEN,
            pl.lit(_("is beyond the bound one amount may be")),
        ),
        Check("result", "EMPTY", text("result").is_null(), pl.lit(_("is empty"))),
        Check(
            "result",
            "UNKNOWN_RESULT",
            text("result").is_not_null() & pl.col("__code").is_null(),
            message_expr(
                _("{value} is not a result value of bank format {format} ({path} [results])"),
                value=_shown("result"),
                format=pl.lit(fmt.id),
                path=pl.lit(fmt.path),
            ),
        ),
    ]
    if "settled_on" in has:
        checks += [
            Check(
                "settled_on",
                "BAD_DATE",
                text("settled_on").is_not_null() & pl.col("__settled").is_null(),
                message_expr(
                    _("{value} is not a date YYYY-MM-DD or YYYYMMDD"), value=_shown("settled_on")
                ),
            ),
            Check(
                "settled_on",
                "EMPTY",
                text("settled_on").is_null() & (pl.col("__code") == "OK"),
                pl.lit(_("is empty on a debit the bank reports as done")),
            ),
        ]
    problems = collect_checks(typed, checks, shown)
    return (
        typed.select(
            "reference",
            "account_no",
            "amount_fen",
            pl.col("__code").alias("result"),
            pl.col("__settled").alias("settled_on"),
            "file",
            "line",
        ),
        problems,
    )


def _early(answers: pl.DataFrame, effective: date) -> pl.DataFrame:
    """A debit the bank says it settled before the round's effective date: the instructions
    were for that day, so the file is another round's, or its dates are wrong."""
    return problem_rows(
        answers.filter(pl.col("settled_on") < effective),
        "settled_on",
        "BAD_DATE",
        message_expr(
            _("{value} is before the round's effective date {effective}"),
            value=pl.col("settled_on").dt.to_string("%Y-%m-%d"),
            effective=pl.lit(effective.isoformat()),
        ),
    )


def _match(
    answers: pl.DataFrame, instructed: pl.DataFrame, prefix: str, what: str, whole: bool = True
) -> pl.DataFrame:
    """Every instruction answered exactly once, with its own account and amount (``whole``:
    every return file was read, so an instruction no file answers is missing)."""
    problems: list[pl.DataFrame] = []
    answers = answers.filter(pl.col("reference").is_not_null())

    def rows(frame: pl.DataFrame, column: str, code: str, message: pl.Expr) -> None:
        if frame.height:
            problems.append(problem_rows(frame, column, code, message))

    # a file of another month or round: said once per file, not once per row (the pattern is
    # tried only on the rows that do not start as this round's references: usually none)
    ours = pl.col("reference").str.starts_with(prefix)
    if not answers.select(ours.all()).item():
        parts = pl.col("reference").str.extract_groups(_ANY_REFERENCE)
        others = answers.filter(~ours)
        alien = pl.col("reference").str.contains(_ANY_REFERENCE)
        foreign = others.filter(alien).with_columns(parts.alias("__p"))
        for file, group in foreign.group_by("file", maintain_order=True):
            first = group.row(0, named=True)["__p"]
            other = _("round {round} of {month}").format(
                round=first["3"], month=f"{first['1']}-{first['2']}"
            )
            problems.append(
                problems_frame(
                    [
                        Problem(
                            str(file[0]),
                            int(group["line"][0]),
                            "reference",
                            "OTHER_ROUND",
                            _(
                                "this file answers {other}, not {what} ({n} such rows, "
                                "references {prefix}-…)"
                            ).format(
                                other=other,
                                what=what,
                                n=group.height,
                                prefix=group["reference"][0].rsplit("-", 1)[0],
                            ),
                        )
                    ]
                )
            )
        answers = answers.filter(ours | ~alien)
    # repeated: every answer after the first of its reference (files in the order given)
    first = pl.col("reference").is_first_distinct()
    once = answers.filter(first)
    if once.height != answers.height:
        ordered = answers.with_row_index("__at")
        where = ordered.filter(first).select(
            "reference",
            pl.concat_str(pl.col("file"), pl.lit(":"), pl.col("line").cast(pl.String)).alias(
                "__where"
            ),
        )
        repeated = ordered.filter(~first).join(where, on="reference", how="left")
        rows(
            repeated,
            "reference",
            "REPEATED_REFERENCE",
            message_expr(
                _("{value} is answered already at {where}"),
                value=_shown("reference"),
                where=pl.col("__where"),
            ),
        )
    # the instruction each answer names (null where none), in the answers' order: a join of
    # the references' integer keys alone, not of the answers' rows by the text, which copied
    # them and held a large table. The answers' columns are compared with it as series and
    # only the rows found wrong are taken (usually none): a frame of the answers' columns
    # with these beside them would be copied whole at its first filter (its columns would
    # not be in pieces of one length).
    named = by_reference(
        once, instructed, prefix, {"account_no": "__account", "amount_fen": "__amount"}
    )
    account, amount = named["__account"], named["__amount"]

    def wrong(flags: pl.Series) -> pl.DataFrame:
        """The answers flagged, with what was instructed beside them."""
        return once.filter(flags).hstack([account.filter(flags), amount.filter(flags)])

    unknown = account.is_null()  # not an instruction of the round
    rows(
        wrong(unknown),
        "reference",
        "UNKNOWN_REFERENCE",
        message_expr(
            _("{value} is not an instruction of {what}"),
            value=_shown("reference"),
            what=pl.lit(what),
        ),
    )
    rows(
        wrong((once["account_no"] != account).fill_null(False)),
        "account_no",
        "CHANGED_ACCOUNT",
        message_expr(
            _("{value} is not the account instructed ({instructed})"),
            value=_shown("account_no"),
            instructed=shown_expr(pl.col("__account"), "account"),
        ),
    )
    rows(
        wrong((once["amount_fen"] != amount).fill_null(False)),
        "amount",
        "CHANGED_AMOUNT",
        message_expr(
            _("{value} yuan is not the amount instructed ({instructed} yuan)"),
            value=fen_to_yuan_expr(pl.col("amount_fen")),
            instructed=fen_to_yuan_expr(pl.col("__amount")),
        ),
    )
    answered = once.height - unknown.sum()  # each reference once: answered, or not
    missing = (
        instructed.join(once.select("reference"), on="reference", how="anti").sort("reference")
        if whole and answered < instructed.height
        else instructed.clear()
    )
    if missing.height:
        by_file = missing.group_by(FILE).agg(pl.len()).sort(FILE)
        files = ", ".join(f"{r[FILE]}: {r['len']}" for r in by_file.iter_rows(named=True))
        few = ", ".join(missing["reference"].head(_FIRST_FEW).to_list())
        more = ", …" if missing.height > _FIRST_FEW else ""
        problems.append(
            problems_frame(
                [
                    Problem(
                        "",
                        0,
                        "reference",
                        "MISSING_ANSWER",
                        _(
                            "{n} instructions of {what} have no answer in the return files (by "
                            "instruction file: {files}); first: {few}{more}. Is a return file "
                            "missing?"
                        ).format(n=missing.height, what=what, files=files, few=few, more=more),
                    )
                ]
            )
        )
    if not problems:
        return problems_frame([])
    return pl.concat(problems)
