"""Rows in ``enrollee_id`` order, cheaply (DESIGN §10).

Every file a round writes is in ``enrollee_id`` order, and a province's enrollee file need not
be. Sorting millions of rows by their ID text is the costliest sort a round does; but a resident
ID (18 characters: 17 digits and a check character, a digit or ``X``) orders exactly as the
integer of its 17 digits times 11 plus its check character (``X`` as 10): the texts have one
length, and ``X`` comes after every digit. When every ID has that shape the rows are sorted by
that integer (a third of the time, measured); otherwise by the text. Ties keep the rows' order.

Rows put in order here have their ID column flagged as sorted (:func:`in_order`): a column of
gathered rows holds its IDs scattered over memory, and comparing them all again to learn it is
in order took 0.4 s for 10 M each time a later step asked (the debit twice, the references).
The round's invariants compare them all the same, trusting no flag
(:func:`mediins_cli.rounds.check_invariants`).
"""

from __future__ import annotations

import polars as pl

from mediins_cli.frames import streamed

#: a resident ID's shape, once upper-cased (the enrollee check upper-cases the ID)
RIC_SHAPE = r"^[0-9]{17}[0-9X]$"


#: the column of a frame's :func:`id_key`, where the enrollee check made it in its pass
#: (``check_enrollees(keys=…)``): a round 1 then need not make it again (10 M: 0.55 s)
ID_KEY = "__id_key"


def id_key(column: str = "enrollee_id", shaped: pl.Expr | None = None) -> pl.Expr:
    """The integer an ID orders as where it has a resident ID's shape (the module's docstring),
    else null. ``shaped``: ``column`` matched against :data:`RIC_SHAPE` already, if it is."""
    text = pl.col(column)
    number = text.str.slice(0, 17).str.to_integer(dtype=pl.Int64, strict=False) * 11
    check = text.str.slice(17).replace({"X": "10"}).cast(pl.Int64, strict=False)
    shape = text.str.contains(RIC_SHAPE) if shaped is None else shaped
    return pl.when(shape).then(number + check)


def id_order(
    frame: pl.DataFrame, column: str = "enrollee_id", keys: pl.Series | None = None
) -> pl.Series:
    """The row numbers of ``frame`` in ``column`` order (ties in the frame's order).
    ``keys``: :func:`id_key` of the column, if made already."""
    ids = frame.get_column(column)
    if ids.is_sorted():
        return pl.Series("order", range(frame.height), dtype=pl.get_index_type())
    if keys is None:
        # the integer where an ID has the shape, else null, in one pass (10 M: 0.5 s; the
        # shape and then the integers over the whole column, each on one core, 1 s)
        keys = streamed(frame.lazy().select(id_key(column).alias(column))).get_column(column)
    by = (keys if keys.null_count() == 0 else ids).alias(column)
    return by.to_frame().select(pl.arg_sort_by(column, maintain_order=True).alias("order"))["order"]


def by_id(
    frame: pl.DataFrame, column: str = "enrollee_id", *, release: bool = False
) -> pl.DataFrame:
    """``frame`` sorted by ``column`` (itself when it already is), as ``frame.sort(column,
    maintain_order=True)`` would give it, without its :data:`ID_KEY` (the sort keys of
    ``column``, if it holds them). ``release``: see :func:`take_rows`."""
    keys, frame = taken_keys(frame, release=release)
    if frame.get_column(column).is_sorted():
        return frame
    order = id_order(frame, column, keys)
    del keys
    return in_order(take_rows(frame, [order], release=release)[0], column)


def taken_keys(
    frame: pl.DataFrame, *, release: bool = False
) -> tuple[pl.Series | None, pl.DataFrame]:
    """``frame``'s :data:`ID_KEY` (None without one) and ``frame`` without it: taken out of
    the frame itself with ``release`` (the caller hands it over: see :func:`take_rows`)."""
    if ID_KEY not in frame.columns:
        return None, frame
    if release:
        return frame.drop_in_place(ID_KEY), frame
    return frame.get_column(ID_KEY), frame.drop(ID_KEY)


def in_order(frame: pl.DataFrame, column: str = "enrollee_id") -> pl.DataFrame:
    """``frame``, whose rows :func:`id_order` has put in ``column`` order, with ``column``
    flagged as sorted (see the module's docstring)."""
    return frame.with_columns(pl.col(column).set_sorted())


def take_rows(
    frame: pl.DataFrame, rows: list[pl.Series], *, release: bool = False
) -> list[pl.DataFrame]:
    """For each series of row numbers in ``rows``, those rows of ``frame`` in that order.

    Made two columns at a time (polars gathers them on both cores). With ``release`` each
    column is taken out of ``frame`` as soon as it is copied, so a province's wide rows are held
    once plus two columns, not twice (DESIGN §10); ``frame`` is then left empty, and the caller
    must not use it again."""
    if not release:
        return [frame[r] for r in rows]
    parts: list[list[pl.Series]] = [[] for _ in rows]
    names = frame.columns
    for start in range(0, len(names), 2):
        columns = pl.DataFrame([frame.drop_in_place(n) for n in names[start : start + 2]])
        for part, r in zip(parts, rows, strict=True):
            part.extend(columns[r].get_columns())
        del columns
    return [pl.DataFrame(part) for part in parts]
