"""Masking of personal numbers and names for the terminal and logs (DESIGN §7).

Output files hold full data; everything a person reads on a screen or in a log goes through here.
"""

from __future__ import annotations

import re

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


# ------------------------------------------------------------------- cell values in messages

#: What a cell may look like to be quoted as it is in a problem message, by what its column
#: holds (a date, an amount, a code, a label such as an agency code). Anything else in such a
#: column is treated as personal data that slipped there (a name, a passport number) and
#: masked; so is anything shaped like a document or account number (a letter and 7 digits, or
#: 9 digits in a row). A single Latin word of up to 12 letters names no one and is shown.
#: Columns that hold personal data are always masked by their own rule.
_DATE_OR_AMOUNT = r"^[0-9A-Za-z年月日号/.\-: T+,元¥￥]{1,25}$"
_LABEL = r"^[A-Za-z0-9_.()/\-]{1,64}$"
PLAIN_SHAPES = {
    "date": _DATE_OR_AMOUNT,
    "amount": _DATE_OR_AMOUNT,
    "code": r"^[A-Za-z_\-]{1,16}$",
    "label": _LABEL,  # a bank code, a reference: Latin letters and digits
    # an agency code: a label, or the name of an office in Chinese (5 characters or more: two to
    # four could be a person's name that slipped into the column)
    "agency": _LABEL + r"|^[\w.()（）/\-]{5,64}$",
}
_NEEDS_DIGIT = {"date", "amount"}
_WORD = r"^[A-Za-z]{1,12}$"
_DOCUMENT = r"[A-Za-z][0-9]{7,}|[0-9]{9,}"


def shown_expr(expr: pl.Expr, holds: str) -> pl.Expr:
    """A cell's value for a problem message, quoted, masked by what its column ``holds``:
    ``id``, ``account``, ``name`` and ``personal`` (anything else that identifies a person)
    always; ``date``, ``amount``, ``code``, ``label`` and ``agency`` shown when the value has
    the shape such a column holds (:data:`PLAIN_SHAPES`; dates and amounts with a digit in
    them), masked otherwise."""
    if holds == "id":
        masked = mask_id_expr(expr)
    elif holds == "account":
        masked = mask_account_expr(expr)
    else:
        hidden = pl.concat_str(expr.str.slice(0, 1), pl.lit("**"))
        shape = PLAIN_SHAPES.get(holds)
        if shape is None:
            masked = hidden
        else:
            plain = expr.str.contains(shape)
            if holds in _NEEDS_DIGIT:
                plain = (plain & expr.str.contains("[0-9]")) | expr.str.contains(_WORD)
            masked = (
                pl.when(expr.str.contains(_DOCUMENT))
                .then(mask_account_expr(expr))
                .when(plain)
                .then(expr)
                .otherwise(hidden)
            )
    return pl.concat_str(pl.lit("'"), masked, pl.lit("'"))


def shown(value: str, holds: str) -> str:
    """:func:`shown_expr` of one value (a header cell, say), by the very same rules."""
    return str(pl.select(shown_expr(pl.lit(value, dtype=pl.String), holds)).item())


_DIGIT_RUN = re.compile(r"[0-9][0-9Xx]{5,}")
_CJK_RUN = re.compile(r"[\u3400-\u9fff\U00020000-\U0003ffff]+")
_QUOTED_DATA = re.compile(r"`[^`]*`", re.DOTALL)  # how polars quotes the rows it could not read


def scrub(text: str) -> str:
    """Free text of unknown origin (an unexpected error's message, a traceback) made safe for
    the terminal: what polars quotes from a file dropped, runs of 6 or more digits masked as
    account numbers, Chinese text as names. Used only where no column says what a value is."""
    text = _QUOTED_DATA.sub("`…`", text)
    text = _DIGIT_RUN.sub(lambda m: mask_account(m.group()), text)
    return _CJK_RUN.sub(lambda m: mask_name(m.group()), text)
