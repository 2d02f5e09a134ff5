"""Issue 8: the defects found by trying mediins as a new user and as an attacker would, one named
test each (``test_defect_<n>_…``, in the issue's order). Every one of them failed on the code
before the fix; the crash-injection, hostile-corpus, property and personal-data suites prove
the same promises more broadly (test_crash.py, test_hostile.py, test_properties.py,
test_personal_data.py)."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import threading
import time
from datetime import datetime
from pathlib import Path

import polars as pl
import pytest
from stdnum.cn import ric

from conftest import ROOT, SAMPLE
from mediins_cli import runs
from mediins_cli.errors import Refused
from mediins_cli.inputs import source as source_module
from mediins_cli.months import Month
from mediins_cli.rounds import InvariantBroken, check_invariants, debited_per_account
from mediins_cli.runs import DeductRequest, deduct

ENROLLEES = SAMPLE / "enrollees.csv"
LEDGER = SAMPLE / "ledger.csv"
MONTH = "2024-02"
MEDIINS = Path(sys.executable).with_name("mediins")
HEADER = "enrollee_id,name,agency,status,enrolled_on,paid_through,monthly_premium,account_no"


def ident(body17: str) -> str:
    return body17 + ric.calc_check_digit(body17 + "0")


def deduct_args(out: Path, enrollees: Path = ENROLLEES, ledger: Path = LEDGER, *more: str):
    return (
        "deduct",
        "--round",
        "1",
        "--month",
        MONTH,
        "--enrollees",
        enrollees,
        "--ledger",
        ledger,
        "--out",
        out,
        *more,
    )


def sample_secrets() -> set[str]:
    """Every full ID, account number and name of the sample month."""
    frame = pl.read_csv(ENROLLEES, infer_schema=False)
    found = set(frame["enrollee_id"]) | set(frame["account_no"]) | set(frame["name"])
    assert len(found) > 100
    return found


def leaks(text: str, secrets: set[str]) -> list[str]:
    return sorted(s for s in secrets if s in text)


def person(i: int, name: str = "张三", **cells: str) -> dict[str, str]:
    row = {
        "enrollee_id": ident(f"11010119900307{i:03d}"),
        "name": name,
        "agency": "A01",
        "status": "active",
        "enrolled_on": "2020-01-05",
        "paid_through": "2024-01",
        "monthly_premium": "100.00",
        "account_no": f"621483001234{i:04d}",
    }
    return {**row, **cells}


def write_csv(path: Path, rows: list[dict[str, str]]) -> Path:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    path.write_text(buffer.getvalue(), encoding="utf-8")
    return path


def ledger_for(path: Path, rows: list[dict[str, str]], amount: str = "150.00") -> Path:
    lines = ["account_no,posted_at,amount"] + [
        f"{r['account_no']},2024-02-10,{amount}" for r in rows
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


# --------------------------------------------------------------------------- 1. quotes


@pytest.mark.parametrize("which", ["enrollees", "ledger"])
def test_defect_1_an_unbalanced_quote_is_bad_input_at_its_line_never_raw_rows(run, tmp_path, which):
    source = ENROLLEES if which == "enrollees" else LEDGER
    lines = source.read_text(encoding="utf-8").splitlines(keepends=True)
    lines[2] = lines[2].replace(",", ',"', 1)  # line 3: …,"曾志强,… — the quote never closes
    broken = tmp_path / f"{which}.csv"
    broken.write_text("".join([*lines[:3], lines[3].replace('"', ""), *lines[4:]]), "utf-8")
    files = {"enrollees": ENROLLEES, "ledger": LEDGER, which: broken}
    errors, out = tmp_path / "errors.csv", tmp_path / "out"
    for args in (
        ("validate", "--enrollees", files["enrollees"], "--ledger", files["ledger"]),
        deduct_args(out, files["enrollees"], files["ledger"]),
    ):
        result = run(*args, "--errors", errors)
        assert result.exit_code == 2, result.stderr
        assert re.search(rf"{which}\.csv:3: .*quote", result.stderr)
        assert "unexpected" not in result.stderr
        assert leaks(result.stdout + result.stderr, sample_secrets()) == []
        problems = pl.read_csv(errors, infer_schema=False)
        assert problems.select("line", "code").row(0) == ("3", "BAD_QUOTE")
        errors.unlink()
    assert not out.exists()


# --------------------------------------------------------------------------- 2. formulas

FORMULAS = ['=HYPERLINK("http://x","y")', "=1+1", "+1+1", "@SUM(A1)", "\t=1+1", "-2+3"]


@pytest.mark.parametrize("excel", [False, True])
def test_defect_2_formula_cells_get_a_leading_quote_in_every_csv_amounts_never(
    run, tmp_path, excel
):
    people = [
        {**person(i, name=f, status="active" if i < 4 else "suspended"), "remark": f}
        for i, f in enumerate(FORMULAS)
    ]
    enrollees = write_csv(tmp_path / "enrollees.csv", people)
    # the first two can pay, the next two cannot (balance -5.00: an amount, never altered)
    ledger = tmp_path / "ledger.csv"
    ledger.write_text(
        "account_no,posted_at,amount\n"
        + "".join(
            f"{p['account_no']},2024-02-10,{'150.00' if i < 2 else '-5.00'}\n"
            for i, p in enumerate(people)
        ),
        encoding="utf-8",
    )
    out = tmp_path / "out"
    result = run(*deduct_args(out, enrollees, ledger, *(["--excel"] if excel else [])))
    assert result.exit_code == 0, result.stderr
    run_dir = out / MONTH / "round-1"
    written = [run_dir / n for n in ("success.csv", "failure.csv", "retry.csv", "skipped.csv")]
    written += sorted((run_dir / "agencies").glob("*.csv"))
    seen = set()
    for path in written:
        frame = pl.read_csv(path, infer_schema=False, encoding="utf8-lossy")
        frame = frame.rename({frame.columns[0]: frame.columns[0].lstrip("\ufeff")})
        for column in ("name", "remark"):
            for value in frame[column]:
                assert value.startswith("'"), (path.name, column, value)
                assert value[1:] in FORMULAS
                seen.add(value[1:])
        if "balance_at_cutoff" in frame.columns:
            assert set(frame["balance_at_cutoff"]) == {"-5.00"}
    assert seen == set(FORMULAS)


def test_defect_2_an_agency_code_like_a_formula_is_quoted_in_every_list(run, tmp_path):
    # codes are held as categories (issue 9): they are searched as the text they are
    people = [person(0, agency="=1+1"), person(1, agency="@SUM(A1)"), person(2)]
    enrollees = write_csv(tmp_path / "enrollees.csv", people)
    ledger = ledger_for(tmp_path / "ledger.csv", people[2:], "150.00")  # the two fail
    out = tmp_path / "out"
    result = run(*deduct_args(out, enrollees, ledger))
    assert result.exit_code == 0, result.stderr
    run_dir = out / MONTH / "round-1"
    lists = sorted((run_dir / "agencies").glob("*.csv"))
    assert [p.name for p in lists] == ["_1_1.csv", "_SUM_A1_.csv"]  # the lists of failures
    for path in [run_dir / "success.csv", run_dir / "failure.csv", *lists]:
        frame = pl.read_csv(path, infer_schema=False)
        for value in frame["agency"]:
            assert value == "A01" or value in ("'=1+1", "'@SUM(A1)"), (path.name, value)
    agencies = pl.read_csv(run_dir / "failure.csv", infer_schema=False)["agency"]
    assert sorted(agencies) == ["'=1+1", "'@SUM(A1)"]


# --------------------------------------------------------------------------- 3. hashes


def _deposit_ledger(path: Path) -> Path:
    """The sample ledger with a deposit that turns one failure (孙浩) into a success."""
    path.write_bytes(LEDGER.read_bytes() + b"6217991000055271402,2024-02-10 10:00:00,700.00,,\n")
    return path


def test_defect_3_a_ledger_replaced_mid_run_is_never_recorded_under_the_old_hash(
    tmp_path, monkeypatch
):
    ledger = tmp_path / "ledger.csv"
    ledger.write_bytes(LEDGER.read_bytes())
    other = _deposit_ledger(tmp_path / "other.csv")
    original = runs.check_enrollees

    def swap_then_read(source, **options):  # after the inputs were hashed, before the ledger
        # is parsed
        os.replace(other, ledger)
        return original(source, **options)

    monkeypatch.setattr(runs, "check_enrollees", swap_then_read)
    request = DeductRequest(
        1, Month.parse(MONTH), ENROLLEES, ledger, tmp_path / "out", "beijing-2007"
    )
    outcome = deduct(request)
    monkeypatch.undo()
    clean = deduct(
        DeductRequest(1, Month.parse(MONTH), ENROLLEES, LEDGER, tmp_path / "clean", "beijing-2007")
    )
    manifest = json.loads((outcome.run_dir / "manifest.json").read_bytes())
    # the hash is of the bytes parsed (the file as it was opened): the outputs are its outputs
    assert (
        manifest["inputs"]["ledger"]
        == json.loads((clean.run_dir / "manifest.json").read_bytes())["inputs"]["ledger"]
    )
    for name in ("success.csv", "failure.csv", "retry.csv", "summary.json", "manifest.json"):
        assert (outcome.run_dir / name).read_bytes() == (clean.run_dir / name).read_bytes()


def test_defect_3_a_ledger_written_in_place_mid_run_is_refused_as_changed(
    run, tmp_path, monkeypatch
):
    ledger = tmp_path / "ledger.csv"
    ledger.write_bytes(LEDGER.read_bytes())
    original = runs.check_enrollees

    def append_then_read(source, **options):
        with ledger.open("ab") as fh:  # the same file, written in place
            fh.write(b"6217991000055271402,2024-02-10 10:00:00,700.00,,\n")
        return original(source, **options)

    monkeypatch.setattr(runs, "check_enrollees", append_then_read)
    out = tmp_path / "out"
    result = run(*deduct_args(out, ENROLLEES, ledger))
    assert result.exit_code == 2, result.stderr
    assert "ledger.csv: the file changed while mediins read it" in result.stderr
    assert not out.exists()


def test_defect_3_a_ledger_written_in_place_while_it_is_still_being_hashed_is_refused(
    run, tmp_path, monkeypatch
):
    """The hash is read on a thread of its own (issue 9): a file written in place after its
    rows were parsed and checked, but before its hash was read to the end, is refused too."""
    ledger = tmp_path / "ledger.csv"
    ledger.write_bytes(LEDGER.read_bytes())
    gate = threading.Event()
    hashing = source_module._FileHash._run

    def after_the_gate(self):
        gate.wait(30)
        hashing(self)

    def append_then_go_on(*args, **kwargs):  # the round is decided: the checks are behind
        with ledger.open("ab") as fh:
            fh.write(b"6217991000055271402,2024-02-10 10:00:00,700.00,,\n")
        gate.set()
        return retirements(*args, **kwargs)

    retirements = runs.retirements
    monkeypatch.setattr(source_module._FileHash, "_run", after_the_gate)
    monkeypatch.setattr(runs, "retirements", append_then_go_on)
    out = tmp_path / "out"
    result = run(*deduct_args(out, ENROLLEES, ledger))
    assert gate.is_set()
    assert result.exit_code == 2, result.stderr
    assert "ledger.csv: the file changed while mediins read it" in result.stderr
    assert not out.exists()


def test_a_hash_cut_short_by_a_failure_is_never_given(tmp_path, monkeypatch):
    calls = []

    def fails_the_second_time(fd, buffer, offset):
        calls.append(offset)
        if len(calls) > 1:
            raise ValueError("the disk went away")
        return os.preadv(fd, [buffer], offset)

    monkeypatch.setattr(source_module, "_CHUNK", 1000)
    monkeypatch.setattr(source_module, "_read_at", fails_the_second_time)
    with source_module.open_source(LEDGER) as opened, pytest.raises(ValueError, match="went"):
        _ = opened.sha256


@pytest.mark.parametrize("kind", ["utf-8", "gb18030", "parquet"])
def test_an_input_s_hash_is_the_sha256_of_its_bytes_read_in_many_chunks(
    tmp_path, monkeypatch, kind
):
    path = tmp_path / "ledger.csv"
    if kind == "parquet":
        pl.read_csv(LEDGER, infer_schema=False).write_parquet(path)
    else:
        path.write_bytes(LEDGER.read_text(encoding="utf-8").encode(kind) + "张三\n".encode(kind))
    monkeypatch.setattr(source_module, "_CHUNK", 1000)  # the file is read in many pieces
    with source_module.open_source(path) as opened:
        assert opened.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
        assert opened.encoding == kind


# --------------------------------------------------------------------------- 4. money


def test_defect_4_amounts_that_would_wrap_a_balance_are_bad_input(run, tmp_path):
    people = [person(1)]
    enrollees = write_csv(tmp_path / "enrollees.csv", people)
    account = people[0]["account_no"]
    ledger = tmp_path / "ledger.csv"
    rows = [f"{account},2024-01-01,-999999999999999.99" for _ in range(93)]
    ledger.write_text("account_no,posted_at,amount\n" + "\n".join(rows) + "\n", "utf-8")
    out = tmp_path / "out"
    result = run(*deduct_args(out, enrollees, ledger))
    assert result.exit_code == 2
    assert re.search(r"ledger\.csv:2: amount: is beyond ±10000000000\.00 yuan", result.stderr)
    assert not out.exists()


def test_defect_4_an_account_whose_rows_sum_beyond_10_12_yuan_is_refused_at_the_crossing(
    run, tmp_path
):
    people = [person(1)]
    enrollees = write_csv(tmp_path / "enrollees.csv", people)
    account = people[0]["account_no"]
    # 100 deposits of 10^10 yuan reach exactly 10^12 (allowed); the 101st crosses it (line 102)
    rows = [f"{account},2024-01-01,10000000000.00" for _ in range(101)]
    rows += [f"{account},2024-01-02,-10000000000.00" for _ in range(101)]  # net 0 all the same
    ledger = tmp_path / "ledger.csv"
    ledger.write_text("account_no,posted_at,amount\n" + "\n".join(rows) + "\n", "utf-8")
    result = run(*deduct_args(tmp_path / "out", enrollees, ledger))
    assert result.exit_code == 2
    found = re.findall(r"ledger\.csv:(\d+): amount: account 6214\*+0001", result.stderr)
    assert found == ["102", "203"]  # the deposits, then the withdrawals, cross on their 101st


def test_defect_4_the_invariant_check_sees_a_balance_that_wrapped():
    wrapped = pl.DataFrame(
        {
            "enrollee_id": ["a"],
            "amount_fen": [10_000],
            "outcome": ["success"],
            "balance_at_cutoff_fen": [9_000_000_000_000_000_000 // 10],  # wrapped: huge
            "balance_available_fen": [9_000_000_000_000_000_000 // 10],
        }
    )
    with pytest.raises(InvariantBroken, match="beyond the bound"):
        check_invariants(wrapped)


def test_defect_4_a_legal_balance_at_the_bounds_is_not_taken_for_a_wrapped_one():
    """Round 2 of an account whose withdrawals reach the bound (legal), less round 1's debit the
    ledger does not hold yet: below -10^12 yuan, and still a result, not a broken invariant."""
    from mediins_cli.calendar import OfficialCalendar, round_dates
    from mediins_cli.money import MAX_ACCOUNT_FEN, MAX_AMOUNT_FEN
    from mediins_cli.rounds import round_two

    month = Month(2024, 3)
    _, r2 = round_dates(OfficialCalendar([], "x"), month, 12, 25, 22, 1)
    people = pl.DataFrame(
        {
            "enrollee_id": ["A", "B"],
            "account_no": ["6214830000000001"] * 2,
            "premium_fen": [MAX_AMOUNT_FEN, 100],
        }
    )
    debits = pl.DataFrame(
        {"enrollee_id": ["A"], "account_no": ["6214830000000001"], "amount_fen": [MAX_AMOUNT_FEN]}
    )
    balances = pl.DataFrame(
        {"account_no": ["6214830000000001"], "balance_fen": [-MAX_ACCOUNT_FEN], "booked_fen": [0]}
    )
    result = round_two(people, pl.Series(["B"]), debited_per_account(debits), balances, r2)
    row = result.attempts.row(0, named=True)
    assert row["balance_at_cutoff_fen"] == -MAX_ACCOUNT_FEN - MAX_AMOUNT_FEN
    assert row["reason"] == "INSUFFICIENT_FUNDS"


# --------------------------------------------------------------------------- 5. the lock


def test_defect_5_a_second_run_of_the_month_while_the_first_reads_is_refused(tmp_path):
    out = tmp_path / "out"
    request = DeductRequest(1, Month.parse(MONTH), ENROLLEES, LEDGER, out, "beijing-2007")
    refusals: list[str] = []

    def second_run(stage: str) -> None:
        if stage == "reading enrollees":  # the first run has hashed its inputs and reads them
            with pytest.raises(Refused) as refused:
                deduct(request)
            refusals.append(str(refused.value))

    outcome = deduct(request, progress=second_run)
    assert outcome.status == "ran"
    assert len(refusals) == 1
    assert "another run holds the lock" in refusals[0]
    assert f"round 1 of {MONTH}, pid {os.getpid()}" in refusals[0]


# --------------------------------------------------------------------------- 6. leftovers


def test_defect_6_a_staging_folder_left_by_a_killed_run_is_removed_by_the_next(run, tmp_path):
    out = tmp_path / "out"
    dead = out / MONTH / ".round-1.999999999.abcd1234.tmp"  # a pid no process has
    (dead / "agencies").mkdir(parents=True)
    (dead / "success.csv").write_text("personal data", encoding="utf-8")
    result = run(*deduct_args(out))
    assert result.exit_code == 0, result.stderr
    assert sorted(p.name for p in (out / MONTH).iterdir()) == [".lock", "round-1"]


def test_defect_6_a_gb18030_input_never_has_a_named_utf8_copy(tmp_path, monkeypatch):
    import mediins_cli.inputs.table as table
    from mediins_cli.inputs import read_enrollees

    temp = tmp_path / "tmp"
    temp.mkdir()
    monkeypatch.setenv("TMPDIR", str(temp))
    monkeypatch.setattr("tempfile.tempdir", None)
    gb = tmp_path / "enrollees.csv"
    gb.write_bytes(ENROLLEES.read_text(encoding="utf-8").encode("gb18030"))
    seen: list[list[str]] = []
    original = table.scan_text

    def look(source, names, piece=None):
        seen.append(os.listdir(temp))  # while the transcoded copy is open and read
        return original(source, names, piece)

    monkeypatch.setattr(table, "scan_text", look)
    frame, _problems, used = read_enrollees(gb)
    assert used == "gb18030" and frame is not None and frame.height == 50
    assert seen == [[]]
    assert os.listdir(temp) == []


def test_defect_6_a_replay_scratch_left_by_a_killed_replay_is_removed_by_the_next(
    run, tmp_path, monkeypatch
):
    temp = tmp_path / "tmp"
    dead = temp / ".mediins-replay.999999999.abcd1234.tmp"  # a killed replay's copies
    (dead / "2024-01").mkdir(parents=True)
    (dead / "2024-01" / "enrollees.csv").write_text("personal data", encoding="utf-8")
    monkeypatch.setenv("TMPDIR", str(temp))
    monkeypatch.setattr("tempfile.tempdir", None)
    history = tmp_path / "history"
    history.mkdir()
    for month in ("2024-01", "2024-02"):
        shutil.copytree(SAMPLE / "history" / month, history / month)
    expected = history / "2024-02" / "expected"
    left = expected / ".round-1.999999999.old.tmp"  # a killed --update's old copy
    shutil.copytree(expected / "round-1", left)
    (expected / "round-1" / "summary.json").write_text("{}\n", encoding="utf-8")
    result = run("replay", history, "--update")
    assert result.exit_code == 0, result.stderr
    assert os.listdir(temp) == []
    assert sorted(p.name for p in expected.iterdir()) == ["round-1", "round-2"]


def _start_and_signal(args: list[str], sig: int, delay: float) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEDIINS_")}
    proc = subprocess.Popen(
        [str(MEDIINS), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True
    )
    time.sleep(delay)
    proc.send_signal(sig)
    stdout, stderr = proc.communicate(timeout=60)
    return subprocess.CompletedProcess(args, proc.returncode, stdout, stderr)


@pytest.mark.parametrize(("sig", "status"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_defect_6_a_signal_during_start_up_exits_cleanly_without_a_traceback(sig, status):
    # the interpreter is up after ~0.05 s; the command line is imported ~0.1 s later, the
    # engine (polars) ~0.2 s after that: a signal lands in one import or the other (a machine
    # that finished before it is asked again, sooner)
    args = ["validate", "--enrollees", SAMPLE / "enrollees.csv", "--ledger", SAMPLE / "ledger.csv"]
    for delay in (0.2, 0.12, 0.08, 0.05):
        done = _start_and_signal([str(a) for a in args], sig, delay)
        if done.returncode != 0:
            break
    assert done.returncode == status, done.stderr
    assert "Traceback" not in done.stderr
    name = signal.Signals(sig).name
    assert done.stderr.strip().splitlines() == [
        f"mediins: stopped by {name}; a run directory is complete or absent, never partial"
    ]


# --------------------------------------------------------------------------- 7. area codes


def test_defect_7_area_codes_stdnum_lacks_are_unknown_area_warnings_at_their_lines(run, tmp_path):
    codes = ["320571", "370171", "410173", "110120", "310199"]
    people = [
        person(i, enrollee_id=ident(f"{code}19900307{i:03d}")) for i, code in enumerate(codes)
    ]
    enrollees = write_csv(tmp_path / "enrollees.csv", people)
    ledger = ledger_for(tmp_path / "ledger.csv", people)
    result = run("validate", "--enrollees", enrollees, "--ledger", ledger)
    assert result.exit_code == 0, result.stderr
    for line, code in enumerate(codes, start=2):
        assert f"enrollees.csv:{line}: warning: enrollee_id: area code {code}" in result.stderr
    result = run(*deduct_args(tmp_path / "out", enrollees, ledger))
    assert result.exit_code == 0, result.stderr


# --------------------------------------------------------------------------- 8. agencies


def test_defect_8_an_agency_code_too_long_for_a_file_name_is_bad_input_leaving_nothing(
    run, tmp_path
):
    people = [person(1, agency="代" * 100)]  # 300 bytes: longer than a file name may be
    enrollees = write_csv(tmp_path / "enrollees.csv", people)
    ledger = ledger_for(tmp_path / "ledger.csv", people, amount="50.00")  # on the retry list
    out = tmp_path / "out"
    for args in (
        ("validate", "--enrollees", enrollees, "--ledger", ledger),
        deduct_args(out, enrollees, ledger),
    ):
        result = run(*args)
        assert result.exit_code == 2
        assert "enrollees.csv:2: agency: is 100 characters; an agency code names a file" in (
            " ".join(result.stderr.split())
        )
    assert not out.exists()


def test_defect_8_two_codes_giving_one_file_name_are_named_at_their_lines(run, tmp_path):
    people = [
        person(1, agency="DC/01"),
        person(2, agency="DC_01"),
        person(3, agency="ab"),
        person(4, agency="AB"),
    ]
    enrollees = write_csv(tmp_path / "enrollees.csv", people)
    ledger = ledger_for(tmp_path / "ledger.csv", people)
    for args in (
        ("validate", "--enrollees", enrollees, "--ledger", ledger),
        deduct_args(tmp_path / "out", enrollees, ledger),
    ):
        result = run(*args)
        assert result.exit_code == 2
        said = " ".join(result.stderr.split())
        assert (
            "enrollees.csv:3: agency: 'DC_01' and 'DC/01' on line 2 give the same file name "
            "agencies/DC_01.csv" in said
        )
        assert "enrollees.csv:5: agency: 'AB' and 'ab' on line 4" in said
    assert not (tmp_path / "out").exists()


# --------------------------------------------------------------------------- 9. masking


def test_defect_9_values_are_masked_by_what_their_column_holds(run, tmp_path):
    people = [
        person(1, enrolled_on="2024年3月1日"),
        person(2, enrolled_on="SMITH JOHN"),
        person(3, status="E12345678"),
        person(4, status="SMITH JOHN"),
    ]
    enrollees = write_csv(tmp_path / "enrollees.csv", people)
    ledger = ledger_for(tmp_path / "ledger.csv", people)
    errors = tmp_path / "errors.csv"
    result = run("validate", "--enrollees", enrollees, "--ledger", ledger, "--errors", errors)
    assert result.exit_code == 2
    as_json = run("validate", "--enrollees", enrollees, "--ledger", ledger, "--json")
    for said in (result.stderr, as_json.stdout, errors.read_text(encoding="utf-8")):
        assert "'2024年3月1日' is not a date" in said  # a date column's harmless value
        assert "SMITH JOHN" not in said and "E12345678" not in said
        assert "'S**' is not a date" in said
        assert "'****' is not one of active" in said  # a document number in a code column
        assert "'S**' is not one of active" in said


# --------------------------------------------------------------------------- 10. pre-flight


def test_defect_10_a_header_only_enrollee_file_or_ledger_is_refused(run, tmp_path):
    empty_enrollees = tmp_path / "enrollees.csv"
    empty_enrollees.write_text(HEADER + "\n", encoding="utf-8")
    empty_ledger = tmp_path / "ledger.csv"
    empty_ledger.write_text("account_no,posted_at,amount\n", encoding="utf-8")
    out = tmp_path / "out"
    for enrollees, ledger, which in (
        (empty_enrollees, LEDGER, "enrollees.csv"),
        (ENROLLEES, empty_ledger, "ledger.csv"),
    ):
        for args in (
            ("validate", "--enrollees", enrollees, "--ledger", ledger),
            deduct_args(out, enrollees, ledger),
        ):
            result = run(*args)
            assert result.exit_code == 2, result.stdout
            assert f"{which}: the file has a header and no rows" in result.stderr
    assert not out.exists()


def test_defect_10_a_cut_off_still_to_come_is_refused_and_a_dry_run_only_warns(run, tmp_path):
    month = ["--month", "2099-01", "--calendar", "weekends"]
    args = ["deduct", "--round", "1", "--enrollees", ENROLLEES, "--ledger", LEDGER, *month]
    result = run(*args, "--out", tmp_path / "out")
    assert result.exit_code == 2
    assert "FUTURE" not in result.stderr  # the message, not the code, is for people
    assert "counts deposits up to 2099-01-12 00:00, which is still to come" in result.stderr
    assert not (tmp_path / "out").exists()
    preview = run(*args, "--out", tmp_path / "out", "--dry-run")
    assert preview.exit_code == 0, preview.stderr
    assert "warning: round 1 of 2099-01 counts deposits up to" in preview.stderr


def _stale_ledger(tmp_path: Path) -> Path:
    """The sample ledger without its rows after 2024-02-10: 8 days before round 1's cut-off."""
    lines = LEDGER.read_text(encoding="utf-8").splitlines(keepends=True)
    kept = [lines[0]] + [line for line in lines[1:] if line.split(",")[1][:10] <= "2024-02-10"]
    path = tmp_path / "stale.csv"
    path.write_text("".join(kept), encoding="utf-8")
    return path


