"""Checks of ``enrollees.csv``."""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path

import polars as pl

from mediins_cli.errors import message_expr, problem_schema, problems_frame
from mediins_cli.frames import one_piece
from mediins_cli.i18n import _
from mediins_cli.inputs.columns import (
    ENROLLEE_COLUMNS,
    ID_TYPES,
    MAX_AGENCY_BYTES,
    MAX_AGENCY_CHARS,
    MAX_NAME_CHARS,
    STATUSES,
    agency_file_stem,
)
from mediins_cli.inputs.ledger import _account_checks, in_account_shape
from mediins_cli.inputs.source import Source
from mediins_cli.inputs.table import (
    Checked,
    _amount_check,
    _cell_checks,
    _Check,
    _coded,
    _col,
    _collect,
    _date_check,
    _empty,
    _parse_date,
    _parse_month,
    _quoted,
    blank_row,
    cell_problems,
    csv_pieces,
    excel_number,
    excel_number_check,
    no_rows,
    physical_numbering,
    read_path,
    read_table,
    renumbered,
    table_names,
    text_plan,
)
from mediins_cli.mask import mask_id_expr
from mediins_cli.money import yuan_to_fen
from mediins_cli.order import ID_KEY, RIC_SHAPE, id_key
from mediins_cli.words import NP_


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


def check_enrollees(source: Source, *, keys: Collection[str] = ()) -> Checked:
    """The enrollee file, typed, with its problems (frame is None if unusable).

    One streaming pass reads, strips, types and checks the rows (DESIGN §10), and keeps the
    typed frame and the rows with a problem, text and all, for the messages (usually none):
    the file's cells are never all held as text (10 M rows: 2.5 GB). A large CSV is passed in
    pieces (:func:`csv_pieces`), numbered on from one to the next: polars' reader runs ahead of
    the typing and holds what it read, up to one piece. What needs every row at once (a
    repeated ID, agency codes that clash, area codes) is checked on the typed frame
    afterwards: in the pass, a group or a distinct count held the pass's buffers longer (3 M
    rows: 0.2 GB more at the peak).

    ``keys``: those of the keys the pass makes that the typed frame keeps (:data:`_KEYS`):
    :data:`.rounds.ACCOUNT_KEY`, the accounts' integer keys (:func:`.rounds.account_key`),
    made to tell their shape, and :data:`.order.ID_KEY`, the IDs' sort keys
    (:func:`.order.id_key`), made beside the ID's shape. Round 1 joins by the ones and sorts by
    the others, and would make them again (10 M: 0.5 s each)."""
    unknown = set(keys) - set(_KEYS)
    if unknown:
        raise ValueError(f"no such key: {sorted(unknown)}")
    names, problems = table_names(source, ENROLLEE_COLUMNS)
    if names is None:
        return None, problems
    known = {c.name for c in ENROLLEE_COLUMNS}
    typed_parts, flagged_parts, records = [], [], 0
    as_written: Collection[str] = _AS_WRITTEN
    try:
        for piece in csv_pieces(source):
            typed, flagged, count, columns = _check_piece(
                source, names, known, piece, records, as_written, keys
            )
            if as_written and flagged.height:  # a space around a cell, or a problem: the
                as_written = ()  # piece and those after it are read stripped
                typed, flagged, count, columns = _check_piece(
                    source, names, known, piece, records, (), keys
                )
            typed_parts.append(typed)
            flagged_parts.append(flagged)
            records += count
    except pl.exceptions.PolarsError:
        raw, problems = read_table(source, ENROLLEE_COLUMNS)  # names what it cannot parse
        if raw is None:
            return None, problems
        raise
    typed, flagged = pl.concat(typed_parts), pl.concat(flagged_parts)
    del typed_parts, flagged_parts
    before, after = _row_checks(columns)
    starts, warnings = physical_numbering(source, records)
    if starts is not None:
        typed, flagged = renumbered(typed, starts), renumbered(flagged, starts)
    typed = one_piece(typed)
    # the cells as the file has them (the IDs before upper case, the codes before aliases)
    cells = flagged.with_columns(pl.col(f"__text_{c}").alias(c) for c in _RECODED if c in names)
    problems = pl.concat(
        [
            warnings,
            cell_problems(cells, names, known, source.shown),
            _collect(flagged, before, source.shown),
            _duplicates(typed, source.shown),
            _collect(flagged, after, source.shown),
            _agency_clashes(typed, source.shown),
            _area_warnings(
                typed.lazy().filter(pl.col("__ric_ok")).select("enrollee_id", "line"),
                source.shown,
            ),
            no_rows(typed, source.shown, NP_("no rows", "enrollees")),
        ]
    )
    return typed.drop("__ric_ok"), problems


