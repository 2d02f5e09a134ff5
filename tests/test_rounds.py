"""The engine (DESIGN §4), on tiny frames worked out by hand: who is due, all-or-nothing debits,
shared accounts in enrollee_id order, the cut-off, references, and round 2's count-once rule."""

from __future__ import annotations

from datetime import date, datetime

import polars as pl
import pytest

from mediins_cli.calendar import OfficialCalendar, round_dates
from mediins_cli.months import Month
from mediins_cli.order import ID_KEY, id_key
from mediins_cli.rounds import (
    ACCOUNT_KEY,
    InvariantBroken,
    account_key,
    check_invariants,
    classify,
    debit,
    debited_per_account,
    ledger_balances,
    round_one,
    round_two,
    split_due,
    summarize,
    with_references,
)

FEB = Month(2024, 2)
R1, R2 = round_dates(OfficialCalendar([], "x"), FEB, 12, 25, 22, 1)


def enrollees(*rows: dict) -> pl.DataFrame:
    base = {
        "status": "active",
        "enrolled_on": date(2020, 1, 5),
        "paid_through": date(2024, 1, 1),
        "premium_fen": 70353,
        "name": "张三",
        "agency": "DC01",
    }
    frame = pl.DataFrame([{**base, **r} for r in rows])
    return frame.with_columns(pl.col("paid_through").cast(pl.Date))


def balances(**accounts: int) -> pl.DataFrame:
    return pl.DataFrame(
        {"account_no": list(accounts), "balance_fen": list(accounts.values())},
        schema={"account_no": pl.String, "balance_fen": pl.Int64},
    )


def attempts(*rows: tuple[str, str, int]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=["enrollee_id", "account_no", "amount_fen"], orient="row")


# --------------------------------------------------------------------------- who is due


@pytest.mark.parametrize(
    ("row", "month", "reason"),
    [
        ({"enrolled_on": date(2024, 1, 15), "paid_through": None}, FEB, None),  # starts 2024-02
        ({"enrolled_on": date(2024, 1, 31), "paid_through": None}, FEB, None),
        ({"enrolled_on": date(2024, 2, 1), "paid_through": None}, FEB, "NOT_STARTED"),
        ({"enrolled_on": date(2024, 2, 5), "paid_through": None}, Month(2024, 3), None),
        ({"enrolled_on": date(2023, 12, 31), "paid_through": None}, Month(2024, 1), None),
        ({"enrolled_on": date(2023, 12, 31), "paid_through": None}, Month(2023, 12), "NOT_STARTED"),
        ({"paid_through": date(2024, 2, 1)}, FEB, "ALREADY_PAID"),
        ({"paid_through": date(2024, 3, 1)}, FEB, "ALREADY_PAID"),  # prepaid
        ({"paid_through": date(2023, 11, 1)}, FEB, None),  # a gap behind: still due this month
        ({"status": "suspended"}, FEB, "INACTIVE"),
        ({"status": "terminated", "enrolled_on": date(2024, 2, 5)}, FEB, "INACTIVE"),  # first wins
    ],
)
def test_who_is_due_follows_seed_000_section_five(row, month, reason):
    frame = classify(enrollees({"enrollee_id": "A", **row}), month)
    assert frame["skip_reason"].to_list() == [reason]


# --------------------------------------------------------------------------- debits


def outcomes(frame: pl.DataFrame) -> list[tuple]:
    return list(
        frame.select("enrollee_id", "outcome", "reason", "balance_available_fen").iter_rows()
    )


def test_a_debit_is_all_or_nothing_and_may_empty_the_account_to_the_fen():
    result = debit(
        attempts(("A", "1", 70353), ("B", "2", 70353)), balances(**{"1": 70353, "2": 70352})
    )
    assert outcomes(result) == [
        ("A", "success", None, 70353),
        ("B", "failure", "INSUFFICIENT_FUNDS", 70352),  # one fen short: nothing taken
    ]


def test_an_account_the_bank_does_not_know_is_no_account():
    result = debit(attempts(("A", "9", 100)), balances(**{"1": 500}))
    assert outcomes(result) == [("A", "failure", "NO_ACCOUNT", None)]
    assert result["balance_at_cutoff_fen"].to_list() == [None]


def test_an_overdrawn_account_is_insufficient_funds():
    result = debit(attempts(("A", "1", 100)), balances(**{"1": -500}))
    assert outcomes(result) == [("A", "failure", "INSUFFICIENT_FUNDS", -500)]


def test_a_shared_account_is_debited_in_enrollee_id_order_not_file_order():
    # Given in the order B, A: A is debited first and takes the only premium the account covers.
    result = debit(attempts(("B", "1", 600), ("A", "1", 600)), balances(**{"1": 1000}))
    assert outcomes(result) == [
        ("A", "success", None, 1000),
        ("B", "failure", "INSUFFICIENT_FUNDS", 400),
    ]
    assert result["balance_at_cutoff_fen"].to_list() == [1000, 1000]


