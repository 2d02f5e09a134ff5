"""Reading and validating ``enrollees.csv`` and ``ledger.csv`` (DESIGN §3).

The one place input files are touched. Each file is decoded (UTF-8 with or without BOM, or
GB18030 by option or detection), its header mapped through the Chinese aliases, every cell checked
with polars expressions over whole columns, and every problem collected as a row of a problem
table with the *physical* line of the file, so an operator's editor can jump to it.

What comes out is typed and exact: dates as ``Date``, months as the ``Date`` of their first day,
money as integer fen (``Int64``), and the source line of every row in ``line``.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import polars as pl
import stdnum.cn.ric
from stdnum.exceptions import ValidationError

from mediins_cli.errors import PROBLEM_SCHEMA, BadInput, Problem, problems_frame
from mediins_cli.mask import mask_account_expr, mask_id_expr
from mediins_cli.money import yuan_is_valid, yuan_to_fen
from mediins_cli.resources import display_path


@dataclass(frozen=True)
class Column:
    name: str
    required: bool
    aliases: tuple[str, ...]
    meaning: str


ENROLLEE_COLUMNS = (
    Column(
        "enrollee_id",
        True,
        ("身份证号", "身份证号码", "公民身份号码", "证件号码", "证件号"),
        "document number; an 18-character resident ID unless id_type says otherwise",
    ),
    Column("id_type", False, ("证件类型",), "ric (default), hkmo, tw, passport, foreign"),
    Column("name", True, ("姓名",), "name"),
    Column("sex", False, ("性别",), "M/F (男/女); derived from a resident ID when empty"),
    Column("birth_date", False, ("出生日期",), "YYYY-MM-DD; derived from a resident ID when empty"),
    Column(
        "agency",
        True,
        ("代理机构", "社会保险代理处", "代办机构", "经办机构"),
        "code of the agency serving the enrollee",
    ),
    Column("status", True, ("参保状态",), "active, suspended, terminated (正常参保/暂停/终止)"),
    Column(
        "enrolled_on",
        True,
        ("参保日期", "参保办理日期", "办理日期"),
        "YYYY-MM-DD the (re-)enrollment was completed",
    ),
    Column(
        "paid_through",
        False,
        ("缴费至", "已缴至", "缴至年月"),
        "YYYY-MM of the last month fully paid; empty = never",
    ),
    Column(
        "waiting_until",
        False,
        ("等待期至", "等待期截止"),
        "YYYY-MM-DD last day of the current waiting period",
    ),
    Column(
        "monthly_premium", True, ("月缴费额", "应缴金额", "缴费金额"), "yuan, at most two decimals"
    ),
    Column(
        "account_no",
        True,
        ("账号", "帐号", "银行账号", "扣款账号", "卡号"),
        "bank account or card to debit (digits)",
    ),
    Column("bank", False, ("银行", "开户银行"), "bank code"),
)

LEDGER_COLUMNS = (
    Column(
        "account_no", True, ("账号", "帐号", "银行账号", "卡号"), "bank account or card (digits)"
    ),
    Column(
        "posted_at",
        True,
        ("交易时间", "记账时间", "入账时间"),
        "YYYY-MM-DD or YYYY-MM-DD HH:MM[:SS], local time",
    ),
    Column(
        "amount", True, ("金额", "交易金额"), "signed yuan: deposits +, withdrawals and debits -"
    ),
    Column("reference", False, ("参考号", "业务参考号", "流水号"), "reference of a mediins debit"),
)

ID_TYPES = ("ric", "hkmo", "tw", "passport", "foreign")
STATUSES = ("active", "suspended", "terminated")

#: Chinese (and case) spellings of coded values, mapped to the codes.
VALUE_ALIASES: dict[str, dict[str, str]] = {
    "sex": {"m": "M", "f": "F", "男": "M", "女": "F"},
    "status": {
        "active": "active",
        "正常": "active",
        "正常参保": "active",
        "参保": "active",
        "suspended": "suspended",
        "暂停": "suspended",
        "暂停参保": "suspended",
        "中止": "suspended",
        "暂停(中止)参保": "suspended",
        "暂停（中止）参保": "suspended",
        "terminated": "terminated",
        "终止": "terminated",
        "终止参保": "terminated",
    },
    "id_type": {
        "ric": "ric",
        "身份证": "ric",
        "居民身份证": "ric",
        "hkmo": "hkmo",
        "港澳居民来往内地通行证": "hkmo",
        "港澳通行证": "hkmo",
        "港澳居民居住证": "hkmo",
        "tw": "tw",
        "台湾居民来往大陆通行证": "tw",
        "台胞证": "tw",
        "台湾居民居住证": "tw",
        "passport": "passport",
        "护照": "passport",
        "外国护照": "passport",
        "foreign": "foreign",
        "外国人永久居留证": "foreign",
        "外国人永久居留身份证": "foreign",
    },
}

ENCODINGS = {
    "auto": "auto",
    "utf-8": "utf-8",
    "utf8": "utf-8",
    "utf-8-sig": "utf-8",
    "gb18030": "gb18030",
    "gbk": "gb18030",
    "gb2312": "gb18030",
    "cp936": "gb18030",
}

_DATE_RE = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
_MONTH_RE = r"^[0-9]{4}-(0[1-9]|1[0-2])$"
_CHUNK = 1 << 22


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


def read_enrollees(
    path: Path, encoding: str = "auto"
) -> tuple[pl.DataFrame | None, pl.DataFrame, str]:
    """The enrollee file, typed, with its problems (frame is None if unusable)."""
    raw, problems, used = _read_table(path, ENROLLEE_COLUMNS, encoding)
    if raw is None:
        return None, problems, used
    frame, found = _check_enrollees(raw, display_path(path))
    return frame, pl.concat([problems, found]), used


def read_ledger(
    path: Path, encoding: str = "auto"
) -> tuple[pl.DataFrame | None, pl.DataFrame, str]:
    """The ledger, typed, with its problems (frame is None if unusable)."""
    raw, problems, used = _read_table(path, LEDGER_COLUMNS, encoding)
    if raw is None:
        return None, problems, used
    frame, found = _check_ledger(raw, display_path(path))
    return frame, pl.concat([problems, found]), used


# --------------------------------------------------------------------------- decoding


@dataclass(frozen=True)
class _Decoded:
    path: Path
    encoding: str
    newlines: int
    ends_with_newline: bool


class _DecodeFailure(Exception):
    def __init__(self, line: int, byte: int) -> None:
        self.line, self.byte = line, byte


def _scan_utf8(path: Path) -> _Decoded:
    """Check the file is UTF-8 without writing anything; count its lines on the way."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    newlines, last = 0, b""
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as exc:
                at = exc.start - (len(exc.object) - len(chunk))  # object = pending bytes + chunk
                raise _DecodeFailure(
                    newlines + chunk.count(b"\n", 0, max(at, 0)) + 1, exc.object[exc.start]
                ) from None
            newlines += chunk.count(b"\n")
            last = chunk[-1:]
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError as exc:
            raise _DecodeFailure(newlines + 1, exc.object[exc.start]) from None
    return _Decoded(path, "utf-8", newlines, last == b"\n")


