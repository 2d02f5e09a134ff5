"""Exact money: yuan text in, integer fen inside, yuan text with two decimals out.

The only place amounts are converted (STYLE §5). Parsing is done with string operations on whole
columns, so there is no float anywhere and no silent rounding: a third decimal place is an error,
not something to round (LIBRARIES.md: polars' Decimal cast would round "1.025" to 1.02).
"""

from __future__ import annotations

import polars as pl

#: optional sign, digits, optionally a point and one or two digits. No exponent, no separators.
YUAN_PATTERN = r"^[+-]?[0-9]{1,15}(\.[0-9]{1,2})?$"


def yuan_is_valid(text: pl.Expr) -> pl.Expr:
    """True where ``text`` (already stripped) is a well-formed yuan amount."""
    return text.str.contains(YUAN_PATTERN)


def yuan_to_fen(text: pl.Expr) -> pl.Expr:
    """Integer fen of a yuan amount column; null where the text is not well-formed."""
    valid = yuan_is_valid(text)
    negative = text.str.starts_with("-")
    unsigned = text.str.strip_prefix("-").str.strip_prefix("+")
    whole = unsigned.str.extract(r"^([0-9]+)", 1).cast(pl.Int64, strict=False)
    frac = (
        unsigned.str.extract(r"\.([0-9]{1,2})$", 1)
        .fill_null("")
        .str.pad_end(2, "0")
        .cast(pl.Int64, strict=False)
    )
    fen = whole * 100 + frac
    return pl.when(valid).then(pl.when(negative).then(-fen).otherwise(fen)).otherwise(None)


def fen_to_yuan(fen: int) -> str:
    """``123456`` → ``"1234.56"``; ``-5`` → ``"-0.05"``."""
    sign = "-" if fen < 0 else ""
    whole, cents = divmod(abs(fen), 100)
    return f"{sign}{whole}.{cents:02d}"


def fen_to_yuan_expr(fen: pl.Expr) -> pl.Expr:
    """Column version of :func:`fen_to_yuan`."""
    magnitude = fen.abs()
    return pl.concat_str(
        pl.when(fen < 0).then(pl.lit("-")).otherwise(pl.lit("")),
        (magnitude // 100).cast(pl.String),
        pl.lit("."),
        (magnitude % 100).cast(pl.String).str.pad_start(2, "0"),
    )
