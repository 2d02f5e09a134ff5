"""DESIGN §9 over generated months (hypothesis): money conserved to the fen, nobody debited twice
in a month, no account taken below zero, and the column engine equals a plain sequential model
of the bank debiting members one after another. Same inputs give the same bytes."""

from __future__ import annotations

from datetime import date, datetime

import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mediins_cli.calendar import OfficialCalendar, round_dates
from mediins_cli.months import Month
from mediins_cli.rounds import debited_per_account, ledger_balances, round_one, round_two

FEB = Month(2024, 2)
R1, R2 = round_dates(OfficialCalendar([], "x"), FEB, 12, 25, 22, 1)
ACCOUNTS = [f"62148300000000{i:02d}" for i in range(8)]

person = st.fixed_dictionaries(
    {
        "account_no": st.sampled_from(ACCOUNTS),
        "premium_fen": st.integers(1, 200_000),
        "status": st.sampled_from(["active"] * 4 + ["suspended", "terminated"]),
        "enrolled_on": st.sampled_from([date(2019, 5, 1), date(2024, 1, 31), date(2024, 2, 1)]),
        "paid_through": st.sampled_from(
            [None, date(2023, 12, 1), date(2024, 1, 1), date(2024, 2, 1), date(2024, 3, 1)]
        ),
    }
)
month = st.fixed_dictionaries(
    {
        "people": st.lists(person, min_size=1, max_size=30),
        "ids": st.permutations(range(30)),
        # per account: opening balance (None: the bank does not know it), deposit between rounds
        "opening": st.lists(
            st.one_of(st.none(), st.integers(-5_000, 400_000)), min_size=8, max_size=8
        ),
        "deposit": st.lists(st.integers(0, 200_000), min_size=8, max_size=8),
        "booked": st.booleans(),
    }
)


def build(m):
    rows = [
        {"enrollee_id": f"E{m['ids'][i]:03d}", "name": "某", "agency": "X", **p}
        for i, p in enumerate(m["people"])
    ]
    people = pl.DataFrame(rows).with_columns(pl.col("paid_through").cast(pl.Date))
    ledger_rows = []
    for account, opening, deposit in zip(ACCOUNTS, m["opening"], m["deposit"], strict=True):
        if opening is not None:
            ledger_rows.append((account, datetime(2024, 1, 31), opening, None))
            ledger_rows.append((account, datetime(2024, 2, 20), deposit, None))
    ledger = pl.LazyFrame(
        ledger_rows,
        schema={
            "account_no": pl.String,
            "posted_at": pl.Datetime("us"),
            "amount_fen": pl.Int64,
            "reference": pl.String,
        },
        orient="row",
    )
    return people, ledger