def _transcode_gb18030(path: Path, target: Path) -> _Decoded:
    """Stream a GB18030 file into a UTF-8 copy (LIBRARIES.md: scan_csv reads UTF-8 only)."""
    decoder = codecs.getincrementaldecoder("gb18030")()
    newlines, last = 0, b""
    with path.open("rb") as src, target.open("wb") as dst:
        while chunk := src.read(_CHUNK):
            try:
                text = decoder.decode(chunk)
            except UnicodeDecodeError as exc:
                at = exc.start - (len(exc.object) - len(chunk))  # object = pending bytes + chunk
                raise _DecodeFailure(
                    newlines + chunk.count(b"\n", 0, max(at, 0)) + 1, exc.object[exc.start]
                ) from None
            newlines += chunk.count(b"\n")
            last = chunk[-1:]
            dst.write(text.encode("utf-8"))
        try:
            dst.write(decoder.decode(b"", final=True).encode("utf-8"))
        except UnicodeDecodeError as exc:
            raise _DecodeFailure(newlines + 1, exc.object[exc.start]) from None
    return _Decoded(target, "gb18030", newlines, last == b"\n")


@contextlib.contextmanager
def _utf8_source(path: Path, encoding: str) -> Iterator[_Decoded]:
    """The file as UTF-8 (itself, or a temporary transcoded copy removed afterwards)."""
    tmp: Path | None = None
    try:
        if encoding == "utf-8":
            yield _scan_utf8(path)
            return
        if encoding == "auto":
            try:
                yield _scan_utf8(path)
                return
            except _DecodeFailure as utf8_failure:
                failure = utf8_failure
        fd, name = tempfile.mkstemp(prefix="mediins-", suffix=".csv")
        os.close(fd)
        tmp = Path(name)
        try:
            decoded = _transcode_gb18030(path, tmp)
        except _DecodeFailure as gb18030_failure:
            if encoding == "auto":  # report where the encoding that got further broke
                raise max(failure, gb18030_failure, key=lambda f: f.line) from None
            raise
        yield decoded
    finally:
        if tmp is not None:
            tmp.unlink(missing_ok=True)