def test_a_later_smaller_premium_still_fits_after_a_failed_larger_one():
    # One after another, each seeing what the previous left: a failure takes nothing, so the
    # next member sees the whole balance (not a running total of premiums).
    result = debit(
        attempts(("A", "1", 150), ("B", "1", 50), ("C", "1", 60)), balances(**{"1": 100})
    )
    assert outcomes(result) == [
        ("A", "failure", "INSUFFICIENT_FUNDS", 100),
        ("B", "success", None, 100),
        ("C", "failure", "INSUFFICIENT_FUNDS", 50),
    ]


def test_three_members_one_fen_short_of_three_premiums_cover_two():
    # 3 × 619.95 = 1859.85; the account holds 1859.84: A and B are debited, C sees 619.94.
    result = debit(
        attempts(("A", "1", 61995), ("B", "1", 61995), ("C", "1", 61995), ("D", "2", 100)),
        balances(**{"1": 185984, "2": 100}),
    )
    assert outcomes(result) == [
        ("A", "success", None, 185984),
        ("B", "success", None, 123989),
        ("C", "failure", "INSUFFICIENT_FUNDS", 61994),
        ("D", "success", None, 100),
    ]


def test_shared_accounts_among_single_ones_given_out_of_order_settle_in_place():
    # Members of shared accounts are put in turn apart from the rest and set back in place:
    # account 1 as in the test above, account 9 shared and unknown to the bank, the others
    # with one member each; the file gives them in no order.
    result = debit(
        attempts(
            ("C", "1", 60),
            ("X", "7", 10),
            ("A", "1", 150),
            ("Z", "9", 5),
            ("Y", "9", 5),
            ("B", "1", 50),
            ("D", "2", 100),
        ),
        balances(**{"1": 100, "2": 100, "7": 5}),
    )
    assert outcomes(result) == [
        ("A", "failure", "INSUFFICIENT_FUNDS", 100),
        ("B", "success", None, 100),
        ("C", "failure", "INSUFFICIENT_FUNDS", 50),
        ("D", "success", None, 100),
        ("X", "failure", "INSUFFICIENT_FUNDS", 5),
        ("Y", "failure", "NO_ACCOUNT", None),
        ("Z", "failure", "NO_ACCOUNT", None),
    ]
    assert result["balance_at_cutoff_fen"].to_list() == [100, 100, 100, 100, 5, None, None]
    assert result["account_no"].to_list() == ["1", "1", "1", "2", "7", "9", "9"]


def test_balances_keyed_as_the_ledger_keys_them_debit_as_by_the_text():
    # The ledger's balances come keyed by account_key ("1" and the digits): "0012" and "12" stay
    # two accounts; an attempt whose account is not digits finds none (no ledger account is).
    people = attempts(("C", "0012", 60), ("A", "12", 150), ("B", "0012", 50), ("D", "x12", 5))
    by_text = balances(**{"0012": 100, "12": 200})
    by_key = by_text.select(account_key().alias("account_key"), "balance_fen")
    assert by_key["account_key"].to_list() == [10012, 112]
    expected = [
        ("A", "success", None, 200),
        ("B", "success", None, 100),
        ("C", "failure", "INSUFFICIENT_FUNDS", 50),
        ("D", "failure", "NO_ACCOUNT", None),
    ]
    assert outcomes(debit(people, by_text)) == expected
    assert outcomes(debit(people, by_key)) == expected
    assert debit(people, by_key).columns == debit(people, by_text).columns


def test_references_number_everyone_attempted_and_only_debits_carry_one():
    result = debit(
        attempts(("B", "1", 100), ("A", "2", 100), ("C", "3", 100)),
        balances(**{"1": 100, "3": 100}),
    )
    refs = with_references(result, FEB, 1).select("enrollee_id", "reference").rows()
    assert refs == [("A", None), ("B", "MI-202402-R1-00000002"), ("C", "MI-202402-R1-00000003")]


# --------------------------------------------------------------------------- the ledger


def ledger(*rows: tuple[str, datetime, int, str | None]) -> pl.LazyFrame:
    return pl.LazyFrame(
        rows,
        schema={
            "account_no": pl.String,
            "posted_at": pl.Datetime("us"),
            "amount_fen": pl.Int64,
            "reference": pl.String,
        },
        orient="row",
    )


