"""Checks of ``ledger.csv``, and the lazy pass that reduces it to balances."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import polars as pl

from mediins_cli.errors import BadInput
from mediins_cli.inputs.columns import ENCODINGS, LEDGER_COLUMNS
from mediins_cli.inputs.source import _DecodeFailure, _utf8_source
from mediins_cli.inputs.table import (
    _DATE_RE,
    _amount_check,
    _Check,
    _collect,
    _empty,
    _map_header,
    _quoted,
    _read_header,
    _read_table,
)
from mediins_cli.mask import mask_account_expr
from mediins_cli.money import yuan_to_fen
from mediins_cli.resources import display_path

_POSTED_AT_FORMATS = (
    (r"^[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}$", "%Y-%m-%d %H:%M:%S"),
    (r"^[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}$", "%Y-%m-%d %H:%M"),
)


def read_ledger(
    path: Path, encoding: str = "auto"
) -> tuple[pl.DataFrame | None, pl.DataFrame, str]:
    """The ledger, typed, with its problems (frame is None if unusable)."""
    raw, problems, used = _read_table(path, LEDGER_COLUMNS, encoding)
    if raw is None:
        return None, problems, used
    frame, found = _check_ledger(raw, display_path(path))
    return frame, pl.concat([problems, found]), used


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
