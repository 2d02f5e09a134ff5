"""Who is due, and the debits of a round (DESIGN §4). Pure: frames and dates in, frames out.

Every function here works on whole columns. The one loop is over the *position* of an enrollee
among those sharing an account (1st, 2nd, …): a family account is debited one member after
another, each seeing what the previous left, so position k can only be settled after k-1. The
loop runs as many times as the largest family has members, each pass over all accounts at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from functools import cached_property
from typing import Any

import polars as pl

from mediins_cli.bank.instructions import FILE, by_reference, reference_prefix
from mediins_cli.calendar import RoundDates
from mediins_cli.frames import streamed
from mediins_cli.money import MAX_ACCOUNT_FEN, MAX_AMOUNT_FEN, fen_to_yuan, sum_fen, total_fen
from mediins_cli.months import Month
from mediins_cli.order import ID_KEY, by_id, id_order, in_order, take_rows, taken_keys

# Reasons an enrollee is not attempted in round 1 (DESIGN §4), first match wins.
INACTIVE = "INACTIVE"
NOT_STARTED = "NOT_STARTED"
ALREADY_PAID = "ALREADY_PAID"
SKIP_REASONS = (INACTIVE, NOT_STARTED, ALREADY_PAID)

# Why a debit failed.
INSUFFICIENT_FUNDS = "INSUFFICIENT_FUNDS"
NO_ACCOUNT = "NO_ACCOUNT"
FAILURE_REASONS = (INSUFFICIENT_FUNDS, NO_ACCOUNT)

SUCCESS = "success"
FAILURE = "failure"


class InvariantBroken(AssertionError):
    """A DESIGN §9 invariant failed: a bug, never a result. Nothing is written."""


# --------------------------------------------------------------------------- who is due


def classify(enrollees: pl.DataFrame, month: Month) -> pl.DataFrame:
    """``enrollees`` with ``skip_reason`` (:func:`skip_reason`): null for whoever is due."""
    return enrollees.with_columns(skip_reason(month).alias("skip_reason"))


def skip_reason(month: Month) -> pl.Expr:
    """Why an enrollee is not due in ``month``; null for whoever is.

    Due: status active; coverage started, i.e. the month after ``enrolled_on`` is not after
    ``month`` (seed 000 §五: 参保起始日期为办理参（续）保手续的次月); ``paid_through`` empty or
    before ``month``.
    """
    first = month.first_day
    # coverage starts the month after enrolment's: after ``month`` exactly when enrolment's
    # month is ``month`` or later, i.e. ``enrolled_on`` is on or after its first day (one
    # comparison of dates, not a month's arithmetic on each: 10 M enrollees 1.0 → 0.3 s)
    return (
        pl.when(pl.col("status") != "active")
        .then(pl.lit(INACTIVE))
        .when(pl.col("enrolled_on") >= first)
        .then(pl.lit(NOT_STARTED))
        .when(pl.col("paid_through").is_not_null() & (pl.col("paid_through") >= first))
        .then(pl.lit(ALREADY_PAID))
        .otherwise(None)
    )


def split_due(
    enrollees: pl.DataFrame, month: Month, *, release: bool = False
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The enrollees due in ``month`` and those not, with ``skip_reason`` (:func:`classify`),
    each in ``enrollee_id`` order. ``release``: see :func:`take_rows` (the wide rows then exist
    once, not twice, while the two are made)."""
    reason = classify(enrollees.select("status", "enrolled_on", "paid_through"), month)
    # the IDs' sort keys, where the enrollee check made them: not written out
    keys, enrollees = taken_keys(enrollees, release=release)
    order = id_order(enrollees, keys=keys)
    del keys
    reason_in_order = reason["skip_reason"].gather(order)
    due, skipped = (
        order.filter(reason_in_order.is_null()),
        order.filter(reason_in_order.is_not_null()),
    )
    reasons = reason["skip_reason"].gather(skipped)
    due_rows, skipped_rows = take_rows(enrollees, [due, skipped], release=release)
    return in_order(due_rows), in_order(skipped_rows.with_columns(reasons.alias("skip_reason")))