# --------------------------------------------------------------------------- table reading


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


def _id_check_digit(ident: pl.Expr) -> pl.Expr:
    """GB 11643 check digit of an 18-character resident ID, over whole columns.

    The arithmetic of ``stdnum.cn.ric.calc_check_digit``: the 17 digits read in base 13 (13 ≡ 2
    mod 11, so this weighs digit i by 2^(17-i)), then (1 - 2·that) mod 11, written as
    (23 - 2·that) so it never goes negative. Seventeen base-13 digits fit in an Int64. Tests
    compare the two on generated numbers.
    """
    weighted = ident.str.slice(0, 17).str.to_integer(base=13, strict=False) % 11
    check = (23 - 2 * weighted) % 11
    return pl.when(check == 10).then(pl.lit("X")).otherwise(check.cast(pl.String))


def _check_enrollees(raw: pl.DataFrame, shown: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    f = raw.with_columns(
        pl.col("enrollee_id").str.to_uppercase(),
        _coded(raw, "id_type").fill_null("ric").alias("id_type"),
        _coded(raw, "sex").alias("__sex"),
        _coded(raw, "status").alias("status"),
        _parse_date(_col(raw, "birth_date")).alias("__birth"),
        _parse_date(pl.col("enrolled_on")).alias("__enrolled"),
        _parse_month(_col(raw, "paid_through")).alias("__paid"),
        _parse_date(_col(raw, "waiting_until")).alias("__waiting"),
        yuan_to_fen(pl.col("monthly_premium")).alias("premium_fen"),
    )
    ident = pl.col("enrollee_id")
    is_ric = pl.col("id_type") == "ric"
    shape_ok = ident.str.contains(r"^[0-9]{17}[0-9X]$")
    f = f.with_columns(
        pl.when(is_ric & shape_ok).then(_id_check_digit(ident)).alias("__check_digit"),
        pl.when(is_ric & shape_ok)
        .then(ident.str.slice(6, 8).str.to_date("%Y%m%d", strict=False))
        .alias("__id_birth"),
        pl.when(is_ric & shape_ok)
        .then(
            pl.when(ident.str.slice(16, 1).cast(pl.Int64, strict=False) % 2 == 1)
            .then(pl.lit("M"))
            .otherwise(pl.lit("F"))
        )
        .alias("__id_sex"),
        pl.col("line").first().over("enrollee_id").alias("__first_line"),
    )
    ric_ok = is_ric & shape_ok & (pl.col("__check_digit") == ident.str.slice(17, 1))
    masked = mask_id_expr(ident)
    checks = [
        _empty("enrollee_id"),
        _Check(
            "id_type",
            "BAD_VALUE",
            ~pl.col("id_type").is_in(ID_TYPES),
            pl.concat_str(
                _quoted(pl.col("id_type")), pl.lit(f" is not one of {', '.join(ID_TYPES)}")
            ),
        ),
        _Check(
            "enrollee_id",
            "BAD_ID",
            is_ric & ident.is_not_null() & ~shape_ok,
            pl.concat_str(
                pl.lit("a resident ID is 17 digits and a digit or X; got "),
                ident.str.len_chars().cast(pl.String),
                pl.lit(" characters ("),
                masked,
                pl.lit(")"),
            ),
        ),
        _Check(
            "enrollee_id",
            "BAD_ID_CHECKSUM",
            is_ric & shape_ok & (pl.col("__check_digit") != ident.str.slice(17, 1)),
            pl.concat_str(
                pl.lit("check digit is "),
                ident.str.slice(17, 1),
                pl.lit(", expected "),
                pl.col("__check_digit"),
                pl.lit(" ("),
                masked,
                pl.lit(")"),
            ),
        ),
        _Check(
            "enrollee_id",
            "BAD_ID_DATE",
            ric_ok & pl.col("__id_birth").is_null(),
            pl.concat_str(pl.lit("the birth date in the ID is not a date ("), masked, pl.lit(")")),
        ),
        _Check(
            "enrollee_id",
            "BAD_ID",
            ~is_ric & ident.is_not_null() & ~ident.str.contains(r"^[A-Z0-9()-]{5,24}$"),
            pl.concat_str(
                pl.lit("a document number is 5–24 letters or digits ("), masked, pl.lit(")")
            ),
        ),
        _Check(
            "enrollee_id",
            "DUPLICATE_ENROLLEE",
            ident.is_not_null() & (pl.col("line") != pl.col("__first_line")),
            pl.concat_str(
                pl.lit("duplicate enrollee ("),
                masked,
                pl.lit("), first on line "),
                pl.col("__first_line").cast(pl.String),
            ),
        ),
        _empty("name"),
        _Check(
            "sex",
            "BAD_VALUE",
            pl.col("__sex").is_not_null() & ~pl.col("__sex").is_in(["M", "F"]),
            pl.concat_str(_quoted(_col(raw, "sex")), pl.lit(" is not M or F (男/女)")),
        ),
        _Check(
            "sex",
            "ID_MISMATCH",
            ric_ok & pl.col("__sex").is_in(["M", "F"]) & (pl.col("__sex") != pl.col("__id_sex")),
            pl.concat_str(
                pl.lit("is "), pl.col("__sex"), pl.lit(" but the ID says "), pl.col("__id_sex")
            ),
        ),
        _date_check("birth_date", "__birth") if "birth_date" in raw.columns else None,
        _Check(
            "birth_date",
            "ID_MISMATCH",
            ric_ok
            & pl.col("__birth").is_not_null()
            & pl.col("__id_birth").is_not_null()
            & (pl.col("__birth") != pl.col("__id_birth")),
            # The ID's own birth date is not shown: with the masked ID it would give it away.
            pl.concat_str(
                pl.lit("is "),
                pl.col("__birth").cast(pl.String),
                pl.lit(", which is not the birth date in the ID"),
            ),
        ),
        _empty("agency"),
        _empty("status"),
        _Check(
            "status",
            "BAD_VALUE",
            pl.col("status").is_not_null() & ~pl.col("status").is_in(STATUSES),
            pl.concat_str(
                _quoted(pl.col("status")),
                pl.lit(" is not one of active, suspended, terminated (正常参保, 暂停, 终止)"),
            ),
        ),
        _empty("enrolled_on"),
        _date_check("enrolled_on", "__enrolled"),
        _Check(
            "paid_through",
            "BAD_MONTH",
            _col(raw, "paid_through").is_not_null() & pl.col("__paid").is_null(),
            pl.concat_str(_quoted(_col(raw, "paid_through")), pl.lit(" is not a month YYYY-MM")),
        ),
        _date_check("waiting_until", "__waiting") if "waiting_until" in raw.columns else None,
        _empty("monthly_premium"),
        _amount_check("monthly_premium"),
        _Check(
            "monthly_premium",
            "BAD_AMOUNT",
            pl.col("premium_fen") <= 0,
            pl.concat_str(_quoted(pl.col("monthly_premium")), pl.lit(" must be more than 0")),
        ),
        *_account_checks(),
    ]
    problems = _collect(f, [c for c in checks if c is not None], shown)
    problems = pl.concat([problems, _area_warnings(f.filter(ric_ok), shown)])
    typed = f.with_columns(
        pl.coalesce(pl.col("__sex"), pl.col("__id_sex")).alias("sex"),
        pl.coalesce(pl.col("__birth"), pl.col("__id_birth")).alias("birth_date"),
        pl.col("__enrolled").alias("enrolled_on"),
        pl.col("__paid").alias("paid_through"),
        pl.col("__waiting").alias("waiting_until"),
    ).drop(c for c in f.columns if c.startswith("__") or c == "monthly_premium")
    order = [c.name for c in ENROLLEE_COLUMNS if c.name != "monthly_premium"] + ["premium_fen"]
    typed = typed.select(
        [c for c in order if c in typed.columns]
        + [c for c in typed.columns if c not in order and c != "line"]
        + ["line"]
    )
    return typed, problems


def _area_warnings(valid: pl.DataFrame, shown: str) -> pl.DataFrame:
    """An area code python-stdnum does not know for the birth year is a warning at most: codes
    change and old numbers stay valid (LIBRARIES.md). Checked once per (area, year) pair."""
    if valid.height == 0:
        return pl.DataFrame(schema=PROBLEM_SCHEMA)
    pairs = valid.select(pl.col("enrollee_id").str.slice(0, 10).alias("__area_year")).unique()
    unknown = []
    for prefix in pairs["__area_year"].to_list():
        probe = prefix + "0101001"
        probe += stdnum.cn.ric.calc_check_digit(probe + "0")
        try:
            stdnum.cn.ric.get_birth_place(probe)
        except ValidationError:
            unknown.append(prefix)
    if not unknown:
        return pl.DataFrame(schema=PROBLEM_SCHEMA)
    check = _Check(
        "enrollee_id",
        "UNKNOWN_AREA",
        pl.col("enrollee_id").str.slice(0, 10).is_in(unknown),
        pl.concat_str(
            pl.lit("area code "),
            pl.col("enrollee_id").str.slice(0, 6),
            pl.lit(
                " is not in python-stdnum's table for the birth year in the ID "
                "(accepted: old codes stay valid)"
            ),
        ),
        severity="warning",
    )
    return _collect(valid, [check], shown)


_POSTED_AT_FORMATS = (
    (r"^[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}$", "%Y-%m-%d %H:%M:%S"),
    (r"^[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}$", "%Y-%m-%d %H:%M"),
)


def _ledger_parsed(columns: list[str]) -> list[pl.Expr]:
    """Typed ledger columns from the text ones: ``__posted``, ``amount_fen``, ``reference``."""
    text = pl.col("posted_at")
    (long_re, long_fmt), (short_re, short_fmt) = _POSTED_AT_FORMATS
    posted = (
        pl.when(text.str.contains(_DATE_RE))
        .then(text.str.to_date("%Y-%m-%d", strict=False).cast(pl.Datetime("us")))
        .when(text.str.contains(long_re))
        .then(text.str.to_datetime(long_fmt, strict=False, time_unit="us"))
        .when(text.str.contains(short_re))
        .then(text.str.to_datetime(short_fmt, strict=False, time_unit="us"))
    )
    reference = pl.col("reference") if "reference" in columns else pl.lit(None, dtype=pl.String)
    return [
        posted.alias("__posted"),
        yuan_to_fen(pl.col("amount")).alias("amount_fen"),
        reference.alias("reference"),
    ]


def _account_checks() -> list[_Check]:
    """An account number, in either file: present and 6–32 digits."""
    return [
        _empty("account_no"),
        _Check(
            "account_no",
            "BAD_ACCOUNT",
            pl.col("account_no").is_not_null()
            & ~pl.col("account_no").str.contains(r"^[0-9]{6,32}$"),
            pl.concat_str(
                pl.lit("an account number is 6–32 digits ("),
                mask_account_expr(pl.col("account_no")),
                pl.lit(")"),
            ),
        ),
    ]


def _ledger_row_checks() -> list[_Check]:
    """Checks of one ledger row by itself (repeated references are checked across rows)."""
    return [
        *_account_checks(),
        _empty("posted_at"),
        _Check(
            "posted_at",
            "BAD_DATE",
            pl.col("posted_at").is_not_null() & pl.col("__posted").is_null(),
            pl.concat_str(
                _quoted(pl.col("posted_at")), pl.lit(" is not YYYY-MM-DD or YYYY-MM-DD HH:MM[:SS]")
            ),
        ),
        _empty("amount"),
        _amount_check("amount"),
    ]


def _check_ledger(raw: pl.DataFrame, shown: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    f = raw.with_columns(_ledger_parsed(raw.columns)).with_columns(
        pl.when(pl.col("reference").is_not_null())
        .then(pl.col("line").first().over("reference"))
        .alias("__first_line"),
    )
    duplicate = _Check(
        "reference",
        "DUPLICATE_REFERENCE",
        pl.col("line") != pl.col("__first_line"),
        pl.concat_str(
            _quoted(pl.col("reference")),
            pl.lit(" already on line "),
            pl.col("__first_line").cast(pl.String),
        ),
    )
    problems = _collect(f, [*_ledger_row_checks(), duplicate], shown)
    typed = f.select(
        "account_no",
        pl.col("__posted").alias("posted_at"),
        "amount_fen",
        "reference",
        *[
            c
            for c in f.columns
            if c not in {"account_no", "posted_at", "amount", "amount_fen", "reference", "line"}
            and not c.startswith("__")
        ],
        "line",
    )
    return typed, problems


# --------------------------------------------------------------------------- lazy ledger


def ledger_balances_at(
    path: Path,
    cutoff: datetime,
    references: pl.DataFrame | None = None,
    encoding: str = "auto",
) -> pl.DataFrame:
    """The ledger checked and reduced to one balance per account at ``cutoff`` in one lazy,
    streaming pass (DESIGN §3, §10): a ledger larger than memory works. Only when that pass
    finds a problem is the file read again, eagerly, to list every problem with its line;
    then :class:`BadInput` is raised. ``references``: see :func:`rounds.ledger_balances`."""
    from mediins_cli.rounds import ledger_balances

    shown = display_path(path)
    enc = ENCODINGS.get(encoding.lower())
    if enc is None or not path.is_file():
        _, problems, _ = read_ledger(path, encoding)
        raise BadInput(problems)
    try:
        with _utf8_source(path, enc) as decoded:
            header = _read_header(decoded.path)
            names, header_problems = _map_header(header or [], LEDGER_COLUMNS, shown)
            if header is None or header_problems:
                raise _NeedsFullRead
            text = pl.scan_csv(decoded.path, has_header=True, new_columns=names, infer_schema=False)
            text = text.with_columns(
                pl.col(c).str.strip_chars().replace("", None)
                for c in ("account_no", "posted_at", "amount", "reference")
                if c in names
            ).filter(~pl.all_horizontal(pl.col(c).is_null() for c in names))
            checks = _ledger_row_checks()
            typed = text.with_columns(_ledger_parsed(names)).select(
                "account_no",
                pl.col("__posted").alias("posted_at"),
                "amount_fen",
                "reference",
                pl.any_horizontal(c.failed.fill_null(False) for c in checks).alias("__bad"),
            )
            bad, repeated, balances = pl.collect_all(
                [
                    typed.select(pl.col("__bad").sum()),
                    # a repeated reference, if any: one row, however long the ledger's history
                    typed.filter(pl.col("reference").is_not_null())
                    .group_by("reference")
                    .len()
                    .filter(pl.col("len") > 1)
                    .head(1),
                    ledger_balances(typed, cutoff, references),
                ],
                engine="streaming",
            )
    except (_DecodeFailure, _NeedsFullRead, pl.exceptions.ComputeError):
        bad = None
    if bad is None or bad.item() or repeated.height:
        _, problems, _ = read_ledger(path, encoding)
        raise BadInput(problems)
    return balances


class _NeedsFullRead(Exception):
    """The lazy pass cannot go on; the eager reader will say why, with lines."""
