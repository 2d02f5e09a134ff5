"""Rows in enrollee_id order by an integer key (mediins_cli.order): the same order as the text."""

from __future__ import annotations

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from mediins_cli.order import ID_KEY, by_id, id_key, id_order, take_rows

RIC = st.builds(
    lambda digits, check: digits + check,
    st.text("0123456789", min_size=17, max_size=17),
    st.sampled_from("0123456789X"),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(RIC, max_size=40), st.booleans())
def test_resident_ids_order_as_their_text(ids: list[str], doubled: bool) -> None:
    if doubled:  # ties keep the frame's order, as a stable sort of the text would
        ids = ids + ids[: len(ids) // 2]
    frame = pl.DataFrame({"enrollee_id": ids, "n": range(len(ids))})
    assert by_id(frame).rows() == frame.sort("enrollee_id", maintain_order=True).rows()


@settings(max_examples=100, deadline=None)
@given(st.lists(st.one_of(RIC, st.text("0123456789Xx-AB", max_size=20)), max_size=40))
def test_any_other_text_orders_as_the_text(ids: list[str]) -> None:
    frame = pl.DataFrame({"enrollee_id": ids, "n": range(len(ids))})
    assert by_id(frame).rows() == frame.sort("enrollee_id", maintain_order=True).rows()


def test_the_check_character_x_comes_after_every_digit() -> None:
    frame = pl.DataFrame({"enrollee_id": ["11010519491231002X", "110105194912310029"]})
    assert id_order(frame).to_list() == [1, 0]
    assert by_id(frame)["enrollee_id"].to_list() == ["110105194912310029", "11010519491231002X"]


def test_a_sorted_frame_is_returned_as_it_is() -> None:
    frame = pl.DataFrame({"enrollee_id": ["110105194912310019", "110105194912310028"]})
    assert by_id(frame) is frame
    assert id_order(frame).to_list() == [0, 1]


def test_take_rows_releasing_the_frame_gives_the_same_rows_and_empties_it() -> None:
    frame = pl.DataFrame(
        {"enrollee_id": ["C", "A", "B"], "name": ["丙", "甲", "乙"], "amount_fen": [3, 1, 2]}
    )
    rows = [pl.Series([1, 2], dtype=pl.UInt32), pl.Series([0], dtype=pl.UInt32)]
    kept = take_rows(frame, rows)
    taken = take_rows(frame.clone(), rows, release=True)
    assert [t.rows() for t in taken] == [k.rows() for k in kept]
    assert taken[0].columns == frame.columns  # an odd number of columns, in order
    assert kept[0]["enrollee_id"].to_list() == ["A", "B"]
    released = frame.clone()
    take_rows(released, rows, release=True)
    assert released.width == 0  # its columns were let go as they were copied


def test_by_id_releasing_the_frame_sorts_it_the_same_and_empties_it() -> None:
    frame = pl.DataFrame({"enrollee_id": ["C", "A", "B"], "n": [3, 1, 2]})
    released = frame.clone()
    assert (
        by_id(released, release=True).rows()
        == by_id(frame).rows()
        == frame.sort("enrollee_id").rows()
    )
    assert released.width == 0


@settings(max_examples=100, deadline=None)
@given(st.lists(st.one_of(RIC, RIC, st.text("0123456789Xx-AB", max_size=20)), max_size=40))
def test_given_the_keys_by_id_sorts_as_without_and_drops_them(ids: list[str]) -> None:
    """A frame carrying its IDs' keys (ID_KEY, as the enrollee check makes them) is sorted by
    them as by_id would sort it making them, whether or not every ID has the shape (then the
    text decides), and the keys are not in the result; released, the frame is emptied."""
    frame = pl.DataFrame({"enrollee_id": pl.Series(ids, dtype=pl.String), "n": range(len(ids))})
    keyed = frame.with_columns(id_key().alias(ID_KEY))
    expected = frame.sort("enrollee_id", maintain_order=True)
    assert by_id(keyed).equals(expected)
    assert keyed.columns == ["enrollee_id", "n", ID_KEY]  # not released: left as it was
    assert by_id(keyed, release=True).equals(expected)
    assert ID_KEY not in keyed.columns  # taken out of it
    assert keyed.width == 0 or keyed["enrollee_id"].is_sorted()  # emptied, unless in order
