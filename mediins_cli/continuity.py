"""Continuity after round 2 (DESIGN §5): who now has a gap, what it means, what follows.

Pure: frames, a month and the rule pack's values in; frames out. Every rule is a value of the
pack (window in days or months, waiting period and its reset, suspension, back-payment); there
are no region names here.

One number carries the window: ``R``, the last month in which paying again still keeps the record
continuous, for a gap that began in month ``S``. Months unit: R = S + length (a gap of up to
``length`` months keeps continuity, seeds 002 and 004). Days unit: R = S + n, n the number of
months S, S..S+1, … whose calendar days, first day of S to last day of the last, stay within the
window (seed 000 §七(二): 60 days; Feb–Mar 2024 is 60 days, Mar–Apr 2024 is 61). A gap that is
still open in month M is inside the window while M < R, lost in month R, lost before after it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

import polars as pl

from mediins_cli.frames import one_piece, per_value
from mediins_cli.months import Month
from mediins_cli.order import ID_KEY, by_id
from mediins_cli.rules import RulePack

# Categories of an enrollee due this month and still unpaid after round 2 (breaks.csv).
NEW_BREAK = "NEW_BREAK"
ONGOING = "ONGOING"
CONTINUITY_LOST = "CONTINUITY_LOST"
LOST_BEFORE = "LOST_BEFORE"
WAITING_RESET = "WAITING_RESET"
BREAK_CATEGORIES = (NEW_BREAK, ONGOING, WAITING_RESET, CONTINUITY_LOST, LOST_BEFORE)

# Categories of an enrollee who paid this month after a gap (resumptions.csv).
RESUMED_CONTINUOUS = "RESUMED_CONTINUOUS"
RESUMED_WAITING_RESET = "RESUMED_WAITING_RESET"
RESUMED_NEW_ENROLLMENT = "RESUMED_NEW_ENROLLMENT"
RESUMPTION_CATEGORIES = (RESUMED_CONTINUOUS, RESUMED_WAITING_RESET, RESUMED_NEW_ENROLLMENT)

PAID = "PAID"  # paid this month with no gap behind (updates.csv)
#: a first payment (no paid_through, no waiting_until before): the waiting period starts the
#: day after it (001 第十九条: 首次参保…设置待遇享受等待期…从缴费成功次日起计算; 002 二)
FIRST_PAYMENT = "FIRST_PAYMENT"
#: a first payment of someone enrolled within the pack's window after earlier coverage ended
#: (000 §六: 按照连续缴费处理; 002 二: 视作连续参保，不设待遇享受等待期): no waiting period
CONTINUOUS_TRANSFER = "CONTINUOUS_TRANSFER"

# Why a gap (DESIGN §5): seed 000 §七's consequences are written for gaps 因个人原因; an account
# problem is reported for correction, with the same dates; the bank's own failure says so.
PERSONAL = "PERSONAL"
ACCOUNT_PROBLEM = "ACCOUNT_PROBLEM"
BANK = "BANK"
CAUSES = (PERSONAL, ACCOUNT_PROBLEM, BANK)


def cause(reason: pl.Expr) -> pl.Expr:
    """The cause of a gap from the failed debit's reason: ``PERSONAL`` for lack of funds,
    ``BANK`` for the bank's own failure, ``ACCOUNT_PROBLEM`` for every other (no such account,
    closed, frozen, name mismatch, no agreement)."""
    return (
        pl.when(reason == "INSUFFICIENT_FUNDS")
        .then(pl.lit(PERSONAL))
        .when(reason == "BANK_ERROR")
        .then(pl.lit(BANK))
        .when(reason.is_not_null())
        .then(pl.lit(ACCOUNT_PROBLEM))
    )


#: breaks.csv's columns of DESIGN §8, in order
BREAK_COLUMNS = (
    "enrollee_id",
    "name",
    "agency",
    "category",
    "unpaid_since",
    "unpaid_months",
    "unpaid_days",
    "resume_by_month",
    "benefits_suspended_from",
    "backpay_until",
    "backpay_channel",
)


@dataclass(frozen=True)
class ContinuityRules:
    """The values of a rule pack this module uses, as plain data."""

    window_unit: str  # "days" | "months"
    window_length: int
    waiting_unit: str  # "days" | "months"
    waiting_length: int
    reset_gap_months: int | None
    suspension: str | None  # "month_after_unpaid" | None
    backpay: str  # "never" | "within_window"
    backpay_months: int | None
    backpay_channel: str | None
    transfer_unit: str | None = None  # "days" | "months" | None: the pack gives no window
    transfer_length: int | None = None

    @classmethod
    def of(cls, pack: RulePack) -> ContinuityRules:
        return cls(
            window_unit=pack.continuity.window_unit.value,
            window_length=pack.continuity.window_length.value,
            waiting_unit=pack.waiting_period.unit.value,
            waiting_length=pack.waiting_period.length.value,
            reset_gap_months=pack.waiting_period.reset_gap_months.value,
            suspension=pack.suspension.benefits_suspended_from.value,
            backpay=pack.backpay.allowed.value,
            backpay_months=pack.backpay.within_months.value,
            backpay_channel=pack.backpay.channel.value,
            transfer_unit=pack.transfer.window_unit.value,
            transfer_length=pack.transfer.window_length.value,
        )


@dataclass(frozen=True)
class Continuity:
    breaks: pl.DataFrame
    resumptions: pl.DataFrame
    updates: pl.DataFrame


# --------------------------------------------------------------------------- month arithmetic


def month_index(d: pl.Expr) -> pl.Expr:
    """A date's month as a count of months (year·12 + month − 1)."""
    return d.dt.year().cast(pl.Int32) * 12 + d.dt.month().cast(pl.Int32) - 1


