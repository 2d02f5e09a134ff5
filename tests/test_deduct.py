"""`mediins deduct` end to end through the CLI runner (issue 3, DESIGN §4, §7, §8, §9).

The sample month 2024-02 (sample_data/README.md) is run once per module and its folders are
reused read-only; a test that changes a run works on a copy. Small hand-made inputs pin the
dates and the cut-off.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import re
import shutil
import stat
from collections import Counter
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from stdnum.cn import ric
from typer.testing import CliRunner

from conftest import SAMPLE
from mediins_cli.cli import app
from mediins_cli.errors import Refused
from mediins_cli.months import Month
from mediins_cli.outputs import month_lock
from mediins_cli.runs import round_one_paid, round_one_state

ENROLLEES = SAMPLE / "enrollees.csv"
LEDGER = SAMPLE / "ledger.csv"
LEDGER_R2 = SAMPLE / "ledger-round2.csv"
MONTH = "2024-02"
# Round 1's retry list of the sample reaches five agencies (sample_data/README.md): DC-RC01 单丽;
# CY-ZJ03 卢海燕, 欧阳晓峰, 覃美玲; FT-SB05 查海涛, 孙浩, 马俊杰; HD-RC04 缪建华, 朴成浩, 袁梦琪;
# XC-SB02 翟雪. Each gets its reminder list under agencies/.
AGENCY_LISTS = {
    f"agencies/{a}.csv" for a in ("CY-ZJ03", "DC-RC01", "FT-SB05", "HD-RC04", "XC-SB02")
}
ROUND_ONE_FILES = {
    "success.csv",
    "failure.csv",
    "retry.csv",
    "skipped.csv",
    "milestones.csv",  # issue 11: who reaches retirement (header only under Beijing's pack)
    "summary.json",
    "manifest.json",
} | AGENCY_LISTS
CSV_FILES = {"success.csv", "failure.csv", "retry.csv", "skipped.csv", "milestones.csv"}
REQUIRED = {
    "success.csv": ["enrollee_id", "name", "account_no", "amount", "deducted_on", "reference"],
    "failure.csv": [
        "enrollee_id",
        "name",
        "agency",
        "account_no",
        "amount",
        "reason",
        "balance_at_cutoff",
    ],
    "retry.csv": [
        "enrollee_id",
        "name",
        "agency",
        "account_no",
        "amount",
        "retry_on",
        "deposit_by",
    ],
    "skipped.csv": ["enrollee_id", "reason"],
}
# Sample rows named in sample_data/README.md
ZENG_ZHIQIANG = "11010119820318123X"
SHAN_LI = "110101198407220464"
OUYANG_XIAOFENG = "110105200009140376"
SUN_HAO = "370102198306060910"  # account 6217991000055271402, 3.53 at round 1's cut-off
QIN_MEILING = "450103199005270843"  # account 6217991000026730189, short by 0.01
# Rows that change the sample ledger (account_no,posted_at,amount,reference,memo)
DEPOSIT_SUN_HAO = "6217991000055271402,2024-02-10 10:00:00,700.00,,柜台存入\n"
DEPOSIT_QIN_MEILING = "6217991000026730189,2024-02-10 10:00:00,0.01,,柜台存入\n"


# --------------------------------------------------------------------------- helpers


def _invoke(*args: Any):
    """The same invocation as conftest's ``run``, for module-scoped fixtures."""
    return CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=False)


def deduct_args(
    round_no: int,
    out: Path,
    enrollees: Path = ENROLLEES,
    ledger: Path = LEDGER,
    month: str = MONTH,
    *extra: str,
) -> list[str]:
    return [
        "deduct",
        "--round",
        str(round_no),
        "--month",
        month,
        "--enrollees",
        str(enrollees),
        "--ledger",
        str(ledger),
        "--out",
        str(out),
        *extra,
    ]


def rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def header(path: Path) -> list[str]:
    with path.open(encoding="utf-8", newline="") as fh:
        return next(csv.reader(fh))


def by_id(path: Path) -> dict[str, dict[str, str]]:
    return {r["enrollee_id"]: r for r in rows(path)}


def total(path: Path) -> Decimal:
    return sum((Decimal(r["amount"]) for r in rows(path)), Decimal(0))