def sequential_model(attempts, balance):
    """The bank, one debit at a time: {enrollee_id: succeeded?}; balance is mutated."""
    done = {}
    for who, account, amount in sorted(attempts):
        if account in balance and balance[account] >= amount:
            balance[account] -= amount
            done[who] = True
        else:
            done[who] = False
    return done


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(month)
def test_rounds_conserve_money_never_overdraw_and_match_the_sequential_model(m):
    people, ledger = build(m)
    b1 = ledger_balances(ledger, R1.cutoff).collect()
    first = round_one(people, b1, R1, R2)

    # every input row in exactly one place
    ids = set(people["enrollee_id"])
    placed = list(first.attempts["enrollee_id"]) + list(first.skipped["enrollee_id"])
    assert sorted(placed) == sorted(ids)

    # money conserved, to the fen
    due = first.attempts["amount_fen"].sum()
    assert due == first.successes["amount_fen"].sum() + first.failures["amount_fen"].sum()

    # the column engine is the bank debiting one after another
    balance = dict(b1.iter_rows())
    model = sequential_model(
        first.attempts.select("enrollee_id", "account_no", "amount_fen").rows(), balance
    )
    assert {r: model[r] for r in model} == {
        r["enrollee_id"]: r["outcome"] == "success" for r in first.attempts.iter_rows(named=True)
    }
    assert all(v >= 0 for k, v in balance.items() if dict(b1.iter_rows())[k] >= 0)

    # round 2, with the round-1 debits booked in the ledger or not
    debits = first.successes.select("account_no", "amount_fen", "reference")
    if m["booked"]:
        ledger = pl.concat(
            [
                ledger,
                debits.lazy().select(
                    "account_no",
                    pl.lit(datetime(2024, 2, 18, 6)).cast(pl.Datetime("us")).alias("posted_at"),
                    (-pl.col("amount_fen")).alias("amount_fen"),
                    "reference",
                ),
            ]
        )
    b2 = ledger_balances(ledger, R2.cutoff, debits.select("reference")).collect()
    second = round_two(people, first.failures["enrollee_id"], debited_per_account(debits), b2, R2)
    assert set(second.attempts["enrollee_id"]) == set(first.failures["enrollee_id"])
    assert second.attempts["amount_fen"].sum() == (
        second.successes["amount_fen"].sum() + second.failures["amount_fen"].sum()
    )
    # nobody debited twice in the month
    assert not set(first.successes["enrollee_id"]) & set(second.successes["enrollee_id"])

    # no account below zero after both rounds, by the same sequential bank
    balance2 = {a: b for a, b in balance.items()}
    for account, _, deposit in zip(ACCOUNTS, m["opening"], m["deposit"], strict=True):
        if account in balance2:
            balance2[account] += deposit
    model2 = sequential_model(
        second.attempts.select("enrollee_id", "account_no", "amount_fen").rows(), balance2
    )
    assert model2 == {
        r["enrollee_id"]: r["outcome"] == "success" for r in second.attempts.iter_rows(named=True)
    }
    for r in second.successes.iter_rows(named=True):
        assert r["balance_available_fen"] >= r["amount_fen"]


enrollee_rows = st.lists(
    st.tuples(st.sampled_from(ACCOUNTS[:3]), st.integers(1, 99_999), st.integers(0, 200_000)),
    min_size=1,
    max_size=8,
)


@settings(
    max_examples=10,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(enrollee_rows)
def test_the_same_inputs_give_the_same_bytes_in_any_folder(run, tmp_path_factory, rows):
    from stdnum.cn import ric

    base = tmp_path_factory.mktemp("month")
    lines = ["enrollee_id,name,agency,status,enrolled_on,monthly_premium,account_no"]
    ledger = ["account_no,posted_at,amount"]
    for i, (account, premium, balance) in enumerate(rows):
        body = f"11010119900307{i:03d}"
        ident = body + ric.calc_check_digit(body + "0")
        amount = f"{premium // 100}.{premium % 100:02d}"
        lines.append(f"{ident},张{i},DC01,active,2020-01-05,{amount},{account}")
        ledger.append(f"{account},2024-01-31,{balance // 100}.{balance % 100:02d}")
    (base / "enrollees.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (base / "ledger.csv").write_text("\n".join(ledger) + "\n", encoding="utf-8")
    outputs = []
    for out in ("a", "b/c"):
        result = run(
            "deduct",
            "--round",
            "1",
            "--month",
            "2024-02",
            "--enrollees",
            base / "enrollees.csv",
            "--ledger",
            base / "ledger.csv",
            "--out",
            base / out,
        )
        assert result.exit_code == 0, result.stderr
        run_dir = base / out / "2024-02" / "round-1"
        outputs.append(
            {
                str(p.relative_to(run_dir)): p.read_bytes()
                for p in run_dir.rglob("*")
                if p.is_file() and p.name != "run.log"  # the log carries the clock
            }
        )
    assert outputs[0] == outputs[1]
    assert {"success.csv", "failure.csv", "retry.csv", "skipped.csv"} <= set(outputs[0])