def test_the_cut_off_is_midnight_of_the_effective_date():
    assert R1.cutoff == datetime(2024, 2, 18)
    rows = ledger(
        ("1", datetime(2024, 1, 31), 1000, None),
        ("1", datetime(2024, 2, 17, 23, 59, 59), 500, None),  # late on the day before: counts
        ("1", datetime(2024, 2, 18, 0, 0, 0), 700, None),  # on the effective day: does not
        ("2", datetime(2024, 2, 19), 900, None),  # only after the cut-off: exists, balance 0
    )
    got = dict(ledger_balances(rows, R1.cutoff).collect().iter_rows())
    assert got == {"1": 1500, "2": 0}


# --------------------------------------------------------------------------- rounds


def sample_pair():
    people = enrollees(
        {"enrollee_id": "A", "account_no": "1", "premium_fen": 600},
        {"enrollee_id": "B", "account_no": "1", "premium_fen": 600},
        {"enrollee_id": "C", "account_no": "2", "premium_fen": 500},
        {"enrollee_id": "D", "account_no": "3", "status": "suspended"},
    )
    first = round_one(people, balances(**{"1": 1000, "2": 400, "3": 9999}), R1, R2)
    return people, first


def test_round_one_attempts_everyone_due_and_skips_the_rest():
    _, first = sample_pair()
    assert first.successes["enrollee_id"].to_list() == ["A"]
    assert first.failures["enrollee_id"].to_list() == ["B", "C"]
    assert first.skipped.select("enrollee_id", "skip_reason").rows() == [("D", "INACTIVE")]
    s = summarize(first)
    assert s["attempted"] == {"enrollees": 3, "amount": "17.00"}
    assert s["succeeded"] == {"enrollees": 1, "amount": "6.00"}
    assert s["failed"]["by_reason"] == {"INSUFFICIENT_FUNDS": {"enrollees": 2, "amount": "11.00"}}
    assert s["collection_rate"] == {"amount": "0.3529", "enrollees": "0.3333"}


@pytest.mark.parametrize("release", [False, True])
@pytest.mark.parametrize("ids", ["letters", "resident IDs"])
def test_round_one_given_the_keys_gives_what_it_gives_making_them(ids, release):
    """The enrollee check may hand round 1 the accounts' keys and the IDs' sort keys it made
    (ACCOUNT_KEY, ID_KEY): the same attempts and skipped, and no key left in either. Letters
    have no resident ID's shape, so no key: they are sorted by their text."""
    names = {
        "letters": ["B", "A", "C", "D"],
        "resident IDs": [
            "11010119900101203X",
            "110101199001012026",
            "110101199001011997",
            "110101199001010000",
        ],
    }[ids]
    people = enrollees(
        {"enrollee_id": names[0], "account_no": "0012", "premium_fen": 600},
        {"enrollee_id": names[1], "account_no": "0012", "premium_fen": 600},
        {"enrollee_id": names[2], "account_no": "12", "premium_fen": 500},
        {"enrollee_id": names[3], "account_no": "3", "status": "suspended"},
    )
    keyed_balances = balances(**{"0012": 1000, "12": 400, "3": 9999}).select(
        account_key().alias("account_key"), "balance_fen"
    )
    made = round_one(people, keyed_balances, R1, R2)
    keyed = people.with_columns(account_key().alias(ACCOUNT_KEY), id_key().alias(ID_KEY))
    assert keyed[ID_KEY].null_count() == (4 if ids == "letters" else 0)
    given = round_one(keyed, keyed_balances, R1, R2, release=release)
    assert made.attempts.equals(given.attempts)
    assert made.skipped.equals(given.skipped)
    assert not {ACCOUNT_KEY, ID_KEY} & {*given.attempts.columns, *given.skipped.columns}
    # "0012" and "12" are two accounts: the lower ID of 0012's two takes 6.00 of its 10.00,
    # the higher finds 4.00 left; 12's 4.00 does not cover 5.00
    if ids == "letters":  # A before B
        expected = [
            ("A", "success", None, 1000),
            ("B", "failure", "INSUFFICIENT_FUNDS", 400),
            ("C", "failure", "INSUFFICIENT_FUNDS", 400),
        ]
    else:  # …1997, then …2026 before …203X
        expected = [
            (names[2], "failure", "INSUFFICIENT_FUNDS", 400),
            (names[1], "success", None, 1000),
            (names[0], "failure", "INSUFFICIENT_FUNDS", 400),
        ]
    assert outcomes(given.attempts) == expected
    assert given.skipped["enrollee_id"].to_list() == [names[3]]