# --------------------------------------------------------------------------- balances


def ledger_balances(
    ledger: pl.LazyFrame,
    cutoff: datetime,
    references: pl.DataFrame | None = None,
    *extra: pl.Expr,
) -> pl.LazyFrame:
    """One row per account in the ledger: ``balance_fen`` at ``cutoff`` (the sum of its rows
    posted before it) and, when ``references`` (a frame of ``reference``) is given,
    ``booked_fen``: the sum of those rows posted before the cut-off whose reference is listed,
    i.e. earlier mediins debits the bank has already booked (DESIGN §4: they count once).
    ``extra`` aggregations ride along in the same pass (the reader's bounds checks)."""
    before = pl.col("posted_at") < cutoff
    # rows after the cut-off count as nothing (null, which a sum skips; an account with none
    # before it sums to 0): cheaper in the streaming group-by than filtering each group
    aggs = [pl.when(before).then(pl.col("amount_fen")).sum().alias("balance_fen")]
    if references is not None:
        listed = pl.col("reference").is_in(references["reference"].implode())
        aggs.append(pl.when(before & listed).then(pl.col("amount_fen")).sum().alias("booked_fen"))
    return ledger.group_by("account_no").agg(*aggs, *extra)


# --------------------------------------------------------------------------- debits


def debit(attempts: pl.DataFrame, balances: pl.DataFrame) -> pl.DataFrame:
    """All-or-nothing debits of ``amount_fen`` from ``account_no`` (DESIGN §4).

    ``attempts``: one row per enrollee (``enrollee_id``, ``account_no``, ``amount_fen``, …).
    ``balances``: ``balance_fen`` for every account the bank knows, by ``account_key`` (the
    ledger's, :func:`account_key`) or by ``account_no``.
    Adds ``balance_at_cutoff_fen`` (the account's), ``balance_available_fen`` (what this debit
    saw, after earlier members of a shared account), ``outcome`` and ``reason``.
    Members of a shared account go in ``enrollee_id`` order.
    """
    # The debits are decided on a narrow frame of integers (the account key, the amount, the
    # rank by enrollee_id), in the attempts' order: the enrollees' wide rows are never sorted
    # or copied here, nor is any text carried through the join; the outcome's words are
    # written once, at the end. An account with one member attempted (nearly all) is settled
    # by its balance at once; only the members of shared accounts are put in turn and their
    # decisions set back in place (issue 9: sorting every attempt by account and back cost
    # 3 s and a copy of the narrow frame at 10 M).
    ids = attempts["enrollee_id"]
    tie = (
        pl.int_range(pl.len(), dtype=pl.UInt32) if ids.is_sorted() else pl.lit(ids.rank("ordinal"))
    )
    given = [ACCOUNT_KEY] if ACCOUNT_KEY in attempts.columns else []
    narrow, known = _keyed(
        attempts.select(tie.alias("__tie"), "amount_fen", "account_no", *given),
        balances.select(
            balance_key(balances)[0], pl.col("balance_fen").alias("balance_at_cutoff_fen")
        ),
    )
    frame = narrow.join(known, on="__key", how="left", maintain_order="left")
    del narrow, known
    cutoff = frame["balance_at_cutoff_fen"]
    available = cutoff.alias("balance_available_fen")
    ok = frame.select(_covers(pl.col("balance_at_cutoff_fen"))).to_series()
    shared = _shared(frame["__key"])
    if shared.any():
        in_turn = _in_turn(frame.with_row_index("__row").filter(shared))
        rows = in_turn["__row"]
        available = available.clone().scatter(rows, in_turn["balance_available_fen"])
        ok = ok.clone().scatter(rows, in_turn["__ok"])
    del frame
    outcome = pl.DataFrame([cutoff, available, ok.alias("__ok")]).select(
        "balance_at_cutoff_fen",
        "balance_available_fen",
        pl.when("__ok").then(pl.lit(SUCCESS)).otherwise(pl.lit(FAILURE)).alias("outcome"),
        pl.when("__ok")
        .then(pl.lit(None, dtype=pl.String))
        .when(pl.col("balance_available_fen").is_null())
        .then(pl.lit(NO_ACCOUNT))
        .otherwise(pl.lit(INSUFFICIENT_FUNDS))
        .alias("reason"),
    )
    frame = attempts.drop(given).hstack(outcome)
    if frame.height and not ids.is_sorted():
        frame = frame.sort("enrollee_id")
    return frame


