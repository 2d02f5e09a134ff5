"""Exact money (STYLE §5, DESIGN §3): yuan text to integer fen and back, no float anywhere."""

from __future__ import annotations

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mediins_cli.money import fen_to_yuan, fen_to_yuan_expr, yuan_is_valid, yuan_to_fen

FEN = st.integers(min_value=-(10**12), max_value=10**12)


def parse(texts: list[str | None]) -> pl.Series:
    """yuan_to_fen over a whole Series of strings at once."""
    column = pl.lit(pl.Series("yuan", texts, dtype=pl.String))
    return pl.select(yuan_to_fen(column).alias("fen"))["fen"]


def format_column(fens: list[int | None]) -> list[str | None]:
    frame = pl.DataFrame({"fen": fens}, schema={"fen": pl.Int64})
    return frame.select(fen_to_yuan_expr(pl.col("fen")).alias("yuan"))["yuan"].to_list()


@pytest.mark.parametrize(
    ("text", "fen"),
    [
        ("703.53", 70353),
        ("703.5", 70350),
        ("703", 70300),
        ("-0.05", -5),
        ("-0.5", -50),
        ("+12.30", 1230),
        ("0.01", 1),
        ("0", 0),
        ("-0", 0),
        ("007.10", 710),
        ("999999999999999.99", 99999999999999999),
    ],
)
def test_well_formed_yuan_become_exact_fen(text, fen):
    assert parse([text]).to_list() == [fen]


@pytest.mark.parametrize(
    "text",
    [
        "703.535",
        "1.025",
        "1e3",
        "1E3",
        "1,000.00",
        "1 000",
        " 1.00",
        "1.00 ",
        "5.",
        ".5",
        "-",
        "+-1",
        "--1",
        "¥1.00",
        "1.00元",
        "0x10",
        "NaN",
        "inf",
        "",
        "１２３",
        "1234567890123456",
    ],
)
def test_malformed_yuan_become_null_never_a_rounded_number(text):
    assert parse([text]).to_list() == [None]
    assert pl.select(yuan_is_valid(pl.lit(text))).item() is False


def test_a_whole_column_parses_at_once_to_int64_with_nulls_kept():
    fen = parse(["703.53", None, "1e3", "-0.05", "703.5"])
    assert fen.dtype == pl.Int64
    assert fen.to_list() == [70353, None, None, -5, 70350]


@pytest.mark.parametrize(
    ("fen", "text"),
    [
        (123456, "1234.56"),
        (-5, "-0.05"),
        (0, "0.00"),
        (70350, "703.50"),
        (-100, "-1.00"),
        (7, "0.07"),
    ],
)
def test_fen_to_yuan_writes_two_decimals_and_a_minus_only_below_zero(fen, text):
    assert fen_to_yuan(fen) == text
    assert format_column([fen]) == [text]


@settings(max_examples=300, deadline=None)
@given(FEN)
def test_formatting_then_parsing_gives_back_the_same_fen(fen):
    assert parse([fen_to_yuan(fen)]).to_list() == [fen]


@settings(max_examples=50, deadline=None)
@given(st.lists(FEN, max_size=40))
def test_formatting_then_parsing_a_whole_column_gives_back_the_same_fen(fens):
    assert parse([fen_to_yuan(f) for f in fens]).to_list() == fens


@settings(max_examples=100, deadline=None)
@given(st.lists(st.one_of(FEN, st.none()), max_size=40))
def test_the_column_formatter_agrees_with_the_scalar_one(fens):
    assert format_column(fens) == [None if f is None else fen_to_yuan(f) for f in fens]


@given(
    st.lists(
        st.one_of(
            st.from_regex(r"[+-]?[0-9]{1,18}(\.[0-9]{0,3})?", fullmatch=True),
            st.text("0123456789+-.eE ,"),
            st.text(),
        ),
        max_size=40,
    )
)
@settings(deadline=None)
def test_an_amount_has_fen_exactly_where_it_is_in_the_pattern(texts):
    """The enrollee check tells a premium out of the pattern by its null fen
    (table._amount_check), not by searching it again."""
    got = pl.DataFrame({"t": ["+5", "1.", ".5", "9" * 15 + ".99", "9" * 16, *texts]}).select(
        valid=yuan_is_valid(pl.col("t")), fen=yuan_to_fen(pl.col("t")).is_not_null()
    )
    assert got["fen"].to_list() == got["valid"].to_list()