def _check_piece(
    source: Source,
    names: list[str],
    known: set[str],
    piece: bytes | None,
    before: int,
    as_written: Collection[str] = (),
    keys: Collection[str] = (),
) -> tuple[pl.DataFrame, pl.DataFrame, int, list[str]]:
    """One streaming pass over the file, or a piece of it after ``before`` records
    (:func:`csv_pieces`): its rows typed, those with a problem, how many records it holds,
    and the columns of its text plan. ``as_written``: columns not stripped (:data:`_AS_WRITTEN`:
    the result holds only if no row has a problem). ``keys``: see :func:`check_enrollees`."""
    text = text_plan(source, names, known, piece, before, as_written)
    columns = text.collect_schema().names()
    # cells too long are flagged by bytes here, counted in characters below; the columns whose
    # own check flags any stray character or length are not looked at apart (_SELF_CHECKED)
    cell_checks = _cell_checks(
        [n for n in names if n not in _SELF_CHECKED], known, nul_free=source.nul_free
    )
    rows = _parsed(
        text.filter(~blank_row(names)).with_columns(
            pl.any_horizontal(c.failed.fill_null(False) for c in cell_checks).alias("__bad_cell")
            if cell_checks
            else pl.lit(False).alias("__bad_cell")
        ),
        columns,
        ID_KEY in keys,
    )
    first, then = _row_checks(columns)
    bad = pl.col("__bad_cell") | pl.any_horizontal(c.failed.fill_null(False) for c in first + then)
    # the records are counted as the rows of their numbers, never by a count over the whole
    # pass (``select(pl.len())``): when the file cannot be parsed, polars 2.0–2.1 cancels the
    # pass and now and then panics in such a count's task ("joined on cancelled task", about
    # one reading in 100); a few of those, and its engine hangs the next streaming pass
    typed, flagged, numbers = pl.collect_all(
        [rows.select(_typed(columns, keys)), rows.filter(bad), text.select("line")],
        engine="streaming",
    )
    return typed, flagged, numbers.height, columns


def read_enrollees(
    path: Path, encoding: str = "auto"
) -> tuple[pl.DataFrame | None, pl.DataFrame, str]:
    """:func:`check_enrollees` of a file by path: (frame, problems, encoding used)."""
    return read_path(path, encoding, check_enrollees, workbook=True)


#: columns read as the file writes them, not stripped, while no row of the pass has a problem
#: (:func:`check_enrollees`): the checks of each refuse a cell with a space around it, or
#: made of spaces, so where none fails stripping would have changed no cell and made no row
#: blank. A piece where one fails is read again stripped, and so is the rest of the file (a
#: file that pads its cells pays for one piece twice). 10 M enrollees: 1.8 s of CPU less.
_AS_WRITTEN = (
    "enrollee_id",
    "id_type",
    "sex",
    "birth_date",
    "status",
    "enrolled_on",
    "paid_through",
    "waiting_until",
    "prior_coverage_end",
    "retirement_date",
    "monthly_premium",
    "account_no",
)

#: columns of few distinct values, held as categories (4 bytes a row, not a 16-byte view)
_FEW_VALUES = ("id_type", "sex", "agency", "status", "bank")

#: the accounts' integer keys (:func:`.rounds.account_key`), as :data:`.rounds.ACCOUNT_KEY`
#: names them (a test holds the two the same)
_ACCOUNT_KEY = "__account_key"
#: the keys :func:`check_enrollees` keeps on asking
_KEYS = (_ACCOUNT_KEY, ID_KEY)

#: columns whose cells the typed frame holds recoded (upper case, codes for aliases)
_RECODED = ("enrollee_id", "id_type", "status")