def _covers(available: pl.Expr) -> pl.Expr:
    """True where the balance ``available`` is known and covers ``amount_fen`` whole."""
    return available.is_not_null() & (available >= pl.col("amount_fen"))


def _shared(keys: pl.Series) -> pl.Series:
    """True where ``keys`` holds the value more than once: found in the keys sorted, then
    looked up among the few repeated (10 M attempts: 0.4 s; ``is_duplicated`` took 3 s on the
    Int128 keys)."""
    ordered = keys.sort()
    repeated = ordered.filter(ordered == ordered.shift(1)).unique()
    return keys.is_in(repeated.implode())


def _in_turn(members: pl.DataFrame) -> pl.DataFrame:
    """The members of shared accounts (``__row``, ``__tie``, ``__key``, ``amount_fen``,
    ``balance_at_cutoff_fen``) debited in turn, each account's in ``__tie`` order: each sees
    what the one before left (all of its balance if that one failed). ``__row``,
    ``balance_available_fen``, ``__ok``."""
    index = pl.int_range(pl.len())
    first_of_account = (pl.col("__key") != pl.col("__key").shift(1)).fill_null(True)
    frame = (
        members.sort("__key", "__tie")
        .drop("__tie")
        # position among the members of the account: 0, 1, 2, … (rows are sorted by account)
        .with_columns((index - pl.when(first_of_account).then(index).forward_fill()).alias("__pos"))
    )
    available = pl.col("balance_available_fen")
    ok = _covers(available).alias("__ok")
    # Position 0 sees the whole balance: one pass over every account at once.
    step = (
        frame.filter(pl.col("__pos") == 0)
        .select(pl.exclude("__pos"), pl.col("balance_at_cutoff_fen").alias("balance_available_fen"))
        .with_columns(ok)
    )
    settled = [step]
    # Each later position sees what the one before left.
    position = 1
    while True:
        members = frame.filter(pl.col("__pos") == position).drop("__pos")
        if members.height == 0:
            break
        left = step.select(
            "__key",
            pl.when(pl.col("__ok"))
            .then(available - pl.col("amount_fen"))
            .otherwise(available)
            .alias("balance_available_fen"),
        )
        step = members.join(left, on="__key", how="inner").with_columns(ok)
        settled.append(step)
        position += 1
    return pl.concat(settled).select("__row", "balance_available_fen", "__ok")


def _keyed(attempts: pl.DataFrame, balances: pl.DataFrame) -> list[pl.DataFrame]:
    """Both frames with ``__key`` in place of ``account_no`` (``account_key`` in balances
    keyed by it): :func:`account_key` (the attempts' :data:`ACCOUNT_KEY` where they carry
    it), as an Int64 when every key fits one (the join and sort are cheaper still).
    Balances by ``account_no`` whose accounts are not all digits (the engine's functions take
    other text too) are joined by the text itself; against the ledger's keyed balances an
    attempt whose account is not digits finds none."""
    key = pl.col(ACCOUNT_KEY) if ACCOUNT_KEY in attempts.columns else account_key()
    attempts = attempts.with_columns(key.alias("__key")).drop(ACCOUNT_KEY, strict=False)
    if "account_key" in balances.columns:
        keyed = [attempts.drop("account_no"), balances.rename({"account_key": "__key"})]
    else:
        balances = balances.with_columns(account_key().alias("__key"))
        keyed = [attempts, balances]
        if any(f["__key"].null_count() for f in keyed):
            keyed = [f.with_columns(pl.col("account_no").alias("__key")) for f in keyed]
        keyed = [f.drop("account_no") for f in keyed]
    if keyed[0]["__key"].dtype == pl.Int128 and all(
        f.height == 0 or (f["__key"].max() or 0) <= _INT64_MAX  # type: ignore[operator]
        for f in keyed
    ):
        keyed = [f.with_columns(pl.col("__key").cast(pl.Int64)) for f in keyed]
    return keyed


