"""Exact money: yuan text in, integer fen inside, yuan text with two decimals out.

The only place amounts are converted (STYLE §5). Parsing is done with string operations on whole
columns, so there is no float anywhere and no silent rounding: a third decimal place is an error,
not something to round (LIBRARIES.md: polars' Decimal cast would round "1.025" to 1.02).
"""

from __future__ import annotations

from decimal import Decimal

import polars as pl

#: optional sign, digits, optionally a point and one or two digits. No exponent, no separators.
YUAN_PATTERN = r"^[+-]?[0-9]{1,15}(\.[0-9]{1,2})?$"

#: DESIGN §3, so money never wraps around: no single amount beyond 10^10 yuan, and no account
#: whose rows sum beyond ±10^12 yuan. Within these bounds every sum the engine makes fits an
#: Int64 with room to spare; totals over many enrollees are summed as Int128.
MAX_AMOUNT_FEN = 10**12
MAX_ACCOUNT_FEN = 10**14


def yuan_is_valid(text: pl.Expr) -> pl.Expr:
    """True where ``text`` (already stripped) is a well-formed yuan amount."""
    return text.str.contains(YUAN_PATTERN)


def yuan_to_fen(text: pl.Expr) -> pl.Expr:
    """Integer fen of a yuan amount column; null where the text is not well-formed.

    Only text that passed :data:`YUAN_PATTERN` (at most two decimals, at most 15 integer digits)
    reaches the Decimal cast, so the cast is exact: nothing is rounded. It is 5x faster than
    splitting the text (measured: 4 million amounts, 0.29 s against 1.5 s).
    """
    # polars' Decimal cast takes the leading "+" the pattern allows (tests/test_money.py)
    exact = text.cast(pl.Decimal(precision=20, scale=2), strict=False)
    return pl.when(yuan_is_valid(text)).then((exact * 100).cast(pl.Int64))


def fen_to_yuan(fen: int) -> str:
    """``123456`` → ``"1234.56"``; ``-5`` → ``"-0.05"``."""
    sign = "-" if fen < 0 else ""
    whole, cents = divmod(abs(fen), 100)
    return f"{sign}{whole}.{cents:02d}"


def yuan_text_to_fen(yuan: str) -> int:
    """``"1234.56"`` → ``123456``: one amount mediins wrote itself (a summary's), exactly."""
    return int(pl.select(yuan_to_fen(pl.lit(yuan))).item())


def fen_to_yuan_expr(fen: pl.Expr) -> pl.Expr:
    """Column version of :func:`fen_to_yuan`: fen times an exact 0.01 as a Decimal, whose text
    has two decimals and a minus only below zero (4x as fast as building the text from its
    parts; tests/test_money.py compares the two on every bound)."""
    return (fen.cast(pl.Decimal(38, 0)) * pl.lit(Decimal("0.01"), dtype=pl.Decimal(3, 2))).cast(
        pl.String
    )


def total_fen(fen: pl.Expr) -> pl.Expr:
    """The sum of a fen column as Int128: a total over millions of enrollees never wraps."""
    return fen.cast(pl.Int128).sum()


def sum_fen(fen: pl.Series) -> int:
    """:func:`total_fen` of a series, as a Python int."""
    return int(fen.cast(pl.Int128).sum() or 0)
