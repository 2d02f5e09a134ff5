"""The files a round writes, as frames or plans (DESIGN §7, §13): success, failure, retry,
skipped, the continuity files and one list per agency. Pure: a round's result in, frames out;
:mod:`mediins_cli.runs` writes them."""

from __future__ import annotations

import polars as pl

from mediins_cli.bank.formats import RETRYABLE, TO_DO
from mediins_cli.continuity import BREAK_COLUMNS, Continuity
from mediins_cli.inputs import agency_file_stem
from mediins_cli.money import fen_to_yuan_expr
from mediins_cli.outputs import Probed, Split, Table, formula_columns
from mediins_cli.rounds import FAILURE, SUCCESS, InvariantBroken, RoundResult
from mediins_cli.words import agency_list

#: columns none of whose cells can start like a formula, so they are not searched for one:
#: validation (:mod:`mediins_cli.inputs.enrollees`) holds an ID to 17 digits and a digit or X,
#: or to 5–24 capital letters, digits, brackets and hyphens beginning with a letter or digit,
#: and an account number to 6–32 digits (tests/test_writing.py holds it to that)
VALIDATED = ("enrollee_id", "account_no")
#: text the files carry that is longer than polars keeps inside a cell's view (12 bytes), whose
#: cells the round's sorts and joins leave scattered over the buffers they were read into
LONG = ("enrollee_id", "account_no", "reference")


def in_row_order(frame: pl.LazyFrame) -> pl.LazyFrame:
    """``frame`` with the text of its :data:`LONG` columns copied in row order: the CSV writer
    reads scattered cells far more slowly than the copy costs (success.csv of 9 M rows: 11.2 s
    of CPU written as it was, 6.2 s copied first; at 1 M 0.61 s and 0.36 s)."""
    names = frame.collect_schema().names()
    return frame.with_columns((pl.col(c) + "").alias(c) for c in LONG if c in names)


def file_of(frame: pl.DataFrame) -> Probed:
    """A file's frame as :class:`~mediins_cli.outputs.Probed`: searched here for formulas, its
    long text copied in row order as it streams into the file."""
    searched = [c for c in frame.columns if c not in VALIDATED]
    return Probed(in_row_order(frame.lazy()), formula_columns(frame, searched))


def output_frames(
    result: RoundResult, extras: list[str], continuity: Continuity | None, lang: str = "en"
) -> dict[str, Table | Split]:
    """The round's CSV files, by name, as frames or plans (written by the caller, straight to
    disk: a plan streams into its file, so the wide rows of a million debits are never copied).
    ``extras``: the enrollee file's own extra columns, carried through. ``lang``: the agency
    lists' (DESIGN §13), which come as one :class:`~mediins_cli.outputs.Split` under
    ``agencies/``; every other file is the same in both languages.

    Each comes with the columns that may hold a cell a spreadsheet would execute
    (:class:`~mediins_cli.outputs.Probed`): for the plans on the attempts, the text they carry
    from them, searched once for all (amounts and dates mediins writes hold none)."""
    amount = fen_to_yuan_expr(pl.col("amount_fen")).alias("amount")
    base = ["enrollee_id", "name", "agency", "account_no"]
    returned = "deducted_on" in result.attempts.columns  # return mode: the bank's settle date
    carried = ["name", "agency", "reference", "reason", *extras]
    formulas = formula_columns(result.attempts, carried)
    success = result.lazy(SUCCESS).select(
        *base,
        amount,
        (
            pl.col("deducted_on").dt.to_string("%Y-%m-%d")
            if returned
            else pl.lit(result.dates.effective.isoformat())
        ).alias("deducted_on"),
        "reference",
        *extras,
    )
    failure = result.lazy(FAILURE).select(
        *base,
        amount,
        "reason",
        # empty for NO_ACCOUNT: an account the bank does not know has no balance
        fen_to_yuan_expr(pl.col("balance_at_cutoff_fen")).alias("balance_at_cutoff"),
        fen_to_yuan_expr(pl.col("balance_available_fen")).alias("balance_available"),
        *extras,
    )
    frames: dict[str, Table | Split] = {
        "success.csv": Probed(in_row_order(success), formulas),
        "failure.csv": Probed(in_row_order(failure), formulas),
    }
    lists: pl.DataFrame
    if result.round == 1:
        assert result.next_dates is not None
        retry = result.lazy(FAILURE)
        if returned:  # only what round 2 attempts again (DESIGN §11)
            retry = retry.filter(pl.col("reason").is_in(RETRYABLE))
        dates = (
            pl.lit(result.next_dates.effective.isoformat()).alias("retry_on"),
            pl.lit(result.next_dates.deposit_by.isoformat()).alias("deposit_by"),
        )
        retried = retry.select(*base, amount, "reason", *dates, *extras).collect()
        frames["retry.csv"] = file_of(retried.drop("reason"))
        # whom to remind before round 2, by agency below, with why (DESIGN §13)
        lists = retried
        if returned:  # the agencies also hear of the failures to correct before next month
            lists = to_contact(result, extras)
        frames["skipped.csv"] = file_of(
            result.skipped.select(
                "enrollee_id",
                "name",
                "agency",
                "status",
                pl.col("skip_reason").alias("reason"),
                *extras,
            )
        )
    if continuity is not None:
        lists = continuity.breaks.select(  # whom agencies contact
            *BREAK_COLUMNS,
            fen_to_yuan_expr(pl.col("amount_fen")).alias("amount"),
            "reason",
            "cause",
            "account_no",
            "waiting_until",
        )
        frames["breaks.csv"] = file_of(lists)
        frames["resumptions.csv"] = file_of(continuity.resumptions)
        frames["updates.csv"] = file_of(continuity.updates)
    ours = tuple(c for c in lists.columns if c not in extras)
    frames["agencies/"] = by_agency(lists, lang, ours)
    return frames