def test_defect_10_a_stale_ledger_is_warned_about_everywhere_and_refused_when_strict(run, tmp_path):
    stale = _stale_ledger(tmp_path)
    out = tmp_path / "out"
    result = run(*deduct_args(out, ENROLLEES, stale, "--errors", tmp_path / "errors.csv"))
    assert result.exit_code == 0, result.stderr
    warning = "the ledger's latest row is of 2024-02-09 17:14, 8 days before the cut-off"
    assert warning in " ".join(result.stderr.split())
    run_dir = out / MONTH / "round-1"
    summary = json.loads((run_dir / "summary.json").read_bytes())
    assert [w["code"] for w in summary["warnings"]] == ["STALE_LEDGER"]
    assert warning in (run_dir / "run.log").read_text(encoding="utf-8")
    assert "STALE_LEDGER" in (tmp_path / "errors.csv").read_text(encoding="utf-8")
    # the terminal summary shows the ledger's extent
    assert "ledger: 121 rows, posted 2023-12-31 00:00 to 2024-02-09 17:14" in result.stdout
    strict = run(*deduct_args(tmp_path / "strict", ENROLLEES, stale, "--strict"))
    assert strict.exit_code == 2
    assert "(refused: --strict)" in strict.stderr
    assert not (tmp_path / "strict").exists()
    settings = tmp_path / "mediins.toml"
    settings.write_text("strict = true\n", encoding="utf-8")
    by_setting = run(
        *deduct_args(tmp_path / "strict", ENROLLEES, stale),
        env={"MEDIINS_CONFIG": str(settings)},
    )
    assert by_setting.exit_code == 2


