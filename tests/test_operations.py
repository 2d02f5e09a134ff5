"""Unattended operation (issue 5): --round auto from cron, path templates, settings, run logs,
Excel and GB18030 output."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from stdnum.cn import ric

from conftest import SAMPLE
from mediins_cli.outputs import month_lock


def ident(n: int) -> str:
    body = f"11010119900307{n:03d}"
    return body + ric.calc_check_digit(body + "0")


def small_month(root: Path, month: str, paid_through: str, balance: str = "2000.00") -> None:
    """Two enrollees of ``month`` under root/<month>/, a ledger for each round."""
    folder = root / month
    folder.mkdir(parents=True)
    (folder / "enrollees.csv").write_text(
        "enrollee_id,name,agency,status,enrolled_on,paid_through,monthly_premium,account_no\n"
        f"{ident(1)},张三,DC01,active,2015-01-05,{paid_through},703.53,6214830012345678\n"
        f"{ident(3)},李四,DC01,active,2015-01-05,{paid_through},703.53,6214830012345679\n",
        encoding="utf-8",
    )
    for n in (1, 2):
        (folder / f"ledger-round{n}.csv").write_text(
            "account_no,posted_at,amount\n"
            f"6214830012345678,2010-01-01,{balance}\n6214830012345679,2010-01-01,1.00\n",
            encoding="utf-8",
        )


def auto(run, root: Path, day: str, *extra: str):
    return run(
        "deduct",
        "--round",
        "auto",
        "--date",
        day,
        "--enrollees",
        f"{root}/{{month}}/enrollees.csv",
        "--ledger",
        f"{root}/{{month}}/ledger-round{{round}}.csv",
        "--out",
        root / "out",
        *extra,
    )


def test_auto_on_a_plain_working_day_runs_round_one(run, tmp_path):
    small_month(tmp_path, "2024-03", "2024-02")
    result = auto(run, tmp_path, "2024-03-12")  # Tuesday
    assert result.exit_code == 0, result.stderr
    assert "2024-03 round 1 — done" in result.stdout
    run_dir = tmp_path / "out" / "2024-03" / "round-1"
    assert (run_dir / "success.csv").is_file()
    assert json.loads((run_dir / "manifest.json").read_text())["files"]["ledger"] == (
        "ledger-round1.csv"
    )


def test_auto_on_a_holiday_does_nothing_and_says_what_comes_next(run, tmp_path):
    result = auto(run, tmp_path, "2024-02-12")  # Spring Festival: round 1 rolls to the 18th
    assert result.exit_code == 0, result.stderr
    assert "no deduction round is due; next: round 1 of 2024-02 on 2024-02-18" in result.stdout
    assert not (tmp_path / "out").exists()
    data = json.loads(auto(run, tmp_path, "2024-02-12", "--json").stdout)
    assert data == {
        "status": "nothing_due",
        "date": "2024-02-12",
        "next": {"month": "2024-02", "round": 1, "effective": "2024-02-18"},
    }


def test_auto_on_2020_02_03_runs_januarys_round_two(run, tmp_path):
    small_month(tmp_path, "2020-01", "2019-12")
    first = auto(run, tmp_path, "2020-01-13")  # the 12th was a Sunday
    assert first.exit_code == 0, first.stderr
    second = auto(run, tmp_path, "2020-02-03")  # round 2 rolled over the extended holiday
    assert second.exit_code == 0, second.stderr
    assert "2020-01 round 2 — done" in second.stdout
    assert (tmp_path / "out" / "2020-01" / "round-2" / "breaks.csv").is_file()
    assert not (tmp_path / "out" / "2020-02").exists()


def test_auto_twice_the_same_day_is_a_no_op(run, tmp_path):
    small_month(tmp_path, "2024-03", "2024-02")
    assert auto(run, tmp_path, "2024-03-12").exit_code == 0
    run_dir = tmp_path / "out" / "2024-03" / "round-1"
    before = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in run_dir.rglob("*") if p.is_file()}
    again = auto(run, tmp_path, "2024-03-12")
    assert again.exit_code == 0
    assert "nothing to do" in again.stdout
    after = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in run_dir.rglob("*") if p.is_file()}
    assert after == before


def test_auto_while_another_run_holds_the_lock_is_refused(run, tmp_path):
    small_month(tmp_path, "2024-03", "2024-02")
    with month_lock(tmp_path / "out" / "2024-03", "round 1 of 2024-03 (test)"):
        result = auto(run, tmp_path, "2024-03-12")
    assert result.exit_code == 3
    assert result.stderr.startswith("mediins: another run holds the lock")
    assert "round 1 of 2024-03 (test)" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1  # one readable line for cron mail


def test_round_two_by_cron_before_round_one_is_one_refusal_line(run, tmp_path):
    small_month(tmp_path, "2024-03", "2024-02")
    result = auto(run, tmp_path, "2024-03-25")
    assert result.exit_code == 3
    assert len(result.stderr.strip().splitlines()) == 1
    assert "round 1 of 2024-03 has not run" in result.stderr


def test_a_day_whose_next_month_no_calendar_covers_warns_but_does_nothing(run, tmp_path):
    result = auto(run, tmp_path, "2026-12-28")
    assert result.exit_code == 0
    assert "warning: no working-day calendar covers 2027" in result.stderr
    assert "the next cannot be told yet" in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--round", "auto", "--month", "2024-02"), "--month does not go with --round auto"),
        (("--round", "1", "--date", "2024-02-18"), "--date goes with --round auto"),
        (("--round", "auto", "--date", "2024-02-30"), "is not a date"),
        (("--round", "1", "--month", "2024-02", "--out-encoding", "latin-1"), "--out-encoding"),
    ],
)
def test_option_mistakes_are_exit_2(run, tmp_path, args, message):
    result = run(
        "deduct",
        *args,
        "--enrollees",
        SAMPLE / "enrollees.csv",
        "--ledger",
        SAMPLE / "ledger.csv",
        "--out",
        tmp_path / "out",
    )
    assert result.exit_code == 2
    assert message in result.stderr
    assert not (tmp_path / "out").exists()


# --------------------------------------------------------------------------- settings


def test_settings_come_from_mediins_toml_and_the_command_line_wins(run, tmp_path, monkeypatch):
    small_month(tmp_path, "2024-03", "2024-02")
    (tmp_path / "mediins.toml").write_text(
        f'enrollees = "{tmp_path}/{{month}}/enrollees.csv"\n'
        f'ledger = "{tmp_path}/{{month}}/ledger-round{{round}}.csv"\n'
        f'out = "{tmp_path}/from-config"\n',
        encoding="utf-8",
    )
    monkeypatch.chdir(tmp_path)
    result = run("deduct", "--round", "auto", "--date", "2024-03-12")
    assert result.exit_code == 0, result.stderr
    assert (tmp_path / "from-config" / "2024-03" / "round-1").is_dir()
    result = run("deduct", "--round", "1", "--month", "2024-03", "--out", tmp_path / "cli")
    assert result.exit_code == 0, result.stderr
    assert (tmp_path / "cli" / "2024-03" / "round-1").is_dir()
    result = run(
        "deduct", "--round", "1", "--month", "2024-03", env={"MEDIINS_OUT": str(tmp_path / "env")}
    )
    assert result.exit_code == 0, result.stderr
    assert (tmp_path / "env" / "2024-03" / "round-1").is_dir()


def test_a_bad_settings_file_is_exit_2_naming_file_and_key(run, tmp_path, monkeypatch):
    (tmp_path / "mediins.toml").write_text('colour = "red"\nexcel = "yes"\n', encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    result = run("deduct", "--round", "1", "--month", "2024-02")
    assert result.exit_code == 2
    assert "mediins.toml: colour: unknown key" in result.stderr
    assert "mediins.toml: excel: expected true or false" in result.stderr


def test_without_inputs_anywhere_deduct_says_what_is_missing(run, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = run("deduct", "--round", "1", "--month", "2024-02")
    assert result.exit_code == 2
    assert "--enrollees is required" in result.stderr


# --------------------------------------------------------------------------- files operators open


@pytest.fixture
def sample_copy(tmp_path):
    folder = tmp_path / "in"
    shutil.copytree(SAMPLE, folder, ignore=shutil.ignore_patterns("history", "*.py", "*.md"))
    return folder


def both_rounds(run, sample_copy, out, *extra):
    for n, ledger in ((1, "ledger.csv"), (2, "ledger-round2.csv")):
        result = run(
            "deduct",
            "--round",
            str(n),
            "--month",
            "2024-02",
            "--enrollees",
            sample_copy / "enrollees.csv",
            "--ledger",
            sample_copy / ledger,
            "--out",
            out,
            *extra,
        )
        assert result.exit_code == 0, result.stderr
    return out / "2024-02"


def test_excel_output_starts_with_a_bom_and_round_two_reads_it(run, sample_copy, tmp_path):
    month = both_rounds(run, sample_copy, tmp_path / "out", "--excel")
    data = (month / "round-1" / "success.csv").read_bytes()
    assert data.startswith(b"\xef\xbb\xbfenrollee_id,")
    assert "曾志强" in data.decode("utf-8-sig")
    assert not (month / "round-1" / "summary.json").read_bytes().startswith(b"\xef\xbb\xbf")
    plain = both_rounds(run, sample_copy, tmp_path / "plain")
    # the same debits and continuity, only the encoding differs
    for name in ("round-2/success.csv", "round-2/breaks.csv", "round-1/agencies/HD-RC04.csv"):
        assert (month / name).read_bytes()[3:] == (plain / name).read_bytes()


def test_gb18030_output_decodes_as_gb18030(run, sample_copy, tmp_path):
    month = both_rounds(run, sample_copy, tmp_path / "out", "--out-encoding", "gb18030")
    data = (month / "round-2" / "breaks.csv").read_bytes()
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")
    text = data.decode("gb18030")
    assert "袁梦琪" in text and "WAITING_RESET" in text
    amounts = [
        line.split(",")[4]
        for line in (month / "round-1" / "success.csv")
        .read_bytes()
        .decode("gb18030")
        .splitlines()[1:]
    ]
    assert all(a.count(".") == 1 and len(a.split(".")[1]) == 2 for a in amounts)


def test_changing_the_output_format_is_other_inputs(run, sample_copy, tmp_path):
    out = tmp_path / "out"
    args = [
        "deduct",
        "--round",
        "1",
        "--month",
        "2024-02",
        "--enrollees",
        sample_copy / "enrollees.csv",
        "--ledger",
        sample_copy / "ledger.csv",
        "--out",
        out,
    ]
    assert run(*args).exit_code == 0
    result = run(*args, "--excel")
    assert result.exit_code == 3
    assert "format" in result.stderr


def test_each_run_leaves_a_log_without_personal_data(run, sample_copy, tmp_path):
    month = both_rounds(run, sample_copy, tmp_path / "out")
    log = (month / "round-1" / "run.log").read_text(encoding="utf-8")
    assert "round 1 of 2024-02" in log and "attempted 44 (30927.12 yuan)" in log
    assert "failed INSUFFICIENT_FUNDS: 10" in log
    assert "run.log" not in json.loads((month / "round-1" / "manifest.json").read_text())["outputs"]
    text = (sample_copy / "enrollees.csv").read_text(encoding="utf-8").splitlines()[1:]
    people = {field for line in text for field in line.split(",")[:3] + line.split(",")[11:12]}
    people.discard("")
    people -= {"ric", "M", "F", "hkmo", "tw", "passport"}
    assert not [p for p in people if p in log]
    assert "continuity" in (month / "round-2" / "run.log").read_text(encoding="utf-8")


def test_next_autumns_calendar_file_does_not_change_an_earlier_months_run(run, tmp_path):
    small_month(tmp_path, "2024-03", "2024-02")
    calendars = tmp_path / "calendars"
    calendars.mkdir()
    env = {"MEDIINS_CALENDAR_DIR": str(calendars)}
    args = (
        "deduct",
        "--round",
        "1",
        "--month",
        "2024-03",
        "--enrollees",
        tmp_path / "2024-03" / "enrollees.csv",
        "--ledger",
        tmp_path / "2024-03" / "ledger-round1.csv",
        "--out",
        tmp_path / "out",
    )
    assert run(*args, env=env).exit_code == 0
    (calendars / "2035.toml").write_text('year = 2035\nsource = "notice"\n', encoding="utf-8")
    again = run(*args, env=env)
    assert again.exit_code == 0, again.stderr
    assert "nothing to do" in again.stdout