def balance_key(balances: pl.DataFrame) -> tuple[str, pl.Expr]:
    """The column ``balances`` are keyed by (``account_key``, the ledger's; or
    ``account_no``), and the expression giving it from a frame's ``account_no``."""
    if "account_key" in balances.columns:
        return "account_key", account_key()
    return "account_no", pl.col("account_no")


_INT64_MAX = 2**63 - 1

#: an attempt's :func:`account_key`, when made before the rows were put in ID order
ACCOUNT_KEY = "__account_key"


def account_key() -> pl.Expr:
    """``account_no`` as an integer key: "1" and its digits as an Int128 (an account is 6–32
    digits; the leading "1" keeps "0012" and "12" apart). Grouping, joining and sorting by it
    is faster and smaller than by the text (PERFORMANCE.md). Null where the text is not digits
    only (or longer than 37): such a frame is keyed by its text."""
    return pl.concat_str(pl.lit("1"), pl.col("account_no")).cast(pl.Int128, strict=False)


def with_references(result: pl.DataFrame, month: Month, round_no: int) -> pl.DataFrame:
    """A reference for every successful debit, unique in the month and round and the same on
    every rerun: ``MI-<YYYYMM>-R<n>-<8 digits>``, numbered over everyone attempted in the round
    in ``enrollee_id`` order, so a number depends on who was due, not on anyone's balance."""
    prefix = f"MI-{month.year:04d}{month.month:02d}-R{round_no}-"
    if result.height and not result["enrollee_id"].is_sorted():
        result = result.sort("enrollee_id")
    number = pl.col("__number").cast(pl.String).str.pad_start(8, "0")
    reference = streamed(
        result.lazy()
        .select(pl.col("outcome") == SUCCESS)
        .with_row_index("__number", 1)
        .select(pl.when("outcome").then(pl.concat_str(pl.lit(prefix), number)).alias("reference"))
    )
    return result.with_columns(reference.to_series())


def check_invariants(result: pl.DataFrame) -> None:
    """DESIGN §9, checked on every run: money conserved to the fen, nobody debited twice, no
    account taken below zero by a debit; and every amount and balance inside the bounds of
    DESIGN §3, so no sum can have wrapped around (totals are summed as Int128)."""
    ids, n = result["enrollee_id"], result.height
    # each once and in order, every ID before the next: one pass over the text, trusting no
    # flag (the rounds flag the IDs they put in order, order.in_order: this proves it)
    if n > 1 and not (ids.slice(1) > ids.slice(0, n - 1)).fill_null(False).all():
        flagged = ids.flags["SORTED_ASC"]
        # sorted from a copy that forgets the flag: polars' sort trusts one
        ids = ids.gather(pl.arange(0, n, eager=True)).sort()
        if (ids.slice(1) == ids.slice(0, n - 1)).any():
            raise InvariantBroken("an enrollee was attempted twice in one round")
        if flagged:
            raise InvariantBroken("the attempts are flagged in enrollee_id order and are not")
    amount, outcome = pl.col("amount_fen"), pl.col("outcome")
    available = pl.col("balance_available_fen")
    # A balance is a sum of bounded rows, less round 1's debits in round 2: it stays within a
    # few times the bound of an account; a sum that wrapped around lands far beyond.
    balances = [pl.col("balance_at_cutoff_fen"), available]
    beyond = pl.any_horizontal(b.abs() > 10 * MAX_ACCOUNT_FEN for b in balances)
    # in a streaming pass, a piece of the rows at a time: made at once over the whole frame,
    # the Int128 copies, the filters and the flags held 0.4 GiB at 10 M attempts, the round's
    # peak (issue 9)
    found = (
        result.lazy()
        .select(
            ((amount < 1) | (amount > MAX_AMOUNT_FEN)).any().alias("amount"),
            beyond.any().alias("beyond"),
            total_fen(amount).alias("due"),
            total_fen(pl.when(outcome == SUCCESS).then(amount)).alias("done"),
            total_fen(pl.when(outcome == FAILURE).then(amount)).alias("failed"),
            (~outcome.is_in([SUCCESS, FAILURE])).any().alias("unknown"),
            ((outcome == SUCCESS) & (available.is_null() | (available < amount)))
            .any()
            .alias("below"),
        )
        .collect(engine="streaming")
        .row(0, named=True)
    )
    if found["amount"]:
        raise InvariantBroken("an amount due is not between 0.01 and the bound of one amount")
    if found["beyond"]:
        raise InvariantBroken("a balance is beyond the bound of an account: a sum wrapped around")
    due, done, failed = (int(found[k] or 0) for k in ("due", "done", "failed"))
    if due != done + failed or found["unknown"]:
        raise InvariantBroken(f"due {due} fen != succeeded {done} + failed {failed}")
    if found["below"]:
        raise InvariantBroken("a debit would take an account below zero")


