"""``mediins sample``: a synthetic month that the real tool accepts and that meets every case.

The month is generated once per module (2,000 enrollees) and put through ``validate`` and
both rounds with the CLI; the tests read the files and the rounds' outputs.
"""

from __future__ import annotations

import csv
import json
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
import stdnum.cn.ric
from typer.testing import CliRunner

from mediins_cli.cli import app
from mediins_cli.months import Month
from mediins_cli.rules import load_pack
from mediins_cli.sample import FILES, SURNAMES, write_sample

N = 2000
MONTH = "2024-02"
SEED = 7


def mediins(*args: object) -> dict:
    """``mediins ARGS… --json``, which must exit 0; its JSON output."""
    result = CliRunner().invoke(app, [*map(str, args), "--json"], catch_exceptions=False)
    assert result.exit_code == 0, result.stdout + result.stderr
    return json.loads(result.stdout)


def generate(out: Path, n: int = N, month: str = MONTH, seed: int = SEED) -> dict:
    return mediins("sample", "--enrollees", n, "--month", month, "--out", out, "--seed", seed)


def read(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="module")
def month(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The generated month, validated, and both rounds run on it."""
    base = tmp_path_factory.mktemp("sample")
    data, out = base / "in", base / "out"
    result = generate(data)
    validation = mediins(
        "validate", "--enrollees", data / "enrollees.csv", "--ledger", data / "ledger.csv"
    )
    rounds = {}
    for number, ledger in ((1, "ledger.csv"), (2, "ledger-round2.csv")):
        rounds[number] = mediins(
            "deduct", "--round", number, "--month", MONTH, "--enrollees",
            data / "enrollees.csv", "--ledger", data / ledger, "--out", out,
        )  # fmt: skip
    return {
        "data": data,
        "run": out / MONTH,
        "result": result,
        "validation": validation,
        "rounds": rounds,
        "enrollees": read(data / "enrollees.csv"),
    }


def file_bytes(folder: Path) -> dict[str, bytes]:
    return {name: (folder / name).read_bytes() for name in FILES}


def test_the_command_reports_the_files_it_wrote(month: dict) -> None:
    data, result = month["data"], month["result"]
    assert sorted(p.name for p in data.iterdir()) == sorted(FILES)  # no temporary left
    for name, rows in result["files"].items():
        lines = (data / name).read_text(encoding="utf-8").count("\n")
        assert lines == rows + 1, name  # a header, then one line per row
    assert result["files"]["enrollees.csv"] == N
    assert 3.5 * N < result["files"]["ledger.csv"] < 5 * N  # about 4 rows per enrollee
    assert result["month"] == MONTH and result["seed"] == SEED
    assert sum(result["kinds"].values()) == N
    assert all(count > 0 for count in result["kinds"].values()), result["kinds"]
    assert all(count > 0 for count in result["accounts"].values()), result["accounts"]


def test_same_seed_same_bytes_another_seed_other_bytes(month: dict, tmp_path: Path) -> None:
    generate(tmp_path / "again")
    assert file_bytes(tmp_path / "again") == file_bytes(month["data"])
    generate(tmp_path / "other", seed=SEED + 1)
    other = file_bytes(tmp_path / "other")
    assert all(other[name] != data for name, data in file_bytes(month["data"]).items())


def test_chunks_do_not_change_the_bytes(month: dict, tmp_path: Path) -> None:
    write_sample(
        tmp_path, enrollees=N, month=Month.parse(MONTH), seed=SEED,
        pack=load_pack("beijing-2007"), chunk=300,
    )  # fmt: skip
    assert file_bytes(tmp_path) == file_bytes(month["data"])


def test_validate_finds_nothing_wrong(month: dict) -> None:
    validation = month["validation"]
    assert validation["ok"] is True
    assert validation["errors"] == 0 and validation["warnings"] == 0  # no UNKNOWN_AREA either
    assert validation["problems"] == []
    assert validation["enrollees"]["rows"] == N
    assert validation["enrollees"]["shared_accounts"] > 0
    assert validation["enrollees"]["without_ledger_rows"] > 0


def test_resident_ids_are_valid_unique_and_agree_with_sex_and_birth_date(month: dict) -> None:
    rows = month["enrollees"]
    ids = [row["enrollee_id"] for row in rows]
    assert all(stdnum.cn.ric.is_valid(i) for i in ids)
    assert len({i.upper() for i in ids}) == N
    assert any(i.endswith("X") for i in ids) and any(i[-1].isdigit() for i in ids)
    assert len({i[:6] for i in ids}) > 300  # a few hundred areas
    sexes = Counter(row["sex"] for row in rows)
    assert sexes[""] > N / 2 and set(sexes) <= {"", "M", "F", "男", "女"} and len(sexes) > 3
    for row in rows:
        male = int(row["enrollee_id"][16]) % 2 == 1
        if row["sex"]:
            assert (row["sex"] in ("M", "男")) == male
        if row["birth_date"]:
            born = stdnum.cn.ric.get_birth_date(row["enrollee_id"])
            assert row["birth_date"] == born.isoformat()
    assert 0 < sum(bool(row["birth_date"]) for row in rows) < N / 4


def test_names_agencies_banks_and_premiums(month: dict) -> None:
    rows = month["enrollees"]
    names = [row["name"] for row in rows]
    assert all(2 <= len(name) <= 4 for name in names)
    surnames = Counter(name[:1] for name in names)
    assert surnames.most_common(1)[0][0] in "王李张"
    polyphonic = {"单", "曾", "解", "仇", "查", "区", "朴", "乐"}
    assert len(polyphonic & set(surnames)) >= 4
    compound = tuple(surname for surname, _ in SURNAMES if len(surname) == 2)
    assert {"欧阳", "司马", "长孙"} <= set(compound)
    assert any(name.startswith(compound) for name in names)
    assert {len(name) for name in names if not name.startswith(compound)} == {2, 3}
    assert {row["agency"] for row in rows} == {f"AG-{k:04d}" for k in range(1, 6)}
    assert len({row["bank"] for row in rows}) >= 6
    assert {row["monthly_premium"] for row in rows} == {"619.95", "703.53", "858.27"}
    for row in rows:
        number = row["account_no"]
        assert number.isdigit() and 16 <= len(number) <= 19
        digits = [int(d) for d in reversed(number)]
        luhn = sum(digits[0::2]) + sum(sum(divmod(2 * d, 10)) for d in digits[1::2])
        assert luhn % 10 == 0, "card numbers carry a Luhn check digit"


def test_shared_accounts_of_two_and_three(month: dict) -> None:
    members: dict[str, list[dict[str, str]]] = {}
    for row in month["enrollees"]:
        members.setdefault(row["account_no"], []).append(row)
    sizes = Counter(len(group) for group in members.values())
    assert sizes[2] > 0 and sizes[3] > 0 and set(sizes) == {1, 2, 3}
    for group in members.values():
        assert len({row["bank"] for row in group}) == 1
        assert len({row["enrollee_id"] for row in group}) == len(group)


def test_histories_of_every_kind(month: dict) -> None:
    run = Month.parse(MONTH)
    index = run.year * 12 + run.month - 1
    seen = Counter()
    for row in month["enrollees"]:
        enrolled = Month.of(datetime.strptime(row["enrolled_on"], "%Y-%m-%d").date())
        if row["status"] != "active":
            seen[row["status"]] += 1
        elif not row["paid_through"]:
            assert row["enrolled_on"] < f"{run.shift(1)}-01"
            seen["this month" if enrolled == run else "never paid"] += 1
            if enrolled >= run.shift(-1):
                assert row["waiting_until"] > row["enrolled_on"]  # a new enrollee waits
        else:
            paid = Month.parse(row["paid_through"])
            assert enrolled < paid  # paid for months after the enrollment
            behind = index - (paid.year * 12 + paid.month - 1)
            seen["paid" if behind <= 0 else "last month" if behind == 1 else "gap"] += 1
            if row["waiting_until"]:
                seen["waiting"] += 1
    for kind in ("suspended", "terminated", "this month", "never paid", "paid", "gap", "waiting"):
        assert seen[kind] > 0, kind
    assert seen["last month"] > 0.7 * N


def test_gaps_of_every_length(tmp_path: Path) -> None:
    generate(tmp_path, n=20_000)
    run = Month.parse(MONTH)
    frame = pl.read_csv(tmp_path / "enrollees.csv", infer_schema=False)
    paid = frame.filter(pl.col("status") == "active")["paid_through"]
    behind = {(run.year - int(p[:4])) * 12 + run.month - int(p[5:]) for p in paid.drop_nulls()}
    assert set(range(1, 31)) <= behind  # paid through 1 … 30 months before the run month
    assert {0, -1} & behind  # already paid
    assert paid.null_count() > 0  # never paid


def test_ledgers_round_2_is_round_1_then_rows_between_the_cut_offs(month: dict) -> None:
    data = month["data"]
    dates = month["result"]["dates"]
    cutoff_1 = datetime.fromisoformat(dates["round_1"]["cutoff"])
    cutoff_2 = datetime.fromisoformat(dates["round_2"]["cutoff"])
    assert cutoff_1.date().isoformat() == "2024-02-18"  # the Spring Festival roll
    first = (data / "ledger.csv").read_text(encoding="utf-8").splitlines()
    second = (data / "ledger-round2.csv").read_text(encoding="utf-8").splitlines()
    assert first[0] == second[0] == "account_no,posted_at,amount,memo"
    assert second[: len(first)] == first
    extra = list(csv.reader(second[len(first) :]))
    assert len(extra) > 0

    def posted(text: str) -> datetime:
        return datetime.fromisoformat(text)

    ledger = list(csv.reader(first[1:]))
    times = [posted(row[1]) for row in ledger]
    assert max(times) < cutoff_1 and cutoff_1 - max(times) < timedelta(days=7)  # not stale
    assert min(times) < cutoff_1 - timedelta(days=40)  # opening balances well before
    assert any(len(row[1]) == 10 for row in ledger) and any(len(row[1]) == 19 for row in ledger)
    assert all(cutoff_1 <= posted(row[1]) < cutoff_2 for row in extra)
    assert any(float(row[2]) > 0 for row in extra) and any(float(row[2]) < 0 for row in extra)
    assert any(float(row[2]) < 0 for row in ledger)  # card withdrawals
    accounts = {row["account_no"] for row in month["enrollees"]}
    with_rows = {row[0] for row in ledger}
    assert with_rows <= accounts
    assert accounts - with_rows  # accounts the bank has no row for
    assert {row[0] for row in extra} - with_rows  # … some of which appear before round 2


def test_round_1_meets_every_outcome(month: dict) -> None:
    summary = month["rounds"][1]["summary"]
    assert month["rounds"][1]["status"] == "ran"
    assert summary["warnings"] == []  # no STALE_LEDGER
    assert summary["succeeded"]["enrollees"] > 0.8 * summary["attempted"]["enrollees"]
    failed = summary["failed"]["by_reason"]
    assert failed["INSUFFICIENT_FUNDS"]["enrollees"] > 0 and failed["NO_ACCOUNT"]["enrollees"] > 0
    skipped = summary["skipped"]["by_reason"]
    assert all(skipped[reason] > 0 for reason in ("INACTIVE", "NOT_STARTED", "ALREADY_PAID"))


def test_round_2_recovers_some_and_breaks_of_several_categories(month: dict) -> None:
    summary = month["rounds"][2]["summary"]
    assert month["rounds"][2]["status"] == "ran"
    assert summary["warnings"] == []
    assert summary["succeeded"]["enrollees"] > 0
    failed = summary["failed"]["by_reason"]
    assert failed["INSUFFICIENT_FUNDS"]["enrollees"] > 0 and failed["NO_ACCOUNT"]["enrollees"] > 0
    run = month["run"]
    failure_1 = {row["enrollee_id"]: row["reason"] for row in read(run / "round-1/failure.csv")}
    success_2 = {row["enrollee_id"] for row in read(run / "round-2/success.csv")}
    recovered = Counter(failure_1[i] for i in success_2)
    assert recovered["INSUFFICIENT_FUNDS"] > 0 and recovered["NO_ACCOUNT"] > 0
    continuity = summary["continuity"]
    breaks = {code for code, count in continuity["by_category"].items() if count > 0}
    assert {"NEW_BREAK", "ONGOING", "WAITING_RESET", "LOST_BEFORE"} <= breaks
    resumed = {code for code, count in continuity["resumptions"].items() if count > 0}
    assert {"RESUMED_CONTINUOUS", "RESUMED_NEW_ENROLLMENT"} <= resumed
    shared = Counter(row["account_no"] for row in month["enrollees"])
    debited = read(run / "round-1/success.csv")
    assert any(shared[row["account_no"]] > 1 for row in debited)


def test_another_month_and_pack(tmp_path: Path) -> None:
    """2025-06 (Beijing): a gap from May loses continuity in June (61 days), so this month
    meets CONTINUITY_LOST too; the round dates follow the month."""
    result = generate(tmp_path / "in", month="2025-06")
    assert result["dates"]["round_1"]["effective"] == "2025-06-12"
    data, out = tmp_path / "in", tmp_path / "out"
    for number, ledger in ((1, "ledger.csv"), (2, "ledger-round2.csv")):
        outcome = mediins(
            "deduct", "--round", number, "--month", "2025-06", "--enrollees",
            data / "enrollees.csv", "--ledger", data / ledger, "--out", out,
        )  # fmt: skip
        assert outcome["summary"]["warnings"] == []
    assert outcome["summary"]["continuity"]["by_category"]["CONTINUITY_LOST"] > 0