def read_json(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def snapshot(root: Path) -> dict[str, tuple[bytes, int]]:
    """Every output file under ``root``: its bytes and mtime_ns. ``run.log`` carries the clock
    and is not an output (it is not in the manifest); it is checked on its own. The month's
    ``.lock`` is no output either: every run, a refused one too, takes it and writes its name
    in it."""
    return {
        str(p.relative_to(root)): (p.read_bytes(), p.stat().st_mtime_ns)
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name not in ("run.log", ".lock")
    }


def contents(root: Path) -> dict[str, bytes]:
    return {name: data for name, (data, _) in snapshot(root).items()}


def flat(text: str) -> str:
    """Whitespace collapsed: a long message may wrap on the console."""
    return " ".join(text.split())


def changed_ledger(folder: Path, *extra_rows: str) -> Path:
    """The sample ledger with rows appended, as ``folder/ledger.csv``."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "ledger.csv"
    path.write_bytes(LEDGER.read_bytes() + "".join(extra_rows).encode("utf-8"))
    return path


def copy_runs(source_out: Path, target_out: Path) -> None:
    """Copy the run folders of a month (not its lock) into another output folder."""
    for run_dir in (source_out / MONTH).glob("round-*"):
        shutil.copytree(run_dir, target_out / MONTH / run_dir.name)


def ric_id(body17: str) -> str:
    return body17 + ric.calc_check_digit(body17 + "0")


@dataclass(frozen=True)
class Run:
    out: Path
    result: Any

    def dir(self, round_no: int = 1, month: str = MONTH) -> Path:
        return self.out / month / f"round-{round_no}"


# --------------------------------------------------------------------------- shared runs


@pytest.fixture(scope="module")
def round_one(tmp_path_factory) -> Run:
    """Round 1 of the sample month; read-only for the tests."""
    out = tmp_path_factory.mktemp("round1") / "out"
    result = _invoke(*deduct_args(1, out))
    assert result.exit_code == 0, result.stderr
    return Run(out, result)


@pytest.fixture(scope="module")
def round_two(tmp_path_factory, round_one: Run) -> dict[str, Run]:
    """Round 2 after round 1, once with ledger.csv (no February debits) and once, in another
    output folder, with ledger-round2.csv (round 1's debits booked); read-only."""
    runs = {}
    for label, ledger in (("plain", LEDGER), ("booked", LEDGER_R2)):
        out = tmp_path_factory.mktemp(f"round2-{label}") / "out"
        copy_runs(round_one.out, out)
        result = _invoke(*deduct_args(2, out, ledger=ledger))
        assert result.exit_code == 0, result.stderr
        runs[label] = Run(out, result)
    return runs


@pytest.fixture
def round_one_copy(tmp_path: Path, round_one: Run) -> Run:
    """A private copy of the sample's round 1, for tests that run again over it."""
    out = tmp_path / "out"
    copy_runs(round_one.out, out)
    return Run(out, round_one.result)


# --------------------------------------------------------------------------- 1. round 1


def test_round_one_writes_exactly_its_files_in_the_month_and_round_folder(round_one):
    assert round_one.result.exit_code == 0
    assert set(contents(round_one.dir())) == ROUND_ONE_FILES
    # no staging directory or temporary file left beside the run
    assert {p.name for p in (round_one.out / MONTH).iterdir()} <= {"round-1", ".lock"}
    assert [p.name for p in round_one.out.iterdir()] == [MONTH]


@pytest.mark.parametrize("name", sorted(REQUIRED))
def test_round_one_files_have_the_required_columns(round_one, name):
    assert set(REQUIRED[name]) <= set(header(round_one.dir() / name))


def test_every_input_row_lands_in_exactly_one_of_success_failure_skipped(round_one):
    inputs = Counter(r["enrollee_id"] for r in rows(ENROLLEES))
    assert len(inputs) == 50
    outputs = Counter(
        r["enrollee_id"]
        for name in ("success.csv", "failure.csv", "skipped.csv")
        for r in rows(round_one.dir() / name)
    )
    assert outputs == inputs
    assert set(outputs.values()) == {1}


def test_retry_lists_exactly_the_failures_with_round_two_and_deposit_by_dates(round_one):
    failures = rows(round_one.dir() / "failure.csv")
    retry = rows(round_one.dir() / "retry.csv")
    assert sorted(r["enrollee_id"] for r in retry) == sorted(r["enrollee_id"] for r in failures)
    assert len(retry) == 11
    assert {r["retry_on"] for r in retry} == {"2024-02-22"}
    assert {r["deposit_by"] for r in retry} == {"2024-02-21"}
    amounts = {r["enrollee_id"]: r["amount"] for r in failures}
    assert {r["enrollee_id"]: r["amount"] for r in retry} == amounts


def test_successes_are_deducted_on_the_make_up_sunday_2024_02_18(round_one):
    assert {r["deducted_on"] for r in rows(round_one.dir() / "success.csv")} == {"2024-02-18"}


def test_round_one_summary_json_has_the_readme_totals(round_one):
    s = read_json(round_one.dir() / "summary.json")
    assert s["attempted"] == {"enrollees": 44, "amount": "30927.12"}
    assert s["succeeded"] == {"enrollees": 33, "amount": "23535.03"}
    assert s["failed"]["enrollees"] == 11
    assert s["failed"]["amount"] == "7392.09"
    assert s["skipped"]["enrollees"] == 6
    assert s["skipped"]["by_reason"] == {"INACTIVE": 3, "NOT_STARTED": 1, "ALREADY_PAID": 2}
    assert s["retry"]["enrollees"] == 11
    assert s["retry"]["amount"] == "7392.09"


def test_round_one_csv_amounts_sum_exactly_to_the_readme_totals(round_one):
    d = round_one.dir()
    for name in ("success.csv", "failure.csv", "retry.csv"):
        assert all(re.fullmatch(r"\d+\.\d{2}", r["amount"]) for r in rows(d / name)), name
    assert len(rows(d / "success.csv")) == 33
    assert total(d / "success.csv") == Decimal("23535.03")
    assert len(rows(d / "failure.csv")) == 11
    assert total(d / "failure.csv") == Decimal("7392.09")
    assert total(d / "retry.csv") == Decimal("7392.09")
    skipped = Counter(r["reason"] for r in rows(d / "skipped.csv"))
    assert skipped == {"INACTIVE": 3, "NOT_STARTED": 1, "ALREADY_PAID": 2}


def test_shared_accounts_are_debited_in_enrollee_id_order(round_one):
    success = by_id(round_one.dir() / "success.csv")
    failure = by_id(round_one.dir() / "failure.csv")
    # 曾志强 (smaller id) goes first on the spouses' account; 单丽 sees what is left
    assert ZENG_ZHIQIANG in success
    assert failure[SHAN_LI]["reason"] == "INSUFFICIENT_FUNDS"
    assert failure[SHAN_LI]["balance_at_cutoff"] == "1239.89"
    assert failure[SHAN_LI]["balance_available"] == "619.94"
    # third of a family of three sees 300.00 after the first two
    assert failure[OUYANG_XIAOFENG]["reason"] == "INSUFFICIENT_FUNDS"
    assert failure[OUYANG_XIAOFENG]["balance_available"] == "300.00"
    assert {"110105196810010156", "110105197106230627"} <= success.keys()


def test_references_are_unique_and_of_the_form_mi_yyyymm_r1_8_digits(round_one):
    refs = [r["reference"] for r in rows(round_one.dir() / "success.csv")]
    assert len(refs) == len(set(refs)) == 33
    assert all(re.fullmatch(r"MI-202402-R1-\d{8}", ref) for ref in refs)


def test_references_are_the_ones_the_bank_booked_in_ledger_round2(round_one):
    """ledger-round2.csv holds the round-1 debits with the references mediins gives them."""
    booked = {
        r["reference"]: (r["account_no"], r["amount"])
        for r in rows(LEDGER_R2)
        if r["reference"].startswith("MI-202402-R1-")
    }
    made = {
        r["reference"]: (r["account_no"], f"-{r['amount']}")
        for r in rows(round_one.dir() / "success.csv")
    }
    assert made == booked


def test_extra_enrollee_columns_are_carried_through_untouched(round_one):
    remarks = {r["enrollee_id"]: r["remark"] for r in rows(ENROLLEES)}
    seen = {}
    for name in ("success.csv", "failure.csv", "skipped.csv"):
        seen.update({r["enrollee_id"]: r["remark"] for r in rows(round_one.dir() / name)})
    assert seen == remarks
    assert "外区迁入, 档案已转" in remarks.values()


# ------------------------------------------------------------------- 2. permissions, manifest


def test_csv_files_are_private_and_json_files_not_writable_by_others(round_one):
    for name in CSV_FILES:
        assert stat.S_IMODE((round_one.dir() / name).stat().st_mode) == 0o600, name
    for name in ("summary.json", "manifest.json"):
        assert stat.S_IMODE((round_one.dir() / name).stat().st_mode) & 0o022 == 0, name


def test_manifest_lists_every_output_and_input_with_its_sha256(round_one):
    d = round_one.dir()
    manifest = read_json(d / "manifest.json")
    assert set(manifest["outputs"]) == ROUND_ONE_FILES - {"manifest.json"}
    for name, entry in manifest["outputs"].items():
        assert entry["sha256"] == sha256(d / name), name
    assert manifest["inputs"]["enrollees"] == sha256(ENROLLEES)
    assert manifest["inputs"]["ledger"] == sha256(LEDGER)
    assert manifest["files"]["enrollees"] == "enrollees.csv"
    assert manifest["files"]["ledger"] == "ledger.csv"
    assert manifest["round"] == 1 and manifest["month"] == MONTH
    assert manifest["rules"] == "beijing-2007" and manifest["calendar"] == "official"
    assert manifest["tool"]["name"] == "mediins" and manifest["tool"]["version"]


# --------------------------------------------------------------------------- 3. same bytes


def test_same_inputs_give_byte_identical_files_in_any_folder_from_any_input_path(
    run, tmp_path, round_one
):
    outs = []
    for where in ("a", "b/deeper"):
        folder = tmp_path / "inputs" / where
        folder.mkdir(parents=True)
        enrollees = Path(shutil.copy(ENROLLEES, folder / "enrollees.csv"))
        ledger = Path(shutil.copy(LEDGER, folder / "ledger.csv"))
        out = tmp_path / f"out-{where.replace('/', '-')}"
        result = run(*deduct_args(1, out, enrollees, ledger))
        assert result.exit_code == 0, result.stderr
        outs.append(out / MONTH / "round-1")
    first, second = (contents(d) for d in outs)
    assert set(first) == ROUND_ONE_FILES
    assert first == second
    assert first == contents(round_one.dir())


# --------------------------------------------------------------------------- 4. reruns


def test_rerun_with_the_same_inputs_has_nothing_to_do_and_touches_nothing(run, round_one_copy):
    before = snapshot(round_one_copy.dir())
    result = run(*deduct_args(1, round_one_copy.out))
    assert result.exit_code == 0, result.stderr
    assert "nothing to do" in result.stdout
    assert snapshot(round_one_copy.dir()) == before


def test_rerun_with_a_changed_ledger_is_refused_and_touches_nothing(run, tmp_path, round_one_copy):
    month_dir = round_one_copy.out / MONTH
    listing = {p.name for p in month_dir.iterdir()}
    before = snapshot(round_one_copy.dir())
    ledger = changed_ledger(tmp_path / "new", DEPOSIT_SUN_HAO)
    result = run(*deduct_args(1, round_one_copy.out, ledger=ledger))
    assert result.exit_code == 3
    assert "already ran" in flat(result.stderr)
    assert "with other inputs" in flat(result.stderr)
    assert snapshot(round_one_copy.dir()) == before
    assert {p.name for p in month_dir.iterdir()} <= listing | {".lock"}


def test_force_moves_the_earlier_run_aside_and_runs_the_new_ledger(run, tmp_path, round_one_copy):
    month_dir = round_one_copy.out / MONTH
    original = contents(round_one_copy.dir())
    ledger = changed_ledger(tmp_path / "new1", DEPOSIT_SUN_HAO)
    result = run(*deduct_args(1, round_one_copy.out, ENROLLEES, ledger, MONTH, "--force"))
    assert result.exit_code == 0, result.stderr
    assert contents(month_dir / "round-1.superseded-1") == original
    assert "round-1.superseded-1" in flat(result.stdout)
    new = month_dir / "round-1"
    assert read_json(new / "manifest.json")["inputs"]["ledger"] == sha256(ledger)
    assert SUN_HAO in by_id(new / "success.csv")
    assert read_json(new / "summary.json")["succeeded"]["enrollees"] == 34
    first_forced = contents(new)

    ledger = changed_ledger(tmp_path / "new2", DEPOSIT_SUN_HAO, DEPOSIT_QIN_MEILING)
    result = run(*deduct_args(1, round_one_copy.out, ENROLLEES, ledger, MONTH, "--force"))
    assert result.exit_code == 0, result.stderr
    assert contents(month_dir / "round-1.superseded-1") == original
    assert contents(month_dir / "round-1.superseded-2") == first_forced
    assert QIN_MEILING in by_id(month_dir / "round-1" / "success.csv")
    assert read_json(month_dir / "round-1" / "summary.json")["succeeded"]["enrollees"] == 35
    assert {p.name for p in month_dir.iterdir()} - {".lock"} == {
        "round-1",
        "round-1.superseded-1",
        "round-1.superseded-2",
    }


def test_a_damaged_run_with_the_same_inputs_is_refused_not_called_done(run, round_one_copy):
    (round_one_copy.dir() / "retry.csv").write_text("edited\n", encoding="utf-8")
    result = run(*deduct_args(1, round_one_copy.out, ENROLLEES, LEDGER, MONTH))
    assert result.exit_code == 3
    assert "its files changed since (retry.csv)" in flat(result.stderr)
    assert "nothing to do" not in result.stdout


def test_force_with_the_same_inputs_rewrites_a_damaged_run(run, round_one_copy):
    original = contents(round_one_copy.dir())
    (round_one_copy.dir() / "success.csv").unlink()
    result = run(*deduct_args(1, round_one_copy.out, ENROLLEES, LEDGER, MONTH, "--force"))
    assert result.exit_code == 0, result.stderr
    assert "nothing to do" not in result.stdout
    assert contents(round_one_copy.dir()) == original
    month_dir = round_one_copy.out / MONTH
    assert set(contents(month_dir / "round-1.superseded-1")) == ROUND_ONE_FILES - {"success.csv"}


# --------------------------------------------------------------------------- 5. round 2


def test_round_two_before_round_one_is_refused_and_writes_no_round_two(run, tmp_path):
    out = tmp_path / "out"
    result = run(*deduct_args(2, out))
    assert result.exit_code == 3
    assert "round 1" in flat(result.stderr)
    assert not (out / MONTH / "round-2").exists()


@pytest.mark.parametrize("name", ["retry.csv", "success.csv", "failure.csv", "skipped.csv"])
@pytest.mark.parametrize("edit", ["same size", "unparseable", "gone"])
def test_round_two_refuses_round_ones_files_changed_however_they_parse(round_one_copy, name, edit):
    """Round 2 parses round 1's files while it hashes them: a file edited in place, edited
    into bytes polars cannot parse, or gone, is refused as changed, never parsed into the
    round nor reported as a parse error."""
    path = round_one_copy.dir() / name
    original = path.read_bytes()
    if edit == "same size":
        edited = bytearray(original)
        edited[len(edited) // 2] = ord("7") if edited[len(edited) // 2] != ord("7") else ord("8")
        path.write_bytes(bytes(edited))
    elif edit == "unparseable":
        path.write_bytes(b'enrollee_id,account_no\n\xff\xfe"unclosed,\n')
    else:
        path.unlink()
    with pytest.raises(Refused, match="changed since round 1 wrote it"):
        round_one_state(round_one_copy.out, Month.parse(MONTH))


def test_round_twos_second_read_of_round_ones_payments_refuses_a_changed_file(round_one_copy):
    """Who paid in round 1 is read again after round 2's debit (not held through the enrollee
    check): the file must still be the one round 1 wrote, in bytes and as a file."""
    state = round_one_state(round_one_copy.out, Month.parse(MONTH))
    paid = round_one_paid(state)
    success = round_one_copy.dir() / "success.csv"
    written = rows(success)
    assert paid["enrollee_id"].to_list() == [r["enrollee_id"] for r in written]
    assert paid["reference"].to_list() == [r["reference"] for r in written]
    assert {d.isoformat() for d in paid["paid_on"]} == {r["deducted_on"] for r in written}
    assert paid.schema["paid_on"] == pl.Date
    original = success.read_bytes()
    success.write_bytes(original.replace(b"2024-02-18", b"2024-02-19", 1))  # same size
    with pytest.raises(Refused, match="changed since round 1 wrote it"):
        round_one_paid(state)
    success.unlink()
    with pytest.raises(Refused, match="missing or changed"):
        round_one_paid(state)


def test_round_two_gives_the_same_files_whether_or_not_the_ledger_holds_round_one_debits(
    round_two,
):
    plain, booked = round_two["plain"].dir(2), round_two["booked"].dir(2)
    for name in ("success.csv", "failure.csv"):
        assert (plain / name).read_bytes() == (booked / name).read_bytes(), name


@pytest.mark.parametrize("label", ["plain", "booked"])
def test_round_two_has_the_readme_totals(round_two, label):
    d = round_two[label].dir(2)
    assert {"success.csv", "failure.csv", "summary.json", "manifest.json"} <= {
        p.name for p in d.iterdir()
    }
    s = read_json(d / "summary.json")
    assert s["attempted"] == {"enrollees": 11, "amount": "7392.09"}
    assert s["succeeded"] == {"enrollees": 5, "amount": "3505.23"}
    assert s["failed"]["enrollees"] == 6
    assert s["failed"]["amount"] == "3886.86"
    assert len(rows(d / "success.csv")) == 5
    assert total(d / "success.csv") == Decimal("3505.23")
    assert len(rows(d / "failure.csv")) == 6
    assert total(d / "failure.csv") == Decimal("3886.86")
    assert {r["deducted_on"] for r in rows(d / "success.csv")} == {"2024-02-22"}


def test_round_two_terminal_summary_shows_the_month_total(round_two):
    out = flat(round_two["plain"].result.stdout)
    assert "27,040.26 of 30,927.12 yuan collected" in out  # separators on the terminal
    assert "6 enrollees unpaid after round 2" in out


def test_round_two_attempts_exactly_round_one_retry_list(round_one, round_two):
    retry = sorted(r["enrollee_id"] for r in rows(round_one.dir() / "retry.csv"))
    d = round_two["plain"].dir(2)
    attempted = [r["enrollee_id"] for n in ("success.csv", "failure.csv") for r in rows(d / n)]
    assert sorted(attempted) == retry


def test_round_two_counts_a_round_one_debit_once_on_shared_accounts(round_two):
    for run_ in round_two.values():
        success = by_id(run_.dir(2) / "success.csv")
        failure = by_id(run_.dir(2) / "failure.csv")
        assert OUYANG_XIAOFENG in success  # 2181.75 − 1561.80 = 619.95
        assert failure[SHAN_LI]["reason"] == "INSUFFICIENT_FUNDS"
        assert failure[SHAN_LI]["balance_available"] == "619.94"


def test_round_two_references_are_mi_yyyymm_r2_8_digits(round_two):
    refs = [r["reference"] for r in rows(round_two["plain"].dir(2) / "success.csv")]
    assert len(refs) == len(set(refs)) == 5
    assert all(re.fullmatch(r"MI-202402-R2-\d{8}", ref) for ref in refs)


def test_round_two_summary_has_the_month_total(round_two):
    for run_ in round_two.values():
        t = read_json(run_.dir(2) / "summary.json")["month_total"]
        assert t["collected"] == {"enrollees": 38, "amount": "27040.26"}
        assert t["due"] == {"enrollees": 44, "amount": "30927.12"}
        assert t["unpaid"]["enrollees"] == 6


def test_round_two_files_are_private_and_listed_in_the_manifest(round_two):
    d = round_two["plain"].dir(2)
    manifest = read_json(d / "manifest.json")
    for name, entry in manifest["outputs"].items():
        assert entry["sha256"] == sha256(d / name), name
    for name in ("success.csv", "failure.csv"):
        assert stat.S_IMODE((d / name).stat().st_mode) == 0o600, name
    assert manifest["inputs"]["ledger"] == sha256(LEDGER)
    assert manifest["inputs"]["enrollees"] == sha256(ENROLLEES)


def test_round_two_with_a_different_enrollee_file_is_refused(run, tmp_path, round_one_copy):
    other = tmp_path / "other" / "enrollees.csv"
    other.parent.mkdir()
    text = ENROLLEES.read_text(encoding="utf-8").replace("与曾志强共用账户", "共用账户")
    other.write_text(text, encoding="utf-8")
    result = run(*deduct_args(2, round_one_copy.out, enrollees=other))
    assert result.exit_code == 3
    assert "enrollee" in flat(result.stderr)
    assert not (round_one_copy.out / MONTH / "round-2").exists()


def test_round_two_after_round_one_retry_csv_was_edited_is_refused(run, round_one_copy):
    retry = round_one_copy.dir() / "retry.csv"
    lines = retry.read_bytes().splitlines(keepends=True)
    retry.write_bytes(b"".join(lines[:-1]))  # someone removed the last person
    result = run(*deduct_args(2, round_one_copy.out))
    assert result.exit_code == 3
    assert "retry.csv" in flat(result.stderr)
    assert not (round_one_copy.out / MONTH / "round-2").exists()


def test_forcing_round_one_once_round_two_exists_is_refused(run, tmp_path, round_two):
    out = tmp_path / "out"
    copy_runs(round_two["plain"].out, out)
    before = snapshot(out / MONTH)
    ledger = changed_ledger(tmp_path / "new", DEPOSIT_SUN_HAO)
    result = run(*deduct_args(1, out, ENROLLEES, ledger, MONTH, "--force"))
    assert result.exit_code == 3
    assert "round 2" in flat(result.stderr)
    assert snapshot(out / MONTH) == before  # round 1 untouched, nothing moved aside


def test_round_two_rerun_with_the_same_inputs_has_nothing_to_do(run, tmp_path, round_two):
    out = tmp_path / "out"
    copy_runs(round_two["booked"].out, out)
    before = snapshot(out / MONTH)
    result = run(*deduct_args(2, out, ledger=LEDGER_R2))
    assert result.exit_code == 0, result.stderr
    assert "nothing to do" in result.stdout
    assert snapshot(out / MONTH) == before


# --------------------------------------------------------------------------- 6. lock


def test_a_held_month_lock_refuses_the_run_naming_the_holder(run, tmp_path):
    out = tmp_path / "out"
    with month_lock(out / MONTH, "test"):
        result = run(*deduct_args(1, out))
        assert result.exit_code == 3
        assert f"test, pid {os.getpid()}" in flat(result.stderr)
        assert not (out / MONTH / "round-1").exists()
    result = run(*deduct_args(1, out))
    assert result.exit_code == 0, result.stderr
    assert (out / MONTH / "round-1" / "manifest.json").is_file()


# --------------------------------------------------------------------------- 7. bad input


def _bad_enrollees(write) -> Path:
    text = ENROLLEES.read_text(encoding="utf-8")
    assert SHAN_LI in text.splitlines()[1]
    return write("bad/enrollees.csv", text.replace(SHAN_LI, SHAN_LI[:-1] + "5", 1))


def _bad_ledger(write) -> Path:
    lines = LEDGER.read_text(encoding="utf-8").splitlines(keepends=True)
    assert ",4833.40," in lines[1]
    lines[1] = lines[1].replace(",4833.40,", ",48.334,")
    return write("bad/ledger.csv", "".join(lines))


def test_bad_check_digit_exits_2_with_file_line_column_and_writes_nothing(run, write, tmp_path):
    enrollees = _bad_enrollees(write)
    out = tmp_path / "out"
    result = run(*deduct_args(1, out, enrollees=enrollees))
    assert result.exit_code == 2
    assert re.search(r"enrollees\.csv:2: enrollee_id: check digit", result.stderr)
    assert SHAN_LI[:-1] + "5" not in result.stderr  # masked
    assert not out.exists()


def test_bad_ledger_amount_exits_2_with_file_line_column_and_writes_nothing(run, write, tmp_path):
    ledger = _bad_ledger(write)
    out = tmp_path / "out"
    result = run(*deduct_args(1, out, ledger=ledger))
    assert result.exit_code == 2
    assert re.search(r"ledger\.csv:2: amount: '48\.334'", result.stderr)
    assert not out.exists()


def test_problems_of_both_files_are_listed_together(run, write, tmp_path):
    out = tmp_path / "out"
    result = run(*deduct_args(1, out, _bad_enrollees(write), _bad_ledger(write)))
    assert result.exit_code == 2
    assert re.search(r"enrollees\.csv:2: enrollee_id: ", result.stderr)
    assert re.search(r"ledger\.csv:2: amount: ", result.stderr)
    assert not out.exists()


def test_bad_input_for_round_two_writes_nothing_either(run, write, round_one_copy):
    before = snapshot(round_one_copy.out)
    result = run(*deduct_args(2, round_one_copy.out, ledger=_bad_ledger(write)))
    assert result.exit_code == 2
    assert snapshot(round_one_copy.out) == before
    assert not (round_one_copy.out / MONTH / "round-2").exists()


# --------------------------------------------------------------------------- 8. dry run, json


def test_dry_run_prints_the_summary_and_writes_nothing(run, tmp_path):
    out = tmp_path / "out"
    result = run(*deduct_args(1, out, ENROLLEES, LEDGER, MONTH, "--dry-run"))
    assert result.exit_code == 0, result.stderr
    assert "dry run" in result.stdout
    for figure in ("23,535.03", "30,927.12", "2024-02-18", "2024-02-21"):
        assert figure in result.stdout
    assert not out.exists()


def test_json_prints_status_ran_and_the_summary_on_stdout(run, tmp_path):
    out = tmp_path / "out"
    result = run(*deduct_args(1, out, ENROLLEES, LEDGER, MONTH, "--json"))
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["status"] == "ran"
    assert data["summary"] == read_json(out / MONTH / "round-1" / "summary.json")
    assert data["summary"]["succeeded"] == {"enrollees": 33, "amount": "23535.03"}


def test_json_of_a_rerun_says_unchanged(run, round_one_copy):
    result = run(*deduct_args(1, round_one_copy.out, ENROLLEES, LEDGER, MONTH, "--json"))
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["status"] == "unchanged"


# --------------------------------------------------------------------------- 9. dates


PERSON = [
    ric_id("11010119900307123"),
    ric_id("11010119850512234"),
    ric_id("11010219770101345"),
]
ACCOUNT = ["6214000000000001", "6214000000000002", "6214000000000003"]


def enrollees_text(paid_through: str, enrolled_on: str = "2015-01-01", count: int = 3) -> str:
    lines = ["enrollee_id,name,agency,status,enrolled_on,paid_through,monthly_premium,account_no"]
    for i in range(count):
        lines.append(
            f"{PERSON[i]},测试{'甲乙丙'[i]},DC-RC01,active,{enrolled_on},{paid_through},"
            f"100.00,{ACCOUNT[i]}"
        )
    return "\n".join(lines) + "\n"


def ledger_text(*entries: tuple[int, str, str]) -> str:
    lines = ["account_no,posted_at,amount,reference"]
    lines += [f"{ACCOUNT[i]},{posted},{amount}," for i, posted, amount in entries]
    return "\n".join(lines) + "\n"


def run_small(run, tmp_path, round_no, month, *extra, out_name="out"):
    out = tmp_path / out_name
    result = run(
        *deduct_args(
            round_no, out, tmp_path / "enrollees.csv", tmp_path / "ledger.csv", month, *extra
        )
    )
    assert result.exit_code == 0, result.stderr
    return out / month / f"round-{round_no}"


def test_weekend_calendar_deducts_on_2024_02_12_before_a_deposit_the_official_one_counts(
    run, write, tmp_path
):
    write("enrollees.csv", enrollees_text("2024-01", count=2))
    write(
        "ledger.csv",
        ledger_text(
            (0, "2023-12-31", "50.00"),
            (0, "2024-02-15 10:00:00", "50.00"),
            (1, "2023-12-31", "500.00"),
        ),
    )
    weekends = run_small(run, tmp_path, 1, MONTH, "--calendar", "weekends", out_name="wk")
    assert {r["deducted_on"] for r in rows(weekends / "success.csv")} == {"2024-02-12"}
    failure = by_id(weekends / "failure.csv")
    assert failure[PERSON[0]]["reason"] == "INSUFFICIENT_FUNDS"
    assert failure[PERSON[0]]["balance_at_cutoff"] == "50.00"
    assert read_json(weekends / "manifest.json")["calendar"] == "weekends"

    official = run_small(run, tmp_path, 1, MONTH, out_name="official")
    success = by_id(official / "success.csv")
    assert set(success) == {PERSON[0], PERSON[1]}
    assert {r["deducted_on"] for r in success.values()} == {"2024-02-18"}
    assert rows(official / "failure.csv") == []


def test_cutoff_counts_a_deposit_at_23_59_59_the_day_before_but_not_at_midnight(
    run, write, tmp_path
):
    write("enrollees.csv", enrollees_text("2024-01"))
    write(
        "ledger.csv",
        ledger_text(
            (0, "2023-12-31", "5.00"),
            (0, "2024-02-17 23:59:59", "100.00"),
            (1, "2023-12-31", "5.00"),
            (1, "2024-02-18 00:00:00", "100.00"),
            (2, "2023-12-31", "5.00"),
            (2, "2024-02-18", "100.00"),
        ),
    )
    d = run_small(run, tmp_path, 1, MONTH)
    assert set(by_id(d / "success.csv")) == {PERSON[0]}
    failure = by_id(d / "failure.csv")
    assert set(failure) == {PERSON[1], PERSON[2]}
    for person in PERSON[1:]:
        assert failure[person]["reason"] == "INSUFFICIENT_FUNDS"
        assert failure[person]["balance_at_cutoff"] == "5.00"
    assert read_json(d / "summary.json")["dates"]["cutoff"] == "2024-02-18 00:00:00"


def test_october_2024_round_one_is_deducted_on_the_make_up_saturday(run, write, tmp_path):
    write("enrollees.csv", enrollees_text("2024-09", count=1))
    write("ledger.csv", ledger_text((0, "2024-01-01", "500.00")))
    d = run_small(run, tmp_path, 1, "2024-10")
    assert [r["deducted_on"] for r in rows(d / "success.csv")] == ["2024-10-12"]
    assert [r["reference"] for r in rows(d / "success.csv")] == ["MI-202410-R1-00000001"]


def test_january_2020_round_two_rolls_into_february_but_stays_in_the_january_folder(
    run, write, tmp_path
):
    write("enrollees.csv", enrollees_text("2019-12", count=1))
    write(
        "ledger.csv",
        ledger_text((0, "2019-12-31", "10.00"), (0, "2020-01-20 09:00:00", "100.00")),
    )
    first = run_small(run, tmp_path, 1, "2020-01")
    retry = rows(first / "retry.csv")
    assert [(r["enrollee_id"], r["retry_on"], r["deposit_by"]) for r in retry] == [
        (PERSON[0], "2020-02-03", "2020-02-02")
    ]
    second = run_small(run, tmp_path, 2, "2020-01")
    assert second == tmp_path / "out" / "2020-01" / "round-2"
    success = rows(second / "success.csv")
    assert [(r["enrollee_id"], r["deducted_on"]) for r in success] == [(PERSON[0], "2020-02-03")]
    assert success[0]["reference"] == "MI-202001-R2-00000001"
    assert not (tmp_path / "out" / "2020-02").exists()


# --------------------------------------------------------------------------- 10. personal data


def test_no_id_account_or_name_of_the_sample_reaches_the_terminal(round_one, round_two):
    sample = rows(ENROLLEES)
    secrets = {r[c] for r in sample for c in ("enrollee_id", "account_no", "name")}
    assert len(secrets) > 100
    results = [round_one.result, *(r.result for r in round_two.values())]
    for result in results:
        for stream in (result.stdout, result.stderr):
            leaked = sorted(s for s in secrets if s in stream)
            assert leaked == []


def test_bad_input_with_errors_writes_every_problem_there_and_nothing_else(run, write, tmp_path):
    ledger = write("ledger.csv", "account_no,posted_at,amount\n6214830012345678,2024-02-01,x\n")
    errors = tmp_path / "problems.csv"
    result = run(*deduct_args(1, tmp_path / "out", ENROLLEES, ledger), "--errors", errors)
    assert result.exit_code == 2
    assert "ledger.csv:2: amount: 'x' is not an amount" in result.stderr
    assert errors.read_text(encoding="utf-8").splitlines()[0] == (
        "file,line,column,code,message,severity"
    )
    assert not (tmp_path / "out").exists()


def test_a_repeated_reference_in_the_ledger_stops_the_round(run, write, tmp_path):
    # The lazy pass spots it; the eager read then names both lines.
    ledger = write(
        "ledger.csv",
        "account_no,posted_at,amount,reference\n"
        "6214830012345678,2024-01-31,100.00,\n"
        "6214830012345678,2024-02-01,-1.00,MI-202401-R1-00000001\n"
        "6214830012345678,2024-02-02,-1.00,MI-202401-R1-00000001\n",
    )
    result = run(*deduct_args(1, tmp_path / "out", ENROLLEES, ledger))
    assert result.exit_code == 2
    assert "ledger.csv:4: reference: 'MI-202401-R1-00000001' already on line 3" in result.stderr
    assert not (tmp_path / "out").exists()