@pytest.mark.parametrize("booked", [False, True])
def test_round_two_counts_a_round_one_debit_once_with_or_without_it_in_the_ledger(booked):
    people, first = sample_pair()
    debits = first.successes.select("account_no", "amount_fen", "reference")
    assert debits.rows() == [("1", 600, "MI-202402-R1-00000001")]
    rows = [
        ("1", datetime(2024, 1, 31), 1000, None),
        ("1", datetime(2024, 2, 20), 300, None),  # deposit between the rounds
        ("2", datetime(2024, 1, 31), 400, None),
    ]
    if booked:
        rows.append(("1", datetime(2024, 2, 18, 6), -600, "MI-202402-R1-00000001"))
    got = ledger_balances(ledger(*rows), R2.cutoff, debits.select("reference")).collect()
    second = round_two(people, first.failures["enrollee_id"], debited_per_account(debits), got, R2)
    # Account 1: 1000 + 300 - 600 (round 1, once) = 700 ≥ 600 → B succeeds; C still 400 < 500.
    assert outcomes(second.attempts) == [
        ("B", "success", None, 700),
        ("C", "failure", "INSUFFICIENT_FUNDS", 400),
    ]
    assert second.successes["reference"].to_list() == ["MI-202402-R2-00000001"]


def test_a_round_one_debit_booked_after_round_twos_cut_off_is_still_subtracted():
    people, first = sample_pair()
    debits = first.successes.select("account_no", "amount_fen", "reference")
    rows = ledger(
        ("1", datetime(2024, 1, 31), 1000, None),
        ("1", datetime(2024, 2, 23), -600, "MI-202402-R1-00000001"),  # booked late
    )
    got = ledger_balances(rows, R2.cutoff, debits.select("reference")).collect()
    second = round_two(people, pl.Series(["B"]), debited_per_account(debits), got, R2)
    assert outcomes(second.attempts) == [("B", "failure", "INSUFFICIENT_FUNDS", 400)]


def test_round_two_attempts_exactly_the_retry_list():
    people, first = sample_pair()
    debits = first.successes.select("account_no", "amount_fen", "reference")
    rich = balances(**{"1": 99999, "2": 99999, "3": 99999})
    second = round_two(
        people, pl.Series(["C"]), debited_per_account(debits), rich.with_columns(booked_fen=0), R2
    )
    assert second.attempts["enrollee_id"].to_list() == ["C"]


def test_broken_invariants_are_caught_not_written():
    good = with_references(debit(attempts(("A", "1", 100)), balances(**{"1": 100})), FEB, 1)
    check_invariants(good)
    twice = pl.concat([good, good])
    with pytest.raises(InvariantBroken, match="twice"):
        check_invariants(twice)
    overdrawn = good.with_columns(balance_available_fen=pl.lit(99, dtype=pl.Int64))
    with pytest.raises(InvariantBroken, match="below zero"):
        check_invariants(overdrawn)


def test_the_invariants_prove_the_order_the_rounds_flag_and_trust_no_flag():
    """The rounds flag the IDs they put in order (order.in_order) so later steps need not
    compare them again; the invariants compare them all the same."""
    two = debit(attempts(("B", "1", 100), ("A", "2", 100)), balances(**{"1": 100, "2": 100}))
    two = two[[1, 0]]  # B, then A: out of order
    assert two["enrollee_id"].to_list() == ["B", "A"]
    check_invariants(two)  # out of order and unflagged: each once is all that is asked
    flagged = two.with_columns(pl.col("enrollee_id").set_sorted())
    assert flagged["enrollee_id"].is_sorted()  # polars takes the flag's word for it
    with pytest.raises(InvariantBroken, match="flagged in enrollee_id order and are not"):
        check_invariants(flagged)
    twice = (
        pl.concat([two, two]).sort("enrollee_id").with_columns(pl.col("enrollee_id").set_sorted())
    )
    with pytest.raises(InvariantBroken, match="twice"):
        check_invariants(twice)
    shuffled_twice = pl.concat([two, two]).with_columns(pl.col("enrollee_id").set_sorted())
    with pytest.raises(InvariantBroken, match="twice"):  # a sort trusting the flag would miss it
        check_invariants(shuffled_twice)


def test_split_due_puts_both_parts_in_id_order() -> None:
    frame = pl.DataFrame(
        {
            "enrollee_id": ["C", "A", "B", "D"],
            "status": ["active", "active", "suspended", "active"],
            "enrolled_on": [date(2023, 1, 1)] * 4,
            "paid_through": [None, None, None, date(2024, 2, 1)],
        }
    )
    due, skipped = split_due(frame, FEB, release=True)
    assert due["enrollee_id"].to_list() == ["A", "C"]
    # flagged in order, so later steps need not compare the IDs again (order.in_order)
    assert due["enrollee_id"].flags["SORTED_ASC"] and skipped["enrollee_id"].flags["SORTED_ASC"]
    assert skipped.select("enrollee_id", "skip_reason").rows() == [
        ("B", "INACTIVE"),
        ("D", "ALREADY_PAID"),
    ]
