"""frames.per_value: the same column as deriving every row, nulls and odd values included."""

from __future__ import annotations

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from mediins_cli.frames import per_value
from mediins_cli.money import yuan_to_fen

AMOUNTS = st.one_of(
    st.none(),
    st.sampled_from(["703.53", "+1.00", "0.01", "12.5", "-3", "abc", "", "123456789012345678"]),
)


@settings(max_examples=100, deadline=None)
@given(st.lists(AMOUNTS, max_size=30))
def test_amounts_parsed_once_each_are_parsed_as_every_row_would_be(texts: list[str | None]) -> None:
    frame = pl.DataFrame({"amount": texts}, schema={"amount": pl.String})
    once = frame.select(per_value(frame, "amount", yuan_to_fen).alias("fen"))
    every = frame.select(yuan_to_fen(pl.col("amount")).alias("fen"))
    assert once.equals(every)


def test_dates_formatted_once_each() -> None:
    frame = pl.DataFrame({"d": ["2024-02-01", None, "2024-02-01", "2023-12-01"]}).with_columns(
        pl.col("d").str.to_date()
    )
    got = frame.select(per_value(frame, "d", lambda d: d.dt.strftime("%Y-%m")))
    assert got["d"].to_list() == ["2024-02", None, "2024-02", "2023-12"]