# --------------------------------------------------------------------------- rounds


@dataclass(frozen=True)
class RoundResult:
    """Everything a round decided. ``attempts`` has one row per enrollee attempted, with
    ``outcome``, ``reason`` and ``reference``; ``skipped`` (round 1) one row per enrollee not
    attempted, with ``skip_reason``."""

    month: Month
    round: int
    dates: RoundDates
    next_dates: RoundDates | None  # round 2's dates, for round 1's retry file
    attempts: pl.DataFrame
    skipped: pl.DataFrame

    # each filtered once: a filter copies every column of the rows it keeps (the run itself
    # uses :meth:`narrow` and :meth:`lazy`, which copy nothing wide)
    @cached_property
    def successes(self) -> pl.DataFrame:
        return self.attempts.filter(pl.col("outcome") == SUCCESS)

    @cached_property
    def failures(self) -> pl.DataFrame:
        return self.attempts.filter(pl.col("outcome") == FAILURE)

    def narrow(self, outcome: str, *columns: str) -> pl.DataFrame:
        """``columns`` of the attempts with ``outcome``: a copy of those columns only."""
        return (
            self.attempts.select(*columns, "outcome")
            .filter(pl.col("outcome") == outcome)
            .select(columns)
        )

    def lazy(self, outcome: str) -> pl.LazyFrame:
        """The attempts with ``outcome``, as a plan: a file written from it streams."""
        return self.attempts.lazy().filter(pl.col("outcome") == outcome)


def round_one(
    enrollees: pl.DataFrame,
    balances: pl.DataFrame,
    dates: RoundDates,
    round_two: RoundDates,
    *,
    release: bool = False,
) -> RoundResult:
    """Round 1: attempt everyone due in the month against the balances at round 1's cut-off.
    ``release``: ``enrollees`` is emptied as the attempts are made (:func:`take_rows`).
    ``enrollees`` may carry their accounts' keys (:data:`ACCOUNT_KEY`, as the enrollee check
    makes them: ``check_enrollees(keys=…)``), and the IDs' sort keys (:data:`.order.ID_KEY`)."""
    if ACCOUNT_KEY not in enrollees.columns:
        # the accounts' keys are made in the file's order, before the rows are put in ID
        # order: made after, they read the accounts' text scattered over memory (10 M: 1.6 s,
        # not 0.5)
        keys = streamed(enrollees.lazy().select(account_key().alias(ACCOUNT_KEY))).to_series()
        if release:
            enrollees.insert_column(enrollees.width, keys)  # emptied below all the same
        else:
            enrollees = enrollees.hstack([keys])
    due, skipped = split_due(enrollees, dates.month, release=release)
    attempts = debit(due.rename({"premium_fen": "amount_fen"}), balances)
    skipped = skipped.drop(ACCOUNT_KEY)
    attempts = with_references(attempts, dates.month, 1)
    check_invariants(attempts)
    return RoundResult(dates.month, 1, dates, round_two, attempts, skipped)