#: columns whose own check flags a cell with any character out of place, or too long: a code
#: not in its list (aliases hold no stray character), an ID not in its shape. The pass of
#: :func:`_check_piece` only needs to know a row has some problem, so it does not look at
#: their characters apart (10 M enrollees: about 1 s of CPU less, with the Excel-number
#: pattern tried only out of shape, excel_number); the flagged rows' messages
#: still say what is wrong with such a cell (:func:`cell_problems` looks at every column).
_SELF_CHECKED = ("enrollee_id", "id_type", "sex", "status")

_IDENT = pl.col("enrollee_id")
_IS_RIC = pl.col("id_type") == "ric"
#: a resident ID of the right shape whose check digit is right (after :func:`_parsed`)
_RIC_OK = _IS_RIC & pl.col("__shape_ok") & (pl.col("__check_digit") == _IDENT.str.slice(17, 1))


def _parsed(rows: pl.LazyFrame, columns: list[str], id_keys: bool = False) -> pl.LazyFrame:
    """The file's rows (``columns``: those of its text plan) with the typed columns and what
    the checks use: the codes through their aliases, the dates, the premium in fen, and what a
    resident ID says (its check digit, birth date and sex); and the accounts' keys, and with
    ``id_keys`` the IDs' (:data:`_KEYS`: made only when asked, as nothing else needs them)."""
    from mediins_cli.rounds import account_key

    ident, is_ric = _IDENT, _IS_RIC
    rows = rows.with_columns(
        *(pl.col(c).alias(f"__text_{c}") for c in _RECODED if c in columns),
        ident.str.to_uppercase(),
        _coded(columns, "id_type").fill_null("ric").alias("id_type"),
        _coded(columns, "sex").alias("__sex"),
        _coded(columns, "status").alias("status"),
        _parse_date(_col(columns, "birth_date")).alias("__birth"),
        _parse_date(_col(columns, "enrolled_on")).alias("__enrolled"),
        _parse_month(_col(columns, "paid_through")).alias("__paid"),
        _parse_date(_col(columns, "waiting_until")).alias("__waiting"),
        _parse_date(_col(columns, "prior_coverage_end")).alias("__prior_end"),
        _parse_date(_col(columns, "retirement_date")).alias("__retires"),
        yuan_to_fen(pl.col("monthly_premium")).alias("premium_fen"),
        account_key().alias(_ACCOUNT_KEY),
    )
    shape = ident.str.contains(RIC_SHAPE)
    mangled = excel_number(columns, "enrollee_id", ~shape)  # said as such, not as a bad ID
    shape_ok = shape & ~mangled
    return rows.with_columns(
        # kept as columns: the checks and the typed columns use them again
        mangled.alias("__mangled"),
        shape_ok.alias("__shape_ok"),
        *([id_key(shaped=shape).alias(ID_KEY)] if id_keys else []),
        pl.when(is_ric & shape_ok).then(_id_check_digit(ident)).alias("__check_digit"),
        pl.when(is_ric & shape_ok & ident.str.slice(6, 2).is_in(["19", "20"]))
        .then(ident.str.slice(6, 8).str.to_date("%Y%m%d", strict=False, cache=False))
        .alias("__id_birth"),
        pl.when(is_ric & shape_ok)
        .then(
            pl.when(ident.str.slice(16, 1).cast(pl.Int64, strict=False) % 2 == 1)
            .then(pl.lit("M"))
            .otherwise(pl.lit("F"))
        )
        .alias("__id_sex"),
    )