def to_contact(result: RoundResult, extras: list[str]) -> pl.DataFrame:
    """Round 1 in return mode: every failure, what to do about it, and round 2's dates for the
    ones it retries (the permanent ones are not retried this month)."""
    assert result.next_dates is not None
    retried = pl.col("reason").is_in(RETRYABLE)
    return (
        result.lazy(FAILURE)
        .select(
            "enrollee_id",
            "name",
            "agency",
            "account_no",
            fen_to_yuan_expr(pl.col("amount_fen")).alias("amount"),
            "reason",
            pl.col("reason").replace_strict(TO_DO, default="").alias("to_do"),
            pl.when(retried)
            .then(pl.lit(result.next_dates.effective.isoformat()))
            .alias("retry_on"),
            pl.when(retried)
            .then(pl.lit(result.next_dates.deposit_by.isoformat()))
            .alias("deposit_by"),
            *extras,
        )
        .collect()
    )


def by_agency(frame: pl.DataFrame, lang: str, columns: tuple[str, ...]) -> Split:
    """One list per agency, ordered by the pinyin of the name as the agencies' paper lists are
    (seed 003 §七), named by :func:`agency_file_stem` (validation refused codes that clash), in
    ``lang`` (:func:`agency_list` of mediins's own ``columns``): ``agencies/<stem>.csv``. The
    lists are made in one frame, sorted, translated and searched for formulas once, and
    written as one text cut apart (:class:`~mediins_cli.outputs.Split`), not once per agency."""
    from mediins_cli.pinyin import order_by_pinyin  # pypinyin loads only where lists are made

    stem = agency_file_stem(pl.col("agency"))
    ordered = order_by_pinyin(frame, "name", "enrollee_id").with_columns(
        pl.concat_str(pl.lit("agencies/"), stem, pl.lit(".csv")).alias(_FILE)
    )
    codes, files = ordered.select(
        pl.col("agency").n_unique(), pl.col(_FILE).str.to_lowercase().n_unique()
    ).row(0)
    if codes != files:
        raise InvariantBroken("two agency codes give one file name; validation should have said")
    # each agency's rows together, in pinyin order within it, their long text copied in that
    # order (:func:`in_row_order`: 10 M enrollees' lists written in 0.25 s, not 0.45)
    together = in_row_order(ordered.sort(_FILE, maintain_order=True).lazy()).collect()
    lists = agency_list(together, lang, columns)
    return Split(lists, _FILE, formula_columns(lists.drop(_FILE)))


#: the column of an agency list's rows naming their file
_FILE = "__file"
