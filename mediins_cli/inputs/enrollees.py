"""Checks of ``enrollees.csv``."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from mediins_cli.errors import message_expr, problem_schema
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
from mediins_cli.inputs.ledger import _account_checks
from mediins_cli.inputs.source import Source
from mediins_cli.inputs.table import (
    Checked,
    _amount_check,
    _Check,
    _coded,
    _col,
    _collect,
    _date_check,
    _empty,
    _parse_date,
    _parse_month,
    _quoted,
    excel_number,
    excel_number_check,
    per_value,
    read_checked,
    read_path,
)
from mediins_cli.mask import mask_id_expr
from mediins_cli.money import yuan_to_fen
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


def check_enrollees(source: Source) -> Checked:
    """The enrollee file, typed, with its problems (frame is None if unusable)."""
    return read_checked(source, ENROLLEE_COLUMNS, _check_enrollees, NP_("no rows", "enrollees"))


def read_enrollees(
    path: Path, encoding: str = "auto"
) -> tuple[pl.DataFrame | None, pl.DataFrame, str]:
    """:func:`check_enrollees` of a file by path: (frame, problems, encoding used)."""
    return read_path(path, encoding, check_enrollees, workbook=True)


def _check_enrollees(raw: pl.DataFrame, shown: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    f = raw.with_columns(
        pl.col("enrollee_id").str.to_uppercase(),
        _coded(raw, "id_type").fill_null("ric").alias("id_type"),
        _coded(raw, "sex").alias("__sex"),
        _coded(raw, "status").alias("status"),
        _parse_date(_col(raw, "birth_date")).alias("__birth"),
        # columns of few distinct values are parsed once per value (per_value)
        per_value(raw, "enrolled_on", _parse_date).alias("__enrolled"),
        per_value(raw, "paid_through", _parse_month).alias("__paid"),
        _parse_date(_col(raw, "waiting_until")).alias("__waiting"),
        _parse_date(_col(raw, "prior_coverage_end")).alias("__prior_end"),
        _parse_date(_col(raw, "retirement_date")).alias("__retires"),
        per_value(raw, "monthly_premium", yuan_to_fen).alias("premium_fen"),
    )
    ident = pl.col("enrollee_id")
    is_ric = pl.col("id_type") == "ric"
    mangled = excel_number(raw, "enrollee_id")  # said as such, not as a bad ID
    shape_ok = ident.str.contains(r"^[0-9]{17}[0-9X]$") & ~mangled
    f = f.with_columns(
        # kept as columns: the checks, in a plan of their own, and the area codes use them again
        mangled.alias("__mangled"),
        shape_ok.alias("__shape_ok"),
        pl.when(is_ric & shape_ok).then(_id_check_digit(ident)).alias("__check_digit"),
        pl.when(is_ric & shape_ok & ident.str.slice(6, 2).is_in(["19", "20"]))
        .then(ident.str.slice(6, 8).str.to_date("%Y%m%d", strict=False))
        .alias("__id_birth"),
        pl.when(is_ric & shape_ok)
        .then(
            pl.when(ident.str.slice(16, 1).cast(pl.Int64, strict=False) % 2 == 1)
            .then(pl.lit("M"))
            .otherwise(pl.lit("F"))
        )
        .alias("__id_sex"),
        # the line a repeated ID was first on: a window, only where some ID may repeat (all
        # hashes distinct proves every ID is; at 10 M rows 0.2 s, the window 0.9 s)
        pl.col("line").first().over("enrollee_id").alias("__first_line")
        if f.select(ident.hash().n_unique()).item() < f.height
        else pl.col("line").alias("__first_line"),
    )
    mangled, shape_ok = pl.col("__mangled"), pl.col("__shape_ok")
    ric_ok = is_ric & shape_ok & (pl.col("__check_digit") == ident.str.slice(17, 1))
    masked = mask_id_expr(ident)
    checks = [
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
            & ~ident.str.contains(r"^[A-Z0-9][A-Z0-9()-]{4,23}$"),
            message_expr(
                _("a document number is 5–24 letters or digits, starting with one ({id})"),
                id=masked,
            ),
        ),
        _Check(
            "enrollee_id",
            "DUPLICATE_ENROLLEE",
            ident.is_not_null() & (pl.col("line") != pl.col("__first_line")),
            message_expr(
                _("duplicate enrollee ({id}), first on line {line}"),
                id=masked,
                line=pl.col("__first_line").cast(pl.String),
            ),
        ),
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
                _("{value} is not M or F (男/女)"), value=_quoted("sex", _col(raw, "sex"))
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
        _date_check("birth_date", "__birth") if "birth_date" in raw.columns else None,
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
            _col(raw, "paid_through").is_not_null() & pl.col("__paid").is_null(),
            message_expr(
                _("{value} is not a month YYYY-MM"),
                value=_quoted("paid_through", _col(raw, "paid_through")),
            ),
        ),
        _date_check("waiting_until", "__waiting") if "waiting_until" in raw.columns else None,
        _date_check("prior_coverage_end", "__prior_end")
        if "prior_coverage_end" in raw.columns
        else None,
        _date_check("retirement_date", "__retires") if "retirement_date" in raw.columns else None,
        _empty("monthly_premium"),
        *_amount_check("monthly_premium", pl.col("premium_fen")),
        _Check(
            "monthly_premium",
            "BAD_AMOUNT",
            pl.col("premium_fen") <= 0,
            message_expr(_("{value} must be more than 0"), value=_quoted("monthly_premium")),
        ),
        *_account_checks(excel_number(raw, "account_no")),
    ]
    problems = _collect(f, [c for c in checks if c is not None], shown)
    problems = pl.concat(
        [
            problems,
            _agency_clashes(f, shown),
            _area_warnings(f.lazy().filter(ric_ok).select("enrollee_id", "line"), shown),
        ]
    )
    typed = f.with_columns(
        pl.coalesce(pl.col("__sex"), pl.col("__id_sex")).alias("sex"),
        pl.coalesce(pl.col("__birth"), pl.col("__id_birth")).alias("birth_date"),
        pl.col("__enrolled").alias("enrolled_on"),
        pl.col("__paid").alias("paid_through"),
        pl.col("__waiting").alias("waiting_until"),
        pl.col("__prior_end").alias("prior_coverage_end"),
        pl.col("__retires").alias("retirement_date"),
    ).drop(c for c in f.columns if c.startswith("__") or c == "monthly_premium")
    order = [c.name for c in ENROLLEE_COLUMNS if c.name != "monthly_premium"] + ["premium_fen"]
    typed = typed.select(
        [c for c in order if c in typed.columns]
        + [c for c in typed.columns if c not in order and c != "line"]
        + ["line"]
    )
    return typed, problems


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