def _typed(columns: list[str], keys: Collection[str] = ()) -> list[pl.Expr]:
    """The typed frame's columns from :func:`_parsed` rows: the known ones in their order (sex
    and birth date from the ID where the row gives none; the premium as ``premium_fen``), the
    file's extra columns as they are, ``line``, and ``__ric_ok`` for the area codes (and the
    ``keys`` of the accounts' and the IDs' after it, in the order of :data:`_KEYS`)."""
    derived = {
        "sex": pl.coalesce(pl.col("__sex"), pl.col("__id_sex")),
        "birth_date": pl.coalesce(pl.col("__birth"), pl.col("__id_birth")),
        "enrolled_on": pl.col("__enrolled"),
        "paid_through": pl.col("__paid"),
        "waiting_until": pl.col("__waiting"),
        "prior_coverage_end": pl.col("__prior_end"),
        "retirement_date": pl.col("__retires"),
    }
    known = [c.name for c in ENROLLEE_COLUMNS if c.name != "monthly_premium"]
    present = {*columns, *derived, "id_type"}  # id_type is "ric" where the file has none
    typed = {c: derived[c] if c in derived else pl.col(c) for c in known if c in present}
    for c in _FEW_VALUES:
        if c in typed:
            typed[c] = typed[c].cast(pl.Categorical)
    return [
        *(e.alias(c) for c, e in typed.items()),
        pl.col("premium_fen"),
        *(
            pl.col(c)
            for c in columns
            if c not in known and c not in ("monthly_premium", "line") and not c.startswith("__")
        ),
        pl.col("line"),
        _RIC_OK.alias("__ric_ok"),
        *(pl.col(k) for k in _KEYS if k in keys),
    ]


