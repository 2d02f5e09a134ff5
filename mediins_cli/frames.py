"""Working out a column once per distinct value (DESIGN §10).

A province's month holds a handful of premiums, statuses, months and dates over millions of
rows; parsing or formatting each row is what costs, so the work is done once per distinct value
and looked up for every row."""

from __future__ import annotations

from collections.abc import Callable

import polars as pl


def per_value(frame: pl.DataFrame, column: str, derive: Callable[[pl.Expr], pl.Expr]) -> pl.Expr:
    """``derive`` of ``column``, worked out once per distinct value of ``frame``'s column and
    looked up for every row (null rows get ``derive`` of null). Not for columns of many distinct
    values, where the lookup costs more than it saves. The values are derived as a column of a
    frame, as the rows would be: over a literal Series polars raised on a cast that
    ``money.yuan_to_fen``'s ``when`` leaves out (an 18-digit amount)."""
    values = frame.get_column(column).unique()
    derived = values.to_frame().select(derive(pl.col(column))).to_series()
    return pl.col(column).replace_strict(values, derived, default=None, return_dtype=derived.dtype)
