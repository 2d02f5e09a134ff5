"""Resident ID check digits over whole columns, and masking of personal data (DESIGN §7)."""

from __future__ import annotations

import polars as pl
import pytest
import stdnum.cn.ric
from hypothesis import given, settings
from hypothesis import strategies as st

from mediins_cli.inputs.enrollees import _id_check_digit
from mediins_cli.mask import mask_account, mask_id, mask_name

SEVENTEEN_DIGITS = st.text(alphabet="0123456789", min_size=17, max_size=17)


def check_digits(idents: list[str]) -> list[str]:
    """The vectorised check digit over a whole column in one polars call."""
    frame = pl.DataFrame({"id": idents}, schema={"id": pl.String})
    return frame.select(_id_check_digit(pl.col("id")).alias("check"))["check"].to_list()


def stdnum_check_digit(first17: str) -> str:
    return stdnum.cn.ric.calc_check_digit(first17 + "0")  # wants a placeholder 18th character


@settings(max_examples=100, deadline=None)
@given(st.lists(SEVENTEEN_DIGITS, min_size=1, max_size=200), st.sampled_from("0123456789X"))
def test_vectorised_check_digit_agrees_with_stdnum(firsts, last):
    # whatever the 18th character holds, only the first 17 count
    assert check_digits([f + last for f in firsts]) == [stdnum_check_digit(f) for f in firsts]


def test_vectorised_check_digit_covers_every_possible_digit_and_x():
    # first 17 digits chosen so that the expected check digits run through 0-9 and X
    firsts = [f"1101011990030710{n}" for n in range(10)] + [
        f"110101199003071{n:02d}" for n in range(100)
    ]
    expected = [stdnum_check_digit(f) for f in firsts]
    assert set(expected) == set("0123456789X")
    assert check_digits([f + "0" for f in firsts]) == expected


@pytest.mark.parametrize(
    ("ident", "digit"),
    [("110101199003071233", "3"), ("110101198512310023", "3"), ("11010119900307109X", "X")],
)
def test_vectorised_check_digit_of_hand_worked_ids(ident, digit):
    assert check_digits([ident]) == [digit]
    assert stdnum.cn.ric.is_valid(ident)


@pytest.mark.parametrize(
    ("value", "masked"),
    [
        ("11010119900307123X", "110101********123X"),
        ("110101199003071234", "110101********1234"),
        ("110101900307123", "110101********7123"),  # 15-character first-generation ID
        ("E12345678", "E1*****78"),
        ("H12345", "H1**45"),
        ("E1234", "*****"),
        ("", ""),
        (None, ""),
    ],
)
def test_mask_id(value, masked):
    assert mask_id(value) == masked


def test_mask_id_never_shows_the_birth_date_of_a_resident_id():
    assert "19900307" not in mask_id("11010119900307123X")


@pytest.mark.parametrize(
    ("value", "masked"),
    [
        ("6214830012340001", "6214********0001"),
        ("6214830012345678901", "6214********8901"),  # the length is hidden too
        ("6214830001", "6214********0001"),
        ("621483001", "*********"),
        ("", ""),
        (None, ""),
    ],
)
def test_mask_account(value, masked):
    assert mask_account(value) == masked


@pytest.mark.parametrize(
    ("value", "masked"),
    [
        ("张三", "张*"),
        ("张", "张"),
        ("欧阳娜娜", "欧***"),
        ("张䶮", "张*"),
        ("𠀀三", "𠀀*"),
        ("SMITH JOHN", "S*********"),
        ("", ""),
        (None, ""),
    ],
)
def test_mask_name(value, masked):
    assert mask_name(value) == masked


def test_column_masks_agree_with_the_scalar_ones_on_ids_and_accounts():
    import polars as pl

    from mediins_cli.mask import mask_account, mask_account_expr, mask_id, mask_id_expr

    values = ["11010119900307123X", "6214830100007326", "6217991000037184525"]
    frame = pl.DataFrame({"v": values}).select(
        mask_id_expr(pl.col("v")).alias("id"), mask_account_expr(pl.col("v")).alias("acc")
    )
    assert frame["id"].to_list() == [mask_id(v) for v in values]
    assert frame["acc"].to_list() == [mask_account(v) for v in values]