def _row_checks(columns: list[str]) -> tuple[list[_Check], list[_Check]]:
    """The checks of one row by itself, over :func:`_parsed` rows, as two lists: those said
    before a repeated ID (:func:`_duplicates`, checked across rows) and those after."""
    ident, is_ric = _IDENT, _IS_RIC
    mangled, shape_ok = pl.col("__mangled"), pl.col("__shape_ok")
    ric_ok = _RIC_OK
    shaped = in_account_shape(pl.col("account_no"), pl.col(_ACCOUNT_KEY))
    masked = mask_id_expr(ident)
    before = [
        _empty("enrollee_id"),
        _Check(
            "id_type",
            "BAD_VALUE",
            ~pl.col("id_type").is_in(ID_TYPES),
            message_expr(
                _("{value} is not one of {types}"),
                value=_quoted("id_type"),
                types=pl.lit(", ".join(ID_TYPES)),
            ),
        ),
        excel_number_check("enrollee_id", mangled),
        _Check(
            "enrollee_id",
            "BAD_ID",
            is_ric & ident.is_not_null() & ~mangled & ~shape_ok,
            message_expr(
                _("a resident ID is 17 digits and a digit or X; got {n} characters ({id})"),
                n=ident.str.len_chars().cast(pl.String),
                id=masked,
            ),
        ),
        _Check(
            "enrollee_id",
            "BAD_ID_CHECKSUM",
            is_ric & shape_ok & (pl.col("__check_digit") != ident.str.slice(17, 1)),
            message_expr(
                _("check digit is {digit}, expected {expected} ({id})"),
                digit=ident.str.slice(17, 1),
                expected=pl.col("__check_digit"),
                id=masked,
            ),
        ),
        _Check(
            "enrollee_id",
            "BAD_ID_DATE",
            ric_ok & pl.col("__id_birth").is_null(),
            message_expr(_("the birth date in the ID is not a date ({id})"), id=masked),
        ),
        _Check(
            "enrollee_id",
            "BAD_ID",
            ~is_ric
            & ident.is_not_null()
            & ~mangled
            # the pattern is tried on the other documents only (10 M resident IDs: 0.3 s)
            & ~pl.when(~is_ric).then(ident).str.contains(r"^[A-Z0-9][A-Z0-9()-]{4,23}$"),
            message_expr(
                _("a document number is 5–24 letters or digits, starting with one ({id})"),
                id=masked,
            ),
        ),
    ]
    after = [
        _empty("name"),
        _Check(
            "name",
            "BAD_TEXT",
            pl.col("name").str.len_chars() > MAX_NAME_CHARS,
            pl.lit(_("is longer than {n} characters").format(n=MAX_NAME_CHARS)),
        ),
        _Check(
            "sex",
            "BAD_VALUE",
            pl.col("__sex").is_not_null() & ~pl.col("__sex").is_in(["M", "F"]),
            message_expr(
                _("{value} is not M or F (男/女)"), value=_quoted("sex", _col(columns, "sex"))
            ),
        ),
        _Check(
            "sex",
            "ID_MISMATCH",
            ric_ok & pl.col("__sex").is_in(["M", "F"]) & (pl.col("__sex") != pl.col("__id_sex")),
            message_expr(
                _("is {sex} but the ID says {id_sex}"),
                sex=pl.col("__sex"),
                id_sex=pl.col("__id_sex"),
            ),
        ),
        _date_check("birth_date", "__birth") if "birth_date" in columns else None,
        _Check(
            "birth_date",
            "ID_MISMATCH",
            ric_ok
            & pl.col("__birth").is_not_null()
            & pl.col("__id_birth").is_not_null()
            & (pl.col("__birth") != pl.col("__id_birth")),
            # The ID's own birth date is not shown: with the masked ID it would give it away.
            message_expr(
                _("is {date}, which is not the birth date in the ID"),
                date=pl.col("__birth").cast(pl.String),
            ),
        ),
        _empty("agency"),
        _Check(
            "agency",
            "BAD_AGENCY",
            (pl.col("agency").str.len_chars() <= MAX_AGENCY_CHARS)
            & (pl.col("agency").str.len_bytes() > MAX_AGENCY_BYTES),
            message_expr(
                _(
                    "is {n} bytes in UTF-8; an agency code names a file of agencies/, at most "
                    "{most} bytes"
                ),
                n=pl.col("agency").str.len_bytes().cast(pl.String),
                most=pl.lit(str(MAX_AGENCY_BYTES)),
            ),
        ),
        _Check(
            "agency",
            "BAD_AGENCY",
            pl.col("agency").str.len_chars() > MAX_AGENCY_CHARS,
            message_expr(
                _("is {n} characters; an agency code names a file of agencies/, at most {most}"),
                n=pl.col("agency").str.len_chars().cast(pl.String),
                most=pl.lit(str(MAX_AGENCY_CHARS)),
            ),
        ),
        _empty("status"),
        _Check(
            "status",
            "BAD_VALUE",
            pl.col("status").is_not_null() & ~pl.col("status").is_in(STATUSES),
            message_expr(
                _("{value} is not one of active, suspended, terminated (正常参保, 暂停, 终止)"),
                value=_quoted("status"),
            ),
        ),
        _empty("enrolled_on"),
        _date_check("enrolled_on", "__enrolled"),
        _Check(
            "paid_through",
            "BAD_MONTH",
            _col(columns, "paid_through").is_not_null() & pl.col("__paid").is_null(),
            message_expr(
                _("{value} is not a month YYYY-MM"),
                value=_quoted("paid_through", _col(columns, "paid_through")),
            ),
        ),
        _date_check("waiting_until", "__waiting") if "waiting_until" in columns else None,
        _date_check("prior_coverage_end", "__prior_end")
        if "prior_coverage_end" in columns
        else None,
        _date_check("retirement_date", "__retires") if "retirement_date" in columns else None,
        _empty("monthly_premium"),
        *_amount_check("monthly_premium", pl.col("premium_fen")),
        _Check(
            "monthly_premium",
            "BAD_AMOUNT",
            pl.col("premium_fen") <= 0,
            message_expr(_("{value} must be more than 0"), value=_quoted("monthly_premium")),
        ),
        # the shape told from the accounts' keys, made in the pass in place of a search per
        # row (about its cost), which round 1 joins by and need not make again (10 M: 0.5 s)
        *_account_checks(excel_number(columns, "account_no", ~shaped), shaped),
    ]
    return before, [c for c in after if c is not None]


def _duplicates(typed: pl.DataFrame, shown: str) -> pl.DataFrame:
    """An ID on more than one row: an error on every row after its first, naming that line.
    The window that finds the first lines runs only where some ID may repeat (all hashes
    distinct proves every ID is; at 10 M rows 0.2 s, the window 0.9 s). Counted after the
    pass, not in it: the set of 10 M hashes beside the pass's own buffers raised its peak."""
    if typed.select(_IDENT.hash().n_unique()).item() == typed.height:
        return problems_frame([])
    check = _Check(
        "enrollee_id",
        "DUPLICATE_ENROLLEE",
        _IDENT.is_not_null() & (pl.col("line") != pl.col("__first_line")),
        message_expr(
            _("duplicate enrollee ({id}), first on line {line}"),
            id=mask_id_expr(_IDENT),
            line=pl.col("__first_line").cast(pl.String),
        ),
    )
    first = typed.select(
        "enrollee_id", "line", pl.col("line").first().over("enrollee_id").alias("__first_line")
    )
    return _collect(first, [check], shown)


