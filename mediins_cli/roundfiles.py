"""The files a round writes, as frames or plans (DESIGN §7, §13): success, failure, retry,
skipped, the continuity files and one list per agency. Pure: a round's result in, frames out;
:mod:`mediins_cli.runs` writes them."""

from __future__ import annotations

import polars as pl

from mediins_cli.bank.formats import RETRYABLE, TO_DO
from mediins_cli.continuity import BREAK_COLUMNS, Continuity
from mediins_cli.inputs import agency_file_stem
from mediins_cli.money import fen_to_yuan_expr
from mediins_cli.rounds import FAILURE, SUCCESS, InvariantBroken, RoundResult
from mediins_cli.words import agency_list


def output_frames(
    result: RoundResult, extras: list[str], continuity: Continuity | None, lang: str = "en"
) -> dict[str, pl.DataFrame | pl.LazyFrame]:
    """The round's CSV files, by name, as frames or plans (written by the caller, straight to
    disk: a plan streams into its file, so the wide rows of a million debits are never copied).
    ``extras``: the enrollee file's own extra columns, carried through. ``lang``: the agency
    lists' (DESIGN §13); every other file is the same in both languages."""
    amount = fen_to_yuan_expr(pl.col("amount_fen")).alias("amount")
    base = ["enrollee_id", "name", "agency", "account_no"]
    returned = "deducted_on" in result.attempts.columns  # return mode: the bank's settle date
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
    frames: dict[str, pl.DataFrame | pl.LazyFrame] = {
        "success.csv": success,
        "failure.csv": failure,
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
        frames["retry.csv"] = retried.drop("reason")
        # whom to remind before round 2, by agency below, with why (DESIGN §13)
        lists = retried
        if returned:  # the agencies also hear of the failures to correct before next month
            lists = to_contact(result, extras)
        frames["skipped.csv"] = result.skipped.select(
            "enrollee_id",
            "name",
            "agency",
            "status",
            pl.col("skip_reason").alias("reason"),
            *extras,
        )
    if continuity is not None:
        frames["breaks.csv"] = lists = continuity.breaks.select(  # whom agencies contact
            *BREAK_COLUMNS,
            fen_to_yuan_expr(pl.col("amount_fen")).alias("amount"),
            "reason",
            "cause",
            "account_no",
            "waiting_until",
        )
        frames["resumptions.csv"] = continuity.resumptions
        frames["updates.csv"] = continuity.updates
    ours = tuple(c for c in lists.columns if c not in extras)
    for agency, rows in by_agency(lists):
        frames[f"agencies/{agency}.csv"] = agency_list(rows, lang, ours)
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


def by_agency(frame: pl.DataFrame) -> list[tuple[str, pl.DataFrame]]:
    """One list per agency, ordered by the pinyin of the name as the agencies' paper lists are
    (seed 003 §七), named by :func:`agency_file_stem` (validation refused codes that clash)."""
    from mediins_cli.pinyin import order_by_pinyin  # pypinyin loads only where lists are made

    ordered = order_by_pinyin(frame, "name", "enrollee_id").with_columns(
        agency_file_stem(pl.col("agency")).alias("__file")
    )
    codes, files = ordered.select(
        pl.col("agency").n_unique(), pl.col("__file").str.to_lowercase().n_unique()
    ).row(0)
    if codes != files:
        raise InvariantBroken("two agency codes give one file name; validation should have said")
    out = [
        (str(stem), rows.drop("__file"))
        for (stem,), rows in ordered.group_by("__file", maintain_order=True)
    ]
    return sorted(out, key=lambda item: item[0])