# --------------------------------------------------------------------------- 11. smaller


def test_defect_11_under_umask_077_nothing_is_widened(tmp_path):
    out = tmp_path / "out"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEDIINS_")}
    done = subprocess.run(
        [str(MEDIINS), *map(str, deduct_args(out))],
        capture_output=True,
        text=True,
        env=env,
        preexec_fn=lambda: os.umask(0o077),
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    paths = [out, *out.rglob("*")]
    assert len(paths) > 10
    for path in paths:
        assert stat.S_IMODE(path.stat().st_mode) & 0o077 == 0, path


def test_defect_11_a_nul_byte_in_a_name_is_refused(run, tmp_path):
    people = [person(1, name="张\x00三")]
    enrollees = write_csv(tmp_path / "enrollees.csv", people)
    ledger = ledger_for(tmp_path / "ledger.csv", people)
    result = run(*deduct_args(tmp_path / "out", enrollees, ledger))
    assert result.exit_code == 2
    assert "enrollees.csv:2: name: holds a control or invisible character" in result.stderr
    assert not (tmp_path / "out").exists()


def test_defect_11_deduct_writes_its_errors_file_with_no_problems_as_validate_does(run, tmp_path):
    for args in (
        ("validate", "--enrollees", ENROLLEES, "--ledger", LEDGER),
        deduct_args(tmp_path / "out"),
    ):
        errors = tmp_path / f"{args[0]}-errors.csv"
        result = run(*args, "--errors", errors)
        assert result.exit_code == 0, result.stderr
        assert errors.read_text(encoding="utf-8") == "file,line,column,code,message,severity\n"
        assert stat.S_IMODE(errors.stat().st_mode) == 0o600


def test_now_in_china_is_a_clock_in_utc_plus_8():
    now = runs.now_in_china()
    assert now.utcoffset().total_seconds() == 8 * 3600
    assert abs((now - datetime.now(runs.CHINA)).total_seconds()) < 5


def test_every_defect_test_is_in_this_module():
    names = re.findall(r"^def (test_defect_(\d+)_\w+)", Path(__file__).read_text("utf-8"), re.M)
    assert {int(n) for _, n in names} == set(range(1, 12))
    assert ROOT.is_dir()