def county_known(county: str, year: int) -> bool:
    """Whether python-stdnum's county entry (``东城区``, or ``[1983-2019]桥东区,[2020-]襄都区``)
    names a county in ``year``, as ``stdnum.cn.ric.get_birth_place`` decides it: an entry
    without a year range is known in every year, ``[start-end]`` in those years."""
    for entry in county.split(","):
        if not entry.startswith("["):
            return True
        start, end = entry[1:].split("]")[0].split("-")
        if (not start or year >= int(start)) and (not end or year <= int(end)):
            return True
    return False


def unknown_area_years(prefixes: list[str]) -> list[str]:
    """The ``area code + birth year`` prefixes (10 digits) python-stdnum's table does not know
    (:func:`county_known`). The table is read once per area code, not once per pair: a
    province holds some 3,000 codes over 60 birth years, 180,000 pairs, which one call of
    ``get_birth_place`` each took 30 s. A test compares the two on every ranged code."""
    from stdnum import numdb

    table = numdb.get("cn/loc")
    years: dict[str, list[str]] = {}
    for prefix in prefixes:
        years.setdefault(prefix[:6], []).append(prefix)
    unknown = []
    for area, found in years.items():
        info = {k: v for _part, props in table.info(area) for k, v in props.items()}
        county = info.get("county", "")
        unknown += [p for p in found if not (county and county_known(county, int(p[6:10])))]
    return unknown


def _area_warnings(valid: pl.LazyFrame, shown: str) -> pl.DataFrame:
    """An area code python-stdnum does not know for the birth year is a warning at most: codes
    change and old numbers stay valid (LIBRARIES.md). Checked once per (area, year) pair.

    ``valid``: the well-formed resident IDs and their lines, as a plan: only their distinct
    pairs, and the rows of unknown ones, are ever collected (not a copy of 10 M IDs)."""
    area_year = pl.col("enrollee_id").str.slice(0, 10)
    pairs = valid.select(area_year.unique()).collect().to_series()
    unknown = unknown_area_years(pairs.to_list())
    if not unknown:
        return pl.DataFrame(schema=problem_schema())
    check = _Check(
        "enrollee_id",
        "UNKNOWN_AREA",
        area_year.is_in(unknown),
        message_expr(
            _(
                "area code {area} is not in python-stdnum's table for the birth year in the ID "
                "(accepted: old codes stay valid)"
            ),
            area=pl.col("enrollee_id").str.slice(0, 6),
        ),
        severity="warning",
    )
    return _collect(valid.filter(check.failed).collect(), [check], shown)


def _agency_clashes(f: pl.DataFrame, shown: str) -> pl.DataFrame:
    """Two agency codes that give one file name under ``agencies/`` (letters compared without
    case, so the lists survive a copy to a case-insensitive disk): each such code is reported
    at its first line, naming the other code and its line (DESIGN §3)."""
    codes = (
        f.filter(pl.col("agency").is_not_null())
        .group_by("agency")
        .agg(pl.col("line").min())
        .with_columns(pl.col("agency").cast(pl.String))  # each code once, as text
        .with_columns(agency_file_stem(pl.col("agency")).str.to_lowercase().alias("__stem"))
        .filter(pl.col("__stem").is_duplicated())
        .sort("line")
    )
    first = codes.group_by("__stem").agg(
        pl.col("agency").first().alias("__other"), pl.col("line").first().alias("__other_line")
    )
    clashing = codes.join(first, on="__stem").filter(pl.col("agency") != pl.col("__other"))
    check = _Check(
        "agency",
        "AGENCY_CLASH",
        pl.lit(True),
        message_expr(
            _("{agency} and {other} on line {line} give the same file name {file}; rename one"),
            agency=_quoted("agency"),
            other=_quoted("agency", pl.col("__other")),
            line=pl.col("__other_line").cast(pl.String),
            file=pl.concat_str(
                pl.lit("agencies/"), agency_file_stem(pl.col("agency")), pl.lit(".csv")
            ),
        ),
    )
    return _collect(clashing, [check], shown)
