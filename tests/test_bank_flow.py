"""Return mode end to end (DESIGN §11): `deduct --returns` refusals, the outcomes of every result
code worked by hand, the sample month giving the ledger mode's answers in both shipped formats,
and `--round auto` waiting for the bank."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest
from bank_helpers import (
    ENROLLEES,
    LEDGER_1,
    LEDGER_2,
    MONTH,
    PIPE,
    PIPE_RETURN,
    TINY,
    Person,
    answer_all,
    copy_rules,
    deduct_ledger,
    deduct_returns,
    fen,
    instruct,
    instructions_dir,
    manifest,
    mediins,
    ok,
    pipe_rows,
    ref,
    round_dir,
    rows,
    simulate,
    summary,
    write_enrollees,
    write_generic_returns,
)

from conftest import ROOT
from mediins_cli.bank.formats import TO_DO

# --------------------------------------------------------------------------- refusals


@pytest.fixture
def sent(tmp_path) -> tuple[Path, Path]:
    """The sample month's round-1 instructions (generic) and the simulated bank's answers."""
    out, bank = tmp_path / "out", tmp_path / "bank"
    assert instruct(out, 1).exit_code == 0
    assert simulate(out, 1, LEDGER_1, bank).exit_code == 0
    return out, bank


def _refused(result, *expected: str, out: Path) -> None:
    assert result.exit_code == 3, (result.stdout, result.stderr)
    for e in expected:
        assert e in result.stderr, (e, result.stderr)
    assert not round_dir(out, 1).exists()


def test_no_instructions_is_refused(sent, tmp_path):
    _, bank = sent
    elsewhere = tmp_path / "elsewhere"
    result = deduct_returns(elsewhere, 1, bank)
    _refused(
        result,
        "no instructions of round 1 of 2024-02",
        "mediins instruct --round 1 --month 2024-02",
        out=elsewhere,
    )


def test_an_instruction_file_edited_after_instruct_is_refused(sent):
    out, bank = sent
    path = instructions_dir(out, 1) / "PSBC.csv"
    path.write_bytes(path.read_bytes().replace(b"\n", b"\r\n"))  # re-saved by an editor
    result = deduct_returns(out, 1, bank)
    _refused(result, "missing or changed since they were written (PSBC.csv)", out=out)


def test_a_missing_instruction_file_is_refused(sent):
    out, bank = sent
    (instructions_dir(out, 1) / "BOB.csv").unlink()
    _refused(deduct_returns(out, 1, bank), "(BOB.csv)", out=out)


def test_another_enrollee_file_is_refused(sent, tmp_path):
    out, bank = sent
    other = tmp_path / "enrollees.csv"
    other.write_bytes(ENROLLEES.read_bytes() + b"\n")  # one byte more: another file
    result = deduct_returns(out, 1, bank, enrollees=other)
    _refused(result, "the enrollee file differs from the one the instructions", out=out)


def test_another_bank_format_than_the_instructions_is_refused(sent):
    out, bank = sent
    result = deduct_returns(out, 1, bank, "--bank-format", PIPE)
    _refused(result, f"written in bank format generic, not {PIPE}", out=out)
    # naming the instructions' own format is fine
    assert deduct_returns(out, 1, bank, "--bank-format", "generic").exit_code == 0


def test_a_bank_format_edited_since_the_instructions_is_refused(tmp_path):
    rules = copy_rules(tmp_path / "rules")
    env = {"MEDIINS_RULES_DIR": str(rules)}
    out, bank = tmp_path / "out", tmp_path / "bank"
    assert instruct(out, 1, env=env).exit_code == 0
    assert simulate(out, 1, LEDGER_1, bank, env=env).exit_code == 0
    generic = rules / "banks" / "generic.toml"
    generic.write_text(generic.read_text(encoding="utf-8") + "# edited\n", encoding="utf-8")
    result = deduct_returns(out, 1, bank, env=env)
    _refused(result, "bank format generic", "changed since the instructions were written", out=out)


def test_round_two_in_another_mode_than_round_one_is_refused(sent):
    out, bank = sent
    assert deduct_returns(out, 1, bank).exit_code == 0
    result = deduct_ledger(out, 2, LEDGER_2)
    assert result.exit_code == 3
    assert "round 2 runs the same way (--returns)" in result.stderr
    assert not round_dir(out, 2).exists()


def test_round_two_returns_without_round_two_instructions_are_refused(sent):
    out, bank = sent
    assert deduct_returns(out, 1, bank).exit_code == 0
    result = deduct_returns(out, 2, bank)
    assert result.exit_code == 3
    assert "no instructions of round 2 of 2024-02" in result.stderr


def test_ledger_and_returns_together_are_bad_input(sent):
    out, bank = sent
    result = deduct_returns(out, 1, bank, "--ledger", LEDGER_1)
    assert result.exit_code == 2
    assert "--ledger and --returns do not go together" in result.stderr


def test_the_settle_date_is_the_deducted_on_date(sent):
    out, bank = sent
    lines = (bank / "BOB.csv").read_text(encoding="utf-8").splitlines()
    assert lines[1].startswith(f"{ref(1, 1)},") and lines[1].endswith(",OK,扣款成功,2024-02-18")
    lines[1] = lines[1].replace(",2024-02-18", ",20240220")  # the compact form is a date too
    (bank / "BOB.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert deduct_returns(out, 1, bank).exit_code == 0
    success = rows(round_dir(out, 1) / "success.csv")
    days = {s["reference"]: s["deducted_on"] for s in success}
    assert days.pop(ref(1, 1)) == "2024-02-20"
    assert set(days.values()) == {"2024-02-18"}  # the others as the bank said


# --------------------------------------------------------------------------- outcomes by hand

# One person per result code, premiums 100.01 × n so that every sum says who is in it.
# ICBC: 11, 13, 15, 17, 19; CCB: 12, 14, 16, 18; 20 is terminated (skipped).
NAMES = {
    11: "安娜",
    12: "白冰",
    13: "陈晨",
    14: "邓丹",
    15: "方芳",
    16: "高歌",
    17: "韩寒",
    18: "金晶",
    19: "李丽",
    20: "马明",
}
PEOPLE = [
    Person(
        n,
        NAMES[n],
        str(Decimal("100.01") * (n - 10)),
        f"62220200000000000{n}",
        "ICBC" if n % 2 else "CCB",
        agency="A1" if n <= 15 else "A2",
        status="terminated" if n == 20 else "active",
    )
    for n in range(11, 21)
]
BY_N = {p.n: p for p in PEOPLE}
ROUND_1 = {  # n → (result, settled_on)
    11: ("OK", "2024-02-19"),
    12: ("INSUFFICIENT_FUNDS", ""),
    13: ("BANK_ERROR", ""),
    14: ("ACCOUNT_CLOSED", ""),
    15: ("NAME_MISMATCH", ""),
    16: ("NO_AGREEMENT", ""),
    17: ("ACCOUNT_FROZEN", ""),
    18: ("NO_ACCOUNT", ""),
    19: ("OK", "2024-02-18"),
}
PERMANENT = (14, 15, 16, 17, 18)


@dataclass(frozen=True)
class Handmade:
    out: Path
    enrollees: Path


@pytest.fixture(scope="module")
def handmade(tmp_path_factory) -> Handmade:
    """Both rounds of PEOPLE in return mode, the answers written by hand: round 2 debits 12
    (settled 2024-02-23) and the bank fails 13 again (BANK_ERROR)."""
    root = tmp_path_factory.mktemp("handmade")
    enrollees = write_enrollees(root / "enrollees.csv", PEOPLE)
    out = root / "out"
    assert instruct(out, 1, enrollees=enrollees).exit_code == 0
    first = instructions_dir(out, 1)
    answers = {ref(1, n - 10): r for n, r in ROUND_1.items()}  # R1 numbers 11..19 as 1..9
    for name in ("ICBC.csv", "CCB.csv"):
        write_generic_returns(root / "r1" / name, answer_all(first / name, answers))
    assert deduct_returns(out, 1, root / "r1", enrollees=enrollees).exit_code == 0
    assert instruct(out, 2, enrollees=enrollees).exit_code == 0
    second = instructions_dir(out, 2)
    answers = {ref(2, 1): ("OK", "2024-02-23"), ref(2, 2): ("BANK_ERROR", "")}
    for name in ("ICBC.csv", "CCB.csv"):
        write_generic_returns(root / "r2" / name, answer_all(second / name, answers))
    result = deduct_returns(out, 2, root / "r2", enrollees=enrollees)
    assert result.exit_code == 0, result.stderr
    return Handmade(out, enrollees)


def _premium(n: int) -> str:
    return BY_N[n].premium


def test_handmade_premiums_are_what_the_sums_assume():
    assert [_premium(n) for n in (11, 15, 19)] == ["100.01", "500.05", "900.09"]


def test_round_one_success_takes_the_banks_settle_date(handmade):
    success = rows(round_dir(handmade.out, 1) / "success.csv")
    assert [(s["enrollee_id"], s["amount"], s["deducted_on"], s["reference"]) for s in success] == [
        (BY_N[11].id, "100.01", "2024-02-19", ref(1, 1)),
        (BY_N[19].id, "900.09", "2024-02-18", ref(1, 9)),
    ]


def test_round_one_failures_carry_the_code_and_no_balance(handmade):
    failure = rows(round_dir(handmade.out, 1) / "failure.csv")
    assert [(f["enrollee_id"], f["amount"], f["reason"]) for f in failure] == [
        (BY_N[n].id, _premium(n), ROUND_1[n][0]) for n in range(12, 19)
    ]
    assert {f["balance_at_cutoff"] for f in failure} == {""}
    assert {f.get("balance_available", "") for f in failure} == {""}


def test_round_one_retry_is_the_retryable_failures_only(handmade):
    retry = rows(round_dir(handmade.out, 1) / "retry.csv")
    assert [(r["enrollee_id"], r["amount"], r["retry_on"], r["deposit_by"]) for r in retry] == [
        (BY_N[12].id, "200.02", "2024-02-22", "2024-02-21"),  # INSUFFICIENT_FUNDS
        (BY_N[13].id, "300.03", "2024-02-22", "2024-02-21"),  # BANK_ERROR
    ]
    skipped = rows(round_dir(handmade.out, 1) / "skipped.csv")
    assert [(s["enrollee_id"], s["reason"]) for s in skipped] == [(BY_N[20].id, "INACTIVE")]


def test_round_one_agency_lists_say_what_to_do(handmade):
    agencies = round_dir(handmade.out, 1) / "agencies"
    assert sorted(p.name for p in agencies.iterdir()) == ["A1.csv", "A2.csv"]
    listed = {r["enrollee_id"]: r for name in ("A1.csv", "A2.csv") for r in rows(agencies / name)}
    assert set(listed) == {BY_N[n].id for n in range(12, 19)}  # every failure, no success
    for n in range(12, 19):
        r = listed[BY_N[n].id]
        code = ROUND_1[n][0]
        assert r["reason"] == code and r["to_do"] == TO_DO[code]
        if n in PERMANENT:
            assert (r["retry_on"], r["deposit_by"]) == ("", "")
        else:
            assert (r["retry_on"], r["deposit_by"]) == ("2024-02-22", "2024-02-21")
    a1 = [r["enrollee_id"] for r in rows(agencies / "A1.csv")]
    assert a1 == [BY_N[n].id for n in (12, 13, 14, 15)]  # 白 bái, 陈 chén, 邓 dèng, 方 fāng


def test_round_one_summary_conserves_money_per_instruction_file(handmade):
    s = summary(round_dir(handmade.out, 1))
    assert s["mode"] == "returns"
    assert s["attempted"] == {"enrollees": 9, "amount": "4500.45"}
    assert s["succeeded"] == {"enrollees": 2, "amount": "1000.10"}
    assert s["failed"]["enrollees"] == 7 and s["failed"]["amount"] == "3500.35"
    assert s["retry"]["enrollees"] == 2 and s["retry"]["amount"] == "500.05"
    assert s["retry_permanent"] == {
        "enrollees": 5,
        "amount": "3000.30",
        "by_reason": {ROUND_1[n][0]: 1 for n in sorted(PERMANENT, key=lambda n: ROUND_1[n][0])},
    }
    assert s["bank"]["instruction_files"] == {
        "CCB.csv": {
            "instructed": {"enrollees": 4, "amount": "2000.20"},
            "succeeded": {"enrollees": 0, "amount": "0.00"},
            "failed": {"enrollees": 4, "amount": "2000.20"},
        },
        "ICBC.csv": {
            "instructed": {"enrollees": 5, "amount": "2500.25"},
            "succeeded": {"enrollees": 2, "amount": "1000.10"},
            "failed": {"enrollees": 3, "amount": "1500.15"},
        },
    }
    _conserved(handmade.out, 1, handmade.enrollees)


def _conserved(out: Path, round_no: int, enrollees: Path = ENROLLEES) -> None:
    """Per instruction file and in total: instructed (the manifest's control totals) =
    succeeded + failed (success.csv and failure.csv), to the fen. An enrollee's file is named
    after the bank code (``_`` for none), as DESIGN §11 says."""
    files = manifest(instructions_dir(out, round_no))["files"]
    ext = Path(next(iter(files))).suffix
    file_of = {e["enrollee_id"]: (e["bank"] or "_") + ext for e in rows(enrollees)}
    done = round_dir(out, round_no)
    outcome = {name: 0 for name in files}
    count = {name: 0 for name in files}
    for csv_name in ("success.csv", "failure.csv"):
        for r in rows(done / csv_name):
            outcome[file_of[r["enrollee_id"]]] += fen(r["amount"])
            count[file_of[r["enrollee_id"]]] += 1
    assert outcome == {name: f["sum_fen"] for name, f in files.items()}
    assert count == {name: f["count"] for name, f in files.items()}
    by_file = summary(done)["bank"]["instruction_files"]
    assert set(by_file) == set(files)
    for name, f in by_file.items():
        assert fen(f["instructed"]["amount"]) == fen(f["succeeded"]["amount"]) + fen(
            f["failed"]["amount"]
        )
        assert fen(f["instructed"]["amount"]) == files[name]["sum_fen"]
        assert f["instructed"]["enrollees"] == files[name]["count"]


def test_round_two_instructs_and_settles_the_retryable(handmade):
    sent = instructions_dir(handmade.out, 2)
    assert [r["enrollee_id"] for r in rows(sent / "CCB.csv")] == [BY_N[12].id]
    assert [r["enrollee_id"] for r in rows(sent / "ICBC.csv")] == [BY_N[13].id]
    done = round_dir(handmade.out, 2)
    success = rows(done / "success.csv")
    assert [(s["enrollee_id"], s["deducted_on"], s["reference"]) for s in success] == [
        (BY_N[12].id, "2024-02-23", ref(2, 1))
    ]
    failure = rows(done / "failure.csv")
    assert [(f["enrollee_id"], f["reason"]) for f in failure] == [(BY_N[13].id, "BANK_ERROR")]
    _conserved(handmade.out, 2, handmade.enrollees)


def test_breaks_hold_round_two_failures_and_round_one_permanent_ones(handmade):
    done = round_dir(handmade.out, 2)
    breaks = rows(done / "breaks.csv")
    expected = {BY_N[13].id: "BANK_ERROR"} | {BY_N[n].id: ROUND_1[n][0] for n in PERMANENT}
    assert {b["enrollee_id"]: b["reason"] for b in breaks} == expected
    # DESIGN §5/§11: BANK for the bank's failure, ACCOUNT_PROBLEM for the permanent ones
    assert {b["enrollee_id"]: b["cause"] for b in breaks} == {BY_N[13].id: "BANK"} | {
        BY_N[n].id: "ACCOUNT_PROBLEM" for n in PERMANENT
    }
    # paid through 2024-01, enrolled in 2015: February is the first unpaid month (29 days)
    for b in breaks:
        assert (b["category"], b["unpaid_since"], b["unpaid_months"], b["unpaid_days"]) == (
            "NEW_BREAK",
            "2024-02",
            "1",
            "29",
        )
    updates = {u["enrollee_id"]: u for u in rows(done / "updates.csv")}
    for n in (11, 12, 19):  # paid this month, in either round
        assert updates[BY_N[n].id]["paid_through"] == "2024-02"
    for n in (13, *PERMANENT):
        assert updates[BY_N[n].id]["paid_through"] == "2024-01"
    agencies = done / "agencies"
    listed = {r["enrollee_id"] for p in agencies.iterdir() for r in rows(p)}
    assert listed == set(expected)


def test_month_total_counts_both_kinds_of_unpaid(handmade):
    total = summary(round_dir(handmade.out, 2))["month_total"]
    assert total["due"] == {"enrollees": 9, "amount": "4500.45"}
    assert total["collected"] == {"enrollees": 3, "amount": "1200.12"}  # 11, 19, then 12
    unpaid = total["unpaid"]
    assert (unpaid["enrollees"], unpaid["amount"]) == (6, "3300.33")
    assert unpaid["round_2"]["enrollees"] == 1 and unpaid["round_2"]["amount"] == "300.03"
    assert unpaid["round_1_permanent"]["enrollees"] == 5
    assert unpaid["round_1_permanent"]["amount"] == "3000.30"
    # the month's money: due = collected + unpaid
    assert fen(total["due"]["amount"]) == fen(total["collected"]["amount"]) + fen(unpaid["amount"])
    assert total["collection_rate"] == "0.2667"  # 1200.12 / 4500.45


def test_chinese_result_texts_map_through_the_pipe_format(tmp_path):
    people = [p for p in TINY if p.n in (1, 2, 4, 6)]
    enrollees = write_enrollees(tmp_path / "e.csv", people)
    out = tmp_path / "out"
    assert instruct(out, 1, "--bank-format", PIPE, enrollees=enrollees).exit_code == 0
    sent = instructions_dir(out, 1)
    said = {
        ref(1, 1): "余额不足",
        ref(1, 2): "账户已销户",
        ref(1, 3): "户名不符",
        ref(1, 4): "扣款成功",
    }
    bank = tmp_path / "bank"
    bank.mkdir()
    for name in ("ICBC.txt", "CCB.txt", "_.txt"):
        lines = []
        for i, r in enumerate(
            pipe_rows(
                sent / name,
                ["seq", "reference", "account_no", "name", "amount", "month", "purpose"],
            ),
            start=1,
        ):
            text = said[r["reference"]]
            settled = "20240218" if text == "扣款成功" else ""
            cells = [str(i), r["reference"], r["account_no"], r["amount"], text, text, settled]
            assert len(cells) == len(PIPE_RETURN)
            lines.append("|".join(cells))
        (bank / name).write_bytes(("\r\n".join(lines) + "\r\n").encode("gb18030"))
    result = deduct_returns(out, 1, bank, enrollees=enrollees)
    assert result.exit_code == 0, result.stderr
    failure = rows(round_dir(out, 1) / "failure.csv")
    assert [(f["enrollee_id"], f["reason"]) for f in failure] == [
        (TINY[0].id, "INSUFFICIENT_FUNDS"),
        (TINY[1].id, "ACCOUNT_CLOSED"),
        (TINY[3].id, "NAME_MISMATCH"),
    ]
    success = rows(round_dir(out, 1) / "success.csv")
    assert [(s["enrollee_id"], s["amount"], s["deducted_on"]) for s in success] == [
        (TINY[5].id, "100.00", "2024-02-18")
    ]
    retry = rows(round_dir(out, 1) / "retry.csv")
    assert [r["enrollee_id"] for r in retry] == [TINY[0].id]


# --------------------------------------------------------------------------- the sample month


@dataclass(frozen=True)
class Sample:
    ledger: Path
    generic: Path
    pipe: Path


def _return_mode(root: Path, *fmt: str) -> Path:
    out = root / "out"
    for n, ledger in ((1, LEDGER_1), (2, LEDGER_2)):
        # round 2's instructions go in round 1's format without being told
        assert instruct(out, n, *(fmt if n == 1 else ())).exit_code == 0
        assert simulate(out, n, ledger, root / f"r{n}").exit_code == 0
        result = deduct_returns(out, n, root / f"r{n}")
        assert result.exit_code == 0, result.stderr
    return out


@pytest.fixture(scope="module")
def sample(tmp_path_factory) -> Sample:
    ledger = tmp_path_factory.mktemp("ledger") / "out"
    assert deduct_ledger(ledger, 1, LEDGER_1).exit_code == 0
    assert deduct_ledger(ledger, 2, LEDGER_2).exit_code == 0
    generic = _return_mode(tmp_path_factory.mktemp("generic"))
    pipe = _return_mode(tmp_path_factory.mktemp("pipe"), "--bank-format", PIPE)
    return Sample(ledger, generic, pipe)


def _successes(out: Path, n: int) -> set[tuple[str, str, str]]:
    return {
        (r["enrollee_id"], r["amount"], r["reference"])
        for r in rows(round_dir(out, n) / "success.csv")
    }


def test_the_sample_month_in_ledger_mode_is_as_its_readme_says(sample):
    """sample_data/README.md's table, worked by hand: 33 of 44 in round 1 (23535.03), 5 of
    round 2's 11 (3505.23)."""
    s1, s2 = summary(round_dir(sample.ledger, 1)), summary(round_dir(sample.ledger, 2))
    assert s1["succeeded"] == {"enrollees": 33, "amount": "23535.03"}
    assert s1["failed"]["enrollees"] == 11 and s1["failed"]["amount"] == "7392.09"
    assert s2["attempted"] == {"enrollees": 11, "amount": "7392.09"}
    assert s2["succeeded"] == {"enrollees": 5, "amount": "3505.23"}


@pytest.mark.parametrize("mode", ["generic", "pipe"])
def test_return_mode_gives_the_ledger_modes_answers(sample, mode):
    out = getattr(sample, mode)
    for n in (1, 2):
        assert _successes(out, n) == _successes(sample.ledger, n), n
    # the continuity of the month is the same
    for name in ("breaks.csv", "updates.csv", "resumptions.csv"):
        assert (round_dir(out, 2) / name).read_bytes() == (
            round_dir(sample.ledger, 2) / name
        ).read_bytes(), name
    # round 1's failures are the same people with the same reasons
    failed = {(r["enrollee_id"], r["reason"]) for r in rows(round_dir(out, 1) / "failure.csv")}
    assert failed == {
        (r["enrollee_id"], r["reason"]) for r in rows(round_dir(sample.ledger, 1) / "failure.csv")
    }
    # the ledger mode retries NO_ACCOUNT (马俊杰), the return mode does not: its round 2 is one
    # shorter, and the month's unpaid are the same
    unpaid_ledger = {r["enrollee_id"] for r in rows(round_dir(sample.ledger, 2) / "failure.csv")}
    unpaid_returns = {r["enrollee_id"] for r in rows(round_dir(out, 2) / "failure.csv")}
    no_account = {
        r["enrollee_id"]
        for r in rows(round_dir(out, 1) / "failure.csv")
        if r["reason"] == "NO_ACCOUNT"
    }
    assert no_account == {"420106199110170135"}
    causes = {b["enrollee_id"]: b["cause"] for b in rows(round_dir(out, 2) / "breaks.csv")}
    assert causes.pop("420106199110170135") == "ACCOUNT_PROBLEM"
    assert set(causes.values()) == {"PERSONAL"}  # the others lacked the funds
    assert unpaid_ledger == unpaid_returns | no_account
    s2 = summary(round_dir(out, 2))
    assert s2["attempted"] == {"enrollees": 10, "amount": "6772.14"}  # 7392.09 − 619.95
    assert s2["month_total"]["unpaid"]["enrollees"] == 6
    assert s2["month_total"]["unpaid"]["amount"] == "3886.86"  # as the ledger mode's round 2
    assert (
        s2["month_total"]["collected"]
        == summary(round_dir(sample.ledger, 2))["month_total"]["collected"]
    )
    for n in (1, 2):
        _conserved(out, n)


def test_the_pipe_month_wrote_its_files_in_its_format(sample):
    for n in (1, 2):
        names = sorted(manifest(instructions_dir(sample.pipe, n))["files"])
        assert names == ["BOB.txt", "PSBC.txt"]
    assert summary(round_dir(sample.pipe, 1))["bank"]["format"] == PIPE


# --------------------------------------------------------------------------- --round auto


def test_round_auto_waits_for_the_banks_files_then_runs(tmp_path):
    out, bank = tmp_path / "out", tmp_path / "bank"
    assert instruct(out, 1).exit_code == 0
    answers = tmp_path / "answers"
    assert simulate(out, 1, LEDGER_1, answers).exit_code == 0
    pattern = str(bank / "{month}" / "r{round}" / "*.csv")
    args = (
        "deduct",
        "--round",
        "auto",
        "--date",
        "2024-02-18",
        "--enrollees",
        ENROLLEES,
        "--out",
        out,
        "--returns",
        pattern,
    )
    waiting = ok(*args)
    assert "round 1 of 2024-02 is due; waiting for the bank's return files" in waiting.stdout
    assert "nothing run" in waiting.stdout
    said = json.loads(ok(*args, "--json").stdout)
    assert said == {
        "status": "waiting",
        "rounds": [{"month": MONTH, "round": 1, "returns": [str(bank / MONTH / "r1" / "*.csv")]}],
    }
    assert not round_dir(out, 1).exists()
    (bank / MONTH / "r1").mkdir(parents=True)  # the folder, still empty: still waiting
    assert json.loads(ok(*args, "--json").stdout)["status"] == "waiting"
    for p in answers.iterdir():
        shutil.copy(p, bank / MONTH / "r1" / p.name)
    ran = json.loads(ok(*args, "--json").stdout)
    assert ran["status"] == "ran"
    assert ran["summary"]["succeeded"] == {"enrollees": 33, "amount": "23535.03"}
    assert round_dir(out, 1).is_dir()
    assert json.loads(ok(*args, "--json").stdout)["status"] == "unchanged"


def test_round_auto_on_a_day_without_a_round_runs_nothing(tmp_path):
    result = ok(
        "deduct",
        "--round",
        "auto",
        "--date",
        "2024-02-19",
        "--enrollees",
        ENROLLEES,
        "--out",
        tmp_path / "out",
        "--returns",
        str(tmp_path / "none" / "*.csv"),
        "--json",
    )
    said = json.loads(result.stdout)
    assert said["status"] == "nothing_due"
    assert said["next"] == {"month": MONTH, "round": 2, "effective": "2024-02-22"}


# --------------------------------------------------------------------------- formats by path


def test_a_format_given_by_path_serves_deduct_returns(tmp_path):
    """DESIGN §11 allows `--bank-format PATH`; deduct --returns reads the returns in it when
    given the same path again (it is not in rules/banks/)."""
    path = tmp_path / "mybank.toml"
    text = (Path(__file__).parent.parent / "rules/banks/generic.toml").read_text(encoding="utf-8")
    path.write_text(text.replace('id = "generic"', 'id = "mybank"'), encoding="utf-8")
    out = tmp_path / "out"
    assert instruct(out, 1, "--bank-format", path).exit_code == 0
    sent = instructions_dir(out, 1)
    bank = tmp_path / "bank"
    for name in ("BOB.csv", "PSBC.csv"):
        write_generic_returns(bank / name, answer_all(sent / name, {}))
    result = deduct_returns(out, 1, bank, "--bank-format", path)
    assert result.exit_code == 0, result.stderr
    assert summary(round_dir(out, 1))["bank"]["format"] == "mybank"
    # the same id in another file is not the format the instructions were written in
    path.write_text(path.read_text(encoding="utf-8") + "# edited\n", encoding="utf-8")
    shutil.rmtree(round_dir(out, 1))
    refused = deduct_returns(out, 1, bank, "--bank-format", path)
    assert refused.exit_code == 3
    assert "changed since the instructions were written" in refused.stderr


# --------------------------------------------------------------------------- bugs found, fixed


def test_a_bank_code_whose_file_is_the_no_bank_file_is_refused(tmp_path):
    """A bank code that becomes the file name `_` (here `/`) would share `_.csv` with the
    enrollees who have no bank code: two banks' instructions in one file."""
    people = [
        Person(1, "张三", "468.50", "6222020000000000011", "/"),
        Person(2, "李四", "619.95", "6222020000000000022"),
    ]
    out = tmp_path / "out"
    result = instruct(out, 1, enrollees=write_enrollees(tmp_path / "e.csv", people))
    assert result.exit_code == 2


def test_round_two_instructions_of_a_replaced_round_one_are_not_used(tmp_path):
    """Round 1 run again (--force) after round 2's instructions were written: those were made
    from the earlier retry list. 单丽 and 曾志强 share an account and a premium; swapping their
    round-1 answers keeps every control total, so deduct --round 2 matches the bank's answer
    to 单丽's instruction to 曾志强 — unless the replacement or round 2 is refused."""
    out, bank = tmp_path / "out", tmp_path / "bank"
    assert instruct(out, 1).exit_code == 0
    assert simulate(out, 1, LEDGER_1, bank).exit_code == 0
    assert deduct_returns(out, 1, bank).exit_code == 0
    assert instruct(out, 2).exit_code == 0
    sent_to = {
        r["reference"]: r["account_name"] for r in rows(instructions_dir(out, 2) / "BOB.csv")
    }
    assert sent_to[ref(2, 1)] == "单丽"
    lines = (bank / "BOB.csv").read_text(encoding="utf-8").splitlines()
    zeng, shan = lines[2].split(","), lines[3].split(",")  # R1-00000002 曾志强, -3 单丽
    assert (zeng[0], shan[0]) == (ref(1, 2), ref(1, 3)) and zeng[1] == shan[1]
    zeng[3:], shan[3:] = shan[3:], zeng[3:]
    lines[2], lines[3] = ",".join(zeng), ",".join(shan)
    swapped = tmp_path / "swapped"
    swapped.mkdir()
    shutil.copy(bank / "PSBC.csv", swapped / "PSBC.csv")
    (swapped / "BOB.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    again = deduct_returns(out, 1, swapped, "--force")
    assert again.exit_code == 3
    assert "round 1 can no longer be replaced" in again.stderr
    # and had round 1 been replaced another way (its folder moved by hand), round 2 refuses
    # the instructions made from the earlier one
    shutil.move(out / "2024-02" / "round-1", tmp_path / "old-round-1")
    assert deduct_returns(out, 1, swapped).exit_code == 0
    assert simulate(out, 2, LEDGER_2, tmp_path / "r2").exit_code == 0
    second = deduct_returns(out, 2, tmp_path / "r2")
    assert second.exit_code == 3, "round 2 matched answers to instructions of another round 1"
    assert "made from another run of round 1" in second.stderr


def test_round_auto_waits_for_a_returns_folder_the_bank_has_not_made_yet(tmp_path):
    """A folder template (no pattern) whose folder does not exist yet: waiting, not bad input."""
    out = tmp_path / "out"
    assert instruct(out, 1).exit_code == 0
    folder = str(tmp_path / "bank" / "{month}" / "r{round}")
    args = ("deduct", "--round", "auto", "--date", "2024-02-18", "--enrollees", ENROLLEES)
    said = json.loads(ok(*args, "--out", out, "--returns", folder, "--json").stdout)
    assert said["status"] == "waiting"
    assert said["rounds"][0]["returns"] == [str(tmp_path / "bank" / MONTH / "r1")]
    # asked for round 1 by number, the same folder is bad input: there is nothing to read
    plain = deduct_returns(out, 1, tmp_path / "bank" / MONTH / "r1")
    assert plain.exit_code == 2 and "no return file at" in plain.stderr


def test_the_simulated_bank_answers_instructions_in_a_format_given_by_path(tmp_path):
    """A centre's own format file, outside rules/banks/: instruct, simulate-bank and deduct
    --returns all take it by path."""
    own = tmp_path / "my-bank.toml"
    text = (ROOT / "rules" / "banks" / "pipe-gb18030-fen.toml").read_text(encoding="utf-8")
    own.write_text(text.replace('id = "pipe-gb18030-fen"', 'id = "my-bank"'), encoding="utf-8")
    out, bank = tmp_path / "out", tmp_path / "bank"
    assert instruct(out, 1, "--bank-format", own).exit_code == 0
    by_id = simulate(out, 1, LEDGER_1, bank)
    assert by_id.exit_code == 2 and "no bank format 'my-bank'" in by_id.stderr
    assert (
        mediins(
            "simulate-bank",
            "--round",
            1,
            "--month",
            MONTH,
            "--ledger",
            LEDGER_1,
            "--to",
            bank,
            "--out",
            out,
            "--bank-format",
            own,
        ).exit_code
        == 0
    )
    assert sorted(p.name for p in bank.iterdir()) == ["BOB.txt", "PSBC.txt"]
    done = deduct_returns(out, 1, bank, "--bank-format", own)
    assert done.exit_code == 0, done.stderr
    assert manifest(round_dir(out, 1))["mode"] == "returns"