def debited_per_account(debits: pl.DataFrame) -> pl.DataFrame:
    """Successful debits (``account_no``, ``amount_fen``) summed per account, in the order the
    accounts come: ``account_no``, ``debited_fen`` (one account's: within Int64, DESIGN §3)."""
    return debits.group_by("account_no", maintain_order=True).agg(
        pl.col("amount_fen").sum().alias("debited_fen")
    )


def round_two(
    enrollees: pl.DataFrame,
    retry_ids: pl.Series,
    pending: pl.DataFrame,
    balances: pl.DataFrame,
    dates: RoundDates,
) -> RoundResult:
    """Round 2: attempt exactly round 1's retry list against the newer ledger's balances.
    ``enrollees`` may carry the IDs' sort keys (:data:`.order.ID_KEY`).

    ``pending`` (``account_no``, ``debited_fen``) sums round 1's successful debits per
    account (at least those of the retry list's accounts); ``balances`` carries
    ``booked_fen``, the part of them the ledger already holds before round 2's cut-off. The
    rest is subtracted here, so a debit counts once.
    """
    retry = by_id(enrollees.filter(pl.col("enrollee_id").is_in(retry_ids.implode())))
    # only the accounts round 2 debits are looked at: a small part of a province's accounts
    column, key = balance_key(balances)
    attempted = pl.col(column).is_in(retry.select(key).to_series().unique().implode())
    adjusted = (
        balances.filter(attempted)
        .join(
            pending.select(key.alias(column), "debited_fen").filter(attempted),
            on=column,
            how="left",
        )
        .with_columns(
            (
                pl.col("balance_fen")
                + (-pl.col("debited_fen").fill_null(0) - pl.col("booked_fen").fill_null(0))
            ).alias("balance_fen")
        )
        .drop("debited_fen")
    )
    attempts = debit(retry.rename({"premium_fen": "amount_fen"}), adjusted)
    attempts = with_references(attempts, dates.month, 2)
    check_invariants(attempts)
    return RoundResult(dates.month, 2, dates, None, attempts, none_skipped(enrollees))


def none_skipped(enrollees: pl.DataFrame) -> pl.DataFrame:
    """Round 2's skipped: no rows, the enrollee file's columns (not the IDs' sort keys, which
    are no file's) and ``skip_reason``."""
    return (
        enrollees.clear()
        .drop(ID_KEY, strict=False)
        .with_columns(pl.lit(None, dtype=pl.String).alias("skip_reason"))
    )


# --------------------------------------------------------------------------- summary


def rate(part: int, whole: int) -> str:
    """``part / whole`` to four places, rounded half up, exactly (1.0000 when nothing was due)."""
    if whole == 0:
        return "1.0000"
    return str((Decimal(part) / Decimal(whole)).quantize(Decimal("0.0001"), ROUND_HALF_UP))


def summarize(result: RoundResult) -> dict[str, Any]:
    """Counts and amounts (yuan, exact) by outcome and reason. No personal data."""
    a = result.attempts
    failures = result.narrow(FAILURE, "reason", "amount_fen")
    successes = result.narrow(SUCCESS, "amount_fen")
    by_reason = (
        failures.group_by("reason")
        .agg(pl.len().alias("enrollees"), total_fen(pl.col("amount_fen")).alias("amount_fen"))
        .sort("reason")
    )
    skipped = (
        result.skipped.group_by("skip_reason").agg(pl.len().alias("enrollees")).sort("skip_reason")
    )
    due_fen = sum_fen(a["amount_fen"])
    ok_fen = sum_fen(successes["amount_fen"])
    return {
        "month": str(result.month),
        "round": result.round,
        "attempted": {"enrollees": a.height, "amount": fen_to_yuan(due_fen)},
        "succeeded": {"enrollees": successes.height, "amount": fen_to_yuan(ok_fen)},
        "failed": {
            "enrollees": failures.height,
            "amount": fen_to_yuan(due_fen - ok_fen),
            "by_reason": {
                r["reason"]: {"enrollees": r["enrollees"], "amount": fen_to_yuan(r["amount_fen"])}
                for r in by_reason.iter_rows(named=True)
            },
        },
        "skipped": {
            "enrollees": result.skipped.height,
            "by_reason": {r["skip_reason"]: r["enrollees"] for r in skipped.iter_rows(named=True)},
        },
        "collection_rate": {
            "amount": rate(ok_fen, due_fen),
            "enrollees": rate(successes.height, a.height),
        },
    }