def first_day(index: pl.Expr) -> pl.Expr:
    """The first day of the month with this index."""
    return pl.date(index // 12, index % 12 + 1, 1)


def last_day(index: pl.Expr) -> pl.Expr:
    return first_day(index + 1).dt.offset_by("-1d")


def _index_of(month: Month) -> int:
    return month.year * 12 + month.month - 1


def resume_by_index(start: pl.Expr, rules: ContinuityRules) -> pl.Expr:
    """R: the last month whose payment keeps continuous a gap that began in month ``start``."""
    if rules.window_unit == "months":
        return start + rules.window_length
    # Days: count the spans S..S+k (k = 0, 1, …) that stay within the window; the count grows
    # with k and stops, so R = S + that count. Bounded: a month has at least 28 days.
    spans = []
    for k in range(rules.window_length // 28 + 2):
        days = (first_day(start + k + 1) - first_day(start)).dt.total_days()
        spans.append((days <= rules.window_length).cast(pl.Int32))
    return start + pl.sum_horizontal(spans)


def _yyyymm(index: pl.Expr) -> pl.Expr:
    return first_day(index).dt.strftime("%Y-%m")


def new_waiting_until(paid_on: pl.Expr, rules: ContinuityRules) -> pl.Expr:
    """Last day of a waiting period that begins the day after ``paid_on`` (DESIGN §5; 001 第十九条:
    从缴费成功次日起计算). Days: 180 days after a debit on 2024-02-18 are 02-19 … 08-16.
    Months, as the Civil Code counts them (第二百零一条: the first day is not counted;
    第二百零三条: the period ends on the corresponding day of the last month, or on its last day
    when there is none): 3 months after 2024-02-18 end on 2024-05-18, after 2024-11-30 on
    2025-02-28."""
    if rules.waiting_unit == "days":
        return paid_on.dt.offset_by(f"{rules.waiting_length}d")
    return paid_on.dt.offset_by(f"{rules.waiting_length}mo")  # polars clamps to the month end


# --------------------------------------------------------------------------- the month's picture


def assess(
    due: pl.DataFrame | pl.LazyFrame,
    month: Month,
    paid: pl.DataFrame,
    unpaid: pl.DataFrame,
    rules: ContinuityRules,
    details: pl.DataFrame | None = None,
) -> Continuity:
    """Breaks, resumptions and updates for everyone ``due`` in ``month``.

    ``due``: the enrollees attempted in round 1 (typed enrollee columns; a frame or a plan;
    with their IDs' sort keys, :data:`.order.ID_KEY`, if the enrollee check made them).
    ``paid``: ``enrollee_id, paid_on, reference`` of this month's successful debits (either
    round).
    ``unpaid``: ``enrollee_id, amount_fen, reason`` of round 2's failures. ``details``: the
    :data:`LOOKED_UP` columns of the enrollee file's rows, when ``due`` does not hold
    :data:`DETAILS` but numbers its rows in that file (``__enrollee_row``): a province's
    names are then never copied.
    """
    m = _index_of(month)
    s = pl.col("__s")
    # who the enrollee is (ID, name, agency, account) matters only on the few rows of
    # breaks.csv and resumptions.csv, and in updates.csv's order: it is looked up by row there,
    # not carried through the join of everyone (10 M: 0.2 GiB less at continuity's peak)
    if details is None:
        assert isinstance(due, pl.DataFrame)
        details = due.select(LOOKED_UP)
        due = due.drop(DETAILS).with_row_index("__enrollee_row")
    # one plan, made once: a province's due rows are not copied join by join. Only the
    # payments are joined to everyone; the failures (amount and reason) only to the rows
    # unpaid, for breaks.csv
    frame = _paid_joined(due.lazy(), paid, by_hash=True)
    if not _matched_alike(frame, paid):  # two IDs of one hash (at 10 M, about one month in 200,000)
        frame = _paid_joined(due.lazy(), paid, by_hash=False)
    frame = frame.drop("enrollee_id")
    # one piece a column at a time: gathers over the joined frame's pieces took twice as long,
    # and polars may keep a column of it as one value repeated, over which a when/then of two
    # literals gave one row for many (polars 2.1; tests/test_properties.py SHARED_UNPAID)
    frame = one_piece(frame)
    # the payments' references alone are read again (by row, for resumptions.csv): the rest
    # goes, unless the caller holds it (runs._continuity does not; 10 M: 0.3 GB)
    paid = paid.select("reference")
    # R depends on S alone: worked out once per month a gap can begin, not once per enrollee
    frame = frame.with_columns(
        per_value(frame, "__s", lambda v: resume_by_index(v, rules)).alias("__r")
    )
    # Seed 000 §七(一): a gap of N months or more that begins inside the waiting period resets it.
    # (waiting_until on or after the first day of month S: its month is S or later)
    waiting = pl.col("waiting_until")
    in_waiting = waiting.is_not_null() & (month_index(waiting) >= s)
    if rules.reset_gap_months is None:
        resets_open = resets_closed = pl.lit(False)
    else:
        resets_open = in_waiting & (pl.lit(m) - s + 1 >= rules.reset_gap_months)  # gap S..M
        resets_closed = in_waiting & (pl.lit(m) - s >= rules.reset_gap_months)  # gap S..M-1

    # Everyone due has one event this month: a break (unpaid after round 2), a resumption (paid
    # after a gap), a first payment, or simply paid. It is a column of the one frame, which
    # updates.csv is selected from: no join of a province's rows back onto themselves.
    paid_now = pl.col("paid_on").is_not_null()
    # never paid and never given a waiting period: a first payment, not a resumption
    first_time = pl.col("paid_through").is_null() & pl.col("waiting_until").is_null()
    resumed = paid_now & (s < m) & ~first_time
    transferred = _transferred(frame, rules)
    resumption = _resumption_category(m, resets_closed)
    frame = frame.with_columns(
        pl.when(~paid_now)
        .then(_break_category(m, resets_open))
        .when(resumed)
        .then(resumption)
        .when(first_time)
        .then(
            pl.when(transferred).then(_event(CONTINUOUS_TRANSFER)).otherwise(_event(FIRST_PAYMENT))
        )
        .otherwise(_event(PAID))
        .cast(pl.Categorical)
        .alias("__event"),
        # a waiting period begins the day after the payment: a first payment (not one made
        # continuous by a transfer), or a resumption that is not continuous
        pl.when(
            (paid_now & first_time & ~transferred) | (resumed & (resumption != RESUMED_CONTINUOUS))
        )
        # (a month's few payment dates, each worked out once)
        .then(per_value(frame, "paid_on", lambda d: new_waiting_until(d, rules)))
        .alias("__new_waiting"),
    )
    # the rows shown are few: their IDs, who they are and (breaks) what failed, by row
    unpaid_rows = _with_details(frame.filter(~paid_now), details).join(
        unpaid.select("enrollee_id", "amount_fen", pl.col("reason").cast(pl.Categorical)),
        on="enrollee_id",
        how="left",
        maintain_order="left",
    )
    breaks = _breaks(unpaid_rows, m, rules)
    resumed_rows = _with_details(frame.filter(resumed), details)
    references = paid.get_column("reference").gather(resumed_rows.get_column("__paid_row"))
    resumptions = _resumptions(resumed_rows.with_columns(references), m, rules)
    # the rest of the assessed frame goes; the IDs of everyone, by row, for updates.csv
    frame = frame.select(
        details.get_column("enrollee_id").gather(frame.get_column("__enrollee_row")),
        *(c for c in _UPDATES_READS if c != "enrollee_id"),
        *(c for c in (ID_KEY,) if c in frame.columns),  # by_id sorts by them
    )
    del details
    updates = _updates(frame, month)
    return Continuity(breaks, resumptions, updates)


#: the columns of the assessed frame :func:`_updates` reads
_UPDATES_READS = (
    "enrollee_id",
    "paid_on",
    "paid_through",
    "waiting_until",
    "__new_waiting",
    "__event",
)


#: the enrollee columns only breaks.csv and resumptions.csv show
DETAILS = ("name", "agency", "account_no")

#: the enrollee columns assess looks up by row (``details``), not joins: the ID (which only
#: the few rows shown and updates.csv's order need once the payments are joined) and DETAILS
LOOKED_UP = ("enrollee_id", *DETAILS)


def _paid_joined(due: pl.LazyFrame, paid: pl.DataFrame, *, by_hash: bool) -> pl.DataFrame:
    """Everyone ``due`` with their payment this month, if any: ``paid_on`` and the row of
    ``paid`` (``__paid_row``; the debit's reference is looked up by row, for resumptions.csv
    alone), and ``__s``, the first month of a gap.

    ``by_hash``: joined by a 64-bit hash of the ID, not by its text (10 M due and 9 M paid:
    1.9 s, not 2.8; 3.0 s of CPU, not 5.6), which :func:`_matched_alike` must then confirm."""
    payments = paid.lazy().select(
        "enrollee_id", "paid_on", pl.int_range(pl.len(), dtype=pl.UInt32).alias("__paid_row")
    )
    if by_hash:
        key = _id_hash().alias("__id_hash")
        joined = due.with_columns(key).join(
            payments.select(key, "paid_on", "__paid_row"), on="__id_hash", how="left"
        )
        joined = joined.drop("__id_hash")
    else:
        joined = due.join(payments, on="enrollee_id", how="left")
    return joined.with_columns(
        # the first unpaid month: the month after paid_through, but never before coverage
        # (re)starts, the month after (re-)enrollment (seed 000 §五: 新参保与续保的参保起始日期
        # 为办理参（续）保手续的次月): a lapse before a re-enrollment is not this gap
        pl.max_horizontal(
            month_index(pl.col("paid_through")) + 1,
            month_index(pl.col("enrolled_on")) + 1,
        ).alias("__s")
    ).collect(engine="streaming")


def _id_hash() -> pl.Expr:
    """The hash :func:`_paid_joined` joins by (a test puts one that collides in its place)."""
    return pl.col("enrollee_id").hash()


def _matched_alike(frame: pl.DataFrame, paid: pl.DataFrame) -> bool:
    """Whether every row of ``frame`` joined by hash (:func:`_paid_joined`) holds the ID of the
    payment it was matched to. Then the join is the text's: equal IDs hash alike, so none was
    missed, and an ID matched to another's payment, or to two, would show here. Compared in a
    streaming pass, gathered from the payments' IDs made one piece (10 M: 0.4 s; gathered
    from the pieces of a streamed read, on one core, 3 s)."""
    ids = paid.get_column("enrollee_id").rechunk()
    matched = pl.lit(ids).gather(pl.col("__paid_row"))
    alike = (pl.col("__paid_row").is_null() | (pl.col("enrollee_id") == matched)).all()
    return bool(frame.lazy().select(alike).collect(engine="streaming").item())


def _with_details(rows: pl.DataFrame, details: pl.DataFrame) -> pl.DataFrame:
    """``rows`` of the due frame with their :data:`LOOKED_UP` columns again, by row number."""
    return rows.hstack(details[rows.get_column("__enrollee_row")])


def _transferred(frame: pl.DataFrame, rules: ContinuityRules) -> pl.Expr:
    """True where the enrollment came within the pack's transfer window after the earlier
    coverage ended (``prior_coverage_end``): days counted from that day (000 §六: 之日起60天内),
    months as the Civil Code counts them (002 二: 3个月内). False where the pack gives no
    window or the file has no such date."""
    if rules.transfer_unit is None or "prior_coverage_end" not in frame.columns:
        return pl.lit(False)
    end = pl.col("prior_coverage_end")
    unit = "d" if rules.transfer_unit == "days" else "mo"
    limit = end.dt.offset_by(f"{rules.transfer_length}{unit}")
    return (end.is_not_null() & (pl.col("enrolled_on") <= limit)).fill_null(False)


#: every event of a month, as the one-byte codes the month's picture is worked out in: the
#: branches of a ``when`` over everyone due were each a column of text (10 M: 0.65 GiB at
#: continuity's peak); the event is made a category of its text once decided
EVENTS = pl.Enum(
    [*BREAK_CATEGORIES, *RESUMPTION_CATEGORIES, PAID, FIRST_PAYMENT, CONTINUOUS_TRANSFER]
)


def _event(name: str) -> pl.Expr:
    return pl.lit(name, dtype=EVENTS)


def _break_category(m: int, resets: pl.Expr) -> pl.Expr:
    """What a gap still open in month ``m`` means (breaks.csv's category)."""
    s, r = pl.col("__s"), pl.col("__r")
    return (
        pl.when(pl.lit(m) == r)
        .then(_event(CONTINUITY_LOST))
        .when(pl.lit(m) > r)
        .then(_event(LOST_BEFORE))
        .when(resets)
        .then(_event(WAITING_RESET))
        .when(s == m)
        .then(_event(NEW_BREAK))
        .otherwise(_event(ONGOING))
    )


def _resumption_category(m: int, resets: pl.Expr) -> pl.Expr:
    """What paying in month ``m`` after a gap means (resumptions.csv's category)."""
    return (
        pl.when(pl.lit(m) > pl.col("__r"))
        .then(_event(RESUMED_NEW_ENROLLMENT))
        .when(resets)
        .then(_event(RESUMED_WAITING_RESET))
        .otherwise(_event(RESUMED_CONTINUOUS))
    )


def _breaks(frame: pl.DataFrame, m: int, rules: ContinuityRules) -> pl.DataFrame:
    s, r = pl.col("__s"), pl.col("__r")
    open_window = pl.lit(m) < r
    if rules.suspension == "month_after_unpaid":
        suspended = _yyyymm(s + 1)
    else:
        suspended = pl.lit(None, dtype=pl.String)
    backpay_until, channel = _backpay(rules, open_window)
    return by_id(
        frame.select(
            "enrollee_id",
            "name",
            "agency",
            pl.col("__event").alias("category"),
            _yyyymm(s).alias("unpaid_since"),
            (pl.lit(m) - s + 1).alias("unpaid_months"),
            (first_day(pl.lit(m) + 1) - first_day(s)).dt.total_days().alias("unpaid_days"),
            pl.when(open_window).then(_yyyymm(r)).alias("resume_by_month"),
            suspended.alias("benefits_suspended_from"),
            backpay_until.cast(pl.String).alias("backpay_until"),
            channel.alias("backpay_channel"),
            "amount_fen",
            "reason",
            cause(pl.col("reason")).alias("cause"),
            "account_no",
            "waiting_until",
        )
    )


def _resumptions(frame: pl.DataFrame, m: int, rules: ContinuityRules) -> pl.DataFrame:
    s, r = pl.col("__s"), pl.col("__r")
    backpay_until, channel = _backpay(rules, pl.lit(m) <= r)
    return by_id(
        frame.select(
            "enrollee_id",
            "name",
            "agency",
            pl.col("__event").alias("category"),
            _yyyymm(s).alias("gap_since"),
            (pl.lit(m) - s).alias("gap_months"),
            (first_day(pl.lit(m)) - first_day(s)).dt.total_days().alias("gap_days"),
            "paid_on",
            "reference",
            pl.when(pl.col("__new_waiting").is_not_null())
            .then(pl.col("paid_on").dt.offset_by("1d"))
            .alias("waiting_from"),
            pl.col("__new_waiting").alias("waiting_until"),
            backpay_until.alias("backpay_until"),
            channel.alias("backpay_channel"),
        )
    )


def _backpay(rules: ContinuityRules, open_window: pl.Expr) -> tuple[pl.Expr, pl.Expr]:
    """Until when, and where, the unpaid months of a gap can be paid afterwards: within the
    pack's months while the window is open, never through bank withholding (000 §七, 004)."""
    s, r = pl.col("__s"), pl.col("__r")
    if rules.backpay != "within_window" or rules.backpay_months is None:
        return pl.lit(None, dtype=pl.String), pl.lit("none")
    deadline = pl.min_horizontal(r, s + rules.backpay_months)
    until = pl.when(open_window).then(last_day(deadline).dt.strftime("%Y-%m-%d"))
    channel = (
        pl.when(open_window)
        .then(pl.lit(rules.backpay_channel))
        .otherwise(pl.lit("none: past the window"))
    )
    return until, channel


def _updates(frame: pl.DataFrame, month: Month) -> pl.DataFrame:
    """The new ``paid_through`` and ``waiting_until`` of everyone due (DESIGN §8 updates.csv),
    from the :data:`_UPDATES_READS` of the assessed frame, which is emptied as it is put in ID
    order a column pair at a time: its rows are not held twice (10 M: ~0.8 GiB less)."""
    frame = by_id(frame, release=True)
    before = per_value(frame, "paid_through", lambda d: d.dt.strftime("%Y-%m").cast(pl.Categorical))
    return frame.select(
        "enrollee_id",
        pl.when(pl.col("paid_on").is_not_null())
        .then(pl.lit(str(month), dtype=pl.Categorical))
        .otherwise(before)
        .alias("paid_through"),
        pl.coalesce(pl.col("__new_waiting"), pl.col("waiting_until")).alias("waiting_until"),
        before.alias("paid_through_before"),
        pl.col("waiting_until").alias("waiting_until_before"),
        pl.col("__event").alias("event"),
    )


# --------------------------------------------------------------------------- summary


def summarize_continuity(result: Continuity, next_round: date | None) -> dict[str, Any]:
    """Counts (no personal data) for summary.json and the terminal."""
    from mediins_cli.money import fen_to_yuan, sum_fen, total_fen

    b = result.breaks
    by_category = dict(b.group_by("category").len().sort("category").iter_rows())
    by_agency = (
        b.group_by("agency")
        .agg(pl.len().alias("breaks"), total_fen(pl.col("amount_fen")).alias("amount_fen"))
        .sort(["breaks", "agency"], descending=[True, False])
    )
    lengths = (
        b.select(pl.col("unpaid_months").clip(upper_bound=4).alias("months"))
        .group_by("months")
        .len()
        .sort("months")
    )
    resume_by = (
        b.filter(pl.col("resume_by_month").is_not_null())
        .group_by("resume_by_month")
        .len()
        .sort("resume_by_month")
    )
    return {
        "breaks": b.height,
        "by_category": {k: by_category.get(k, 0) for k in BREAK_CATEGORIES},
        "by_cause": dict(b.group_by("cause").len().sort("cause").iter_rows()),
        "by_agency": [
            {"agency": a, "breaks": n, "amount": fen_to_yuan(f)}
            for a, n, f in by_agency.iter_rows()
        ],
        "unpaid_months": {("4+" if k == 4 else str(k)): n for k, n in lengths.iter_rows()},
        "amount_not_collected": fen_to_yuan(sum_fen(b["amount_fen"])),
        "resume_by": dict(resume_by.iter_rows()),
        "resumptions": dict(
            result.resumptions.group_by("category").len().sort("category").iter_rows()
        ),
        "first_payments": result.updates.filter(pl.col("event") == FIRST_PAYMENT).height,
        "continuous_transfers": result.updates.filter(
            pl.col("event") == CONTINUOUS_TRANSFER
        ).height,
        "next_round_one": next_round.isoformat() if next_round else None,
    }
