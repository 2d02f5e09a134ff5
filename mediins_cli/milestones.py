"""Milestones of round 1 (issue 11, DESIGN §12): who among those due reaches retirement.

Pure: the due enrollees and the pack's ages in, a frame out. mediins still debits them — whether
a retired enrollee stops paying depends on contribution years (002 四: 缴费未达规定年限的…缴至规定
年限; 001 第二十七条), which the master system knows — but the agencies are told ahead.
"""

from __future__ import annotations

import polars as pl

from mediins_cli.months import Month

RETIREMENT = "RETIREMENT"
#: milestones.csv's columns, in order
MILESTONE_COLUMNS = (
    "enrollee_id",
    "name",
    "agency",
    "milestone",
    "reached_on",
    "basis",
    "sex",
    "birth_date",
    "retirement_age",
)


def retirements(
    due: pl.DataFrame, month: Month, age_male: int | None, age_female: int | None
) -> pl.DataFrame:
    """Everyone of ``due`` who has reached retirement by the last day of ``month``: on the
    master system's ``retirement_date`` where it gives one (``basis`` ``retirement_date``), else
    on the birthday of the pack's age for their sex (``basis`` ``age``; 年满60周岁: the day of
    the 60th birthday, a 29 February birthday on 28 February in a common year). Nobody is
    judged by age where the pack states no age or the birth date or sex is unknown."""
    sex, birth = pl.col("sex"), pl.col("birth_date")
    none = pl.lit(None, dtype=pl.Int64)
    age = (
        pl.when(sex == "M")
        .then(pl.lit(age_male, dtype=pl.Int64) if age_male else none)
        .when(sex == "F")
        .then(pl.lit(age_female, dtype=pl.Int64) if age_female else none)
    )
    no_day = pl.lit(None, dtype=pl.Date)
    by_age = (
        pl.when(sex == "M")
        .then(birth.dt.offset_by(f"{age_male}y") if age_male else no_day)
        .when(sex == "F")
        .then(birth.dt.offset_by(f"{age_female}y") if age_female else no_day)
    )
    given = pl.col("retirement_date")
    return (
        due.select(
            "enrollee_id",
            "name",
            "agency",
            pl.lit(RETIREMENT).alias("milestone"),
            pl.coalesce(given, by_age).alias("reached_on"),
            pl.when(given.is_not_null())
            .then(pl.lit("retirement_date"))
            .otherwise(pl.lit("age"))
            .alias("basis"),
            "sex",
            "birth_date",
            pl.when(given.is_null()).then(age).alias("retirement_age"),
        )
        .filter(pl.col("reached_on") <= month.last_day)
        .sort("enrollee_id")
    )