# --------------------------------------------------------------------------- return mode


def from_returns(
    instructed: pl.DataFrame,
    answers: pl.DataFrame,
    dates: RoundDates,
    next_dates: RoundDates | None,
    skipped: pl.DataFrame,
) -> RoundResult:
    """A round whose debits the bank made and answered (DESIGN §11). ``instructed``: the
    round's instructions (the enrollee rows with ``amount_fen``, ``reference``, ``__file``),
    sorted by ``enrollee_id``; ``answers``: one row per reference (``result`` a code,
    ``settled_on``), already checked to answer every instruction exactly once.

    ``reason`` is the bank's result code; ``deducted_on`` the settle date (the effective date
    where the format has none); no balance is known."""
    # the answers put in the instructions' order by a join of the references' integer keys
    # alone, then set beside the instructions' columns: a join of the wide rows would copy
    # every column of them (DESIGN §10: a province's wide rows are held once). Named ``__…``,
    # which no file's column may be, so an extra column of the enrollee file cannot clash.
    answered = by_reference(
        instructed,
        answers,
        reference_prefix(dates.month, dates.round),
        {"result": "__result", "settled_on": "__settled"},
    )
    ok = pl.col("__result") == "OK"
    no_balance = pl.lit(None, dtype=pl.Int64)
    attempts = (
        instructed.hstack(answered.get_columns())
        .with_columns(
            no_balance.alias("balance_at_cutoff_fen"),
            no_balance.alias("balance_available_fen"),
            pl.when(ok).then(pl.lit(SUCCESS)).otherwise(pl.lit(FAILURE)).alias("outcome"),
            pl.when(ok).then(None).otherwise(pl.col("__result")).alias("reason"),
            pl.when(ok).then(pl.col("__settled").fill_null(dates.effective)).alias("deducted_on"),
        )
        .drop("__result", "__settled")
    )
    check_answered(attempts)
    return RoundResult(dates.month, dates.round, dates, next_dates, attempts, skipped)


def check_answered(result: pl.DataFrame) -> None:
    """DESIGN §9 for a round the bank answered: everyone once, every answer an outcome, and
    money conserved to the fen — in total and per instruction file (instructed = succeeded +
    failed)."""
    ids = result["enrollee_id"]
    if ids.len() > 1 and (ids.slice(1) == ids.slice(0, ids.len() - 1)).any():
        raise InvariantBroken("an enrollee was instructed twice in one round")
    if result.select((~pl.col("outcome").is_in([SUCCESS, FAILURE])).any()).item():
        raise InvariantBroken("an instruction has no outcome")
    amount, outcome = pl.col("amount_fen"), pl.col("outcome")
    # when/then, not amount.filter(…): a filter inside a group's aggregation made polars copy
    # every column of the wide rows (+240 MB at 1 M enrollees, the round's peak)
    per_file = result.group_by(FILE).agg(
        total_fen(amount).alias("due"),
        total_fen(pl.when(outcome == SUCCESS).then(amount)).alias("done"),
        total_fen(pl.when(outcome == FAILURE).then(amount)).alias("failed"),
    )
    broken = per_file.filter(
        pl.col("due") != pl.col("done").fill_null(0) + pl.col("failed").fill_null(0)
    )
    if broken.height:
        raise InvariantBroken(f"instructed != succeeded + failed in {broken[FILE][0]}")
