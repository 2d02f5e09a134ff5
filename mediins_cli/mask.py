"""Masking of personal numbers and names for the terminal and logs (DESIGN §7).

Output files hold full data; everything a person reads on a screen or in a log goes through here.
"""

from __future__ import annotations

import polars as pl


def mask_id(value: str | None) -> str:
    """``110101199003071234`` → ``110101********1234``; short documents keep 2 + 2."""
    if not value:
        return ""
    if len(value) >= 15:
        return f"{value[:6]}********{value[-4:]}"
    if len(value) >= 6:
        return f"{value[:2]}{'*' * (len(value) - 4)}{value[-2:]}"
    return "*" * len(value)


def mask_account(value: str | None) -> str:
    """``6214830012345678`` → ``6214********5678`` (the length is hidden too)."""
    if not value:
        return ""
    if len(value) >= 10:
        return f"{value[:4]}********{value[-4:]}"
    return "*" * len(value)


def mask_name(value: str | None) -> str:
    """``张三`` → ``张*``; ``欧阳娜娜`` → ``欧***``; ``SMITH JOHN`` → ``S*********``."""
    if not value:
        return ""
    return value[0] + "*" * (len(value) - 1)


def mask_id_expr(expr: pl.Expr) -> pl.Expr:
    """Column version of :func:`mask_id` for messages made over whole columns; a short
    document shows 2 + ``****`` + 2, hiding its length too."""
    n = expr.str.len_chars()
    return (
        pl.when(n >= 15)
        .then(pl.concat_str(expr.str.slice(0, 6), pl.lit("********"), expr.str.slice(-4)))
        .when(n >= 6)
        .then(pl.concat_str(expr.str.slice(0, 2), pl.lit("****"), expr.str.slice(-2)))
        .otherwise(pl.lit("****"))
    )


def mask_account_expr(expr: pl.Expr) -> pl.Expr:
    """Column version of :func:`mask_account`."""
    return (
        pl.when(expr.str.len_chars() >= 10)
        .then(pl.concat_str(expr.str.slice(0, 4), pl.lit("********"), expr.str.slice(-4)))
        .otherwise(pl.lit("****"))
    )
