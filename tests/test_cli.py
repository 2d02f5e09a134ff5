"""The command line through a runner: exit statuses, what reaches stdout and stderr, JSON."""

from __future__ import annotations

import csv
import json

import pytest
from stdnum.cn import ric

from conftest import SAMPLE
from mediins_cli import cli


def rounds_json(run, *args, env=None):
    result = run("calendar", *args, "--json", env=env)
    assert result.exit_code == 0, result.stderr
    return [
        (r["round"], r["effective"], r["deposit_by"]) for r in json.loads(result.stdout)["rounds"]
    ]


# --------------------------------------------------------------------------- calendar


def test_calendar_feb_2024_shows_both_rounds_and_why(run):
    result = run("calendar", "--month", "2024-02")
    assert result.exit_code == 0
    out = result.stdout
    assert "2024-02-18 Sun" in out and "2024-02-22 Thu" in out
    assert "Spring Festival (春节)" in out
    why = json.loads(run("calendar", "--month", "2024-02", "--json").stdout)["rounds"][0]["why"]
    assert why == (
        "rolled over 2024-02-12–2024-02-17 Spring Festival (春节); "
        "2024-02-18 is a make-up working day for Spring Festival (春节)"
    )
    assert rounds_json(run, "--month", "2024-02") == [
        (1, "2024-02-18", "2024-02-17"),
        (2, "2024-02-22", "2024-02-21"),
    ]


def test_calendar_oct_2024_round_one_is_the_make_up_saturday(run):
    assert rounds_json(run, "--month", "2024-10")[0] == (1, "2024-10-12", "2024-10-11")


def test_calendar_jan_2020_round_two_rolls_into_february(run):
    assert rounds_json(run, "--month", "2020-01")[1] == (2, "2020-02-03", "2020-02-02")


def test_calendar_weekends_ignores_the_spring_festival(run):
    assert rounds_json(run, "--month", "2024-02", "--calendar", "weekends")[0][1] == "2024-02-12"


def test_calendar_year_lists_every_round(run):
    rounds = rounds_json(run, "--year", "2024")
    assert len(rounds) == 24
    assert rounds[2] == (1, "2024-02-18", "2024-02-17")


def test_calendar_beyond_every_calendar_is_exit_2_naming_the_year(run, tmp_path):
    result = run("calendar", "--month", "2035-01", env={"MEDIINS_CALENDAR_DIR": str(tmp_path)})
    assert result.exit_code == 2
    assert "2035" in result.stderr and "2035.toml" in result.stderr
    assert result.stdout == ""


def test_calendar_file_added_for_the_year_makes_it_work(run, tmp_path):
    (tmp_path / "2035.toml").write_text(
        'year = 2035\nsource = "test"\n'
        'holidays = [ { name = "元旦", from = 2035-01-01, to = 2035-01-01 } ]\n',
        encoding="utf-8",
    )
    env = {"MEDIINS_CALENDAR_DIR": str(tmp_path)}
    # 2035-01-12 is a Friday; 2035-01-25 a Thursday.
    assert rounds_json(run, "--month", "2035-01", env=env) == [
        (1, "2035-01-12", "2035-01-11"),
        (2, "2035-01-25", "2035-01-24"),
    ]


@pytest.mark.parametrize(
    "args",
    [
        ("--month", "2024-13"),
        ("--month", "2024-2"),
        ("--month", "2024-02", "--year", "2024"),
        ("--calendar", "banks"),
        ("--rules", "atlantis-2099", "--month", "2024-02"),
    ],
)
def test_calendar_bad_usage_is_exit_2(run, args):
    result = run("calendar", *args)
    assert result.exit_code == 2
    assert result.stdout == ""


def test_calendar_follows_another_pack(run):
    assert rounds_json(run, "--month", "2024-02", "--rules", "jilin-2022")[0][1] == "2024-02-18"


# --------------------------------------------------------------------------- rules


def test_rules_list_shows_every_pack(run):
    result = run("rules", "list")
    assert result.exit_code == 0
    for pack in ("beijing-2007 (default)", "jiangsu-huaian-2021", "dalian-2025", "jilin-2022"):
        assert pack in result.stdout
    listed = json.loads(run("rules", "list", "--json").stdout)
    assert [p["id"] for p in listed] == [
        "beijing-2007",
        "dalian-2025",
        "jiangsu-huaian-2021",
        "jilin-2022",
    ]


def test_rules_show_cites_each_value(run):
    result = run("rules", "show", "beijing-2007")
    assert result.exit_code == 0
    assert "schedule.round_1_day" in result.stdout and "000 §一" in result.stdout
    shown = json.loads(run("rules", "show", "beijing-2007", "--json").stdout)
    window = shown["rules"]["continuity.window_length"]
    assert (window["value"], window["source"]) == (60, "000 §七(二)")
    assert window["note"].startswith("a gap of 60 days keeps continuity; 61 loses it")
    assert shown["sources"]["000"]["title"] == "京社保发[2007]19号"


def test_rules_show_a_broken_pack_file_is_exit_2_with_every_problem(run, tmp_path):
    path = tmp_path / "mine.toml"
    path.write_text('[pack]\nid = "mine"\n[schedule]\nround_1_day = 12\n', encoding="utf-8")
    result = run("rules", "show", str(path))
    assert result.exit_code == 2
    assert "mine.toml: pack.title: expected a non-empty string" in result.stderr
    assert "mine.toml: schedule.round_1_day: expected { value = …" in result.stderr
    assert "mine.toml: backpay: missing [backpay] table" in result.stderr


def test_rules_list_refuses_a_folder_with_a_broken_pack(run, tmp_path):
    (tmp_path / "bad.toml").write_text("[pack]\n", encoding="utf-8")
    result = run("rules", "list", env={"MEDIINS_RULES_DIR": str(tmp_path)})
    assert result.exit_code == 2
    assert "bad.toml: pack.id" in result.stderr


# --------------------------------------------------------------------------- validate


def personal_data():
    """Every ID, account and name of the sample month (none may reach the terminal)."""
    with (SAMPLE / "enrollees.csv").open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    return (
        {r["enrollee_id"] for r in rows}
        | {r["account_no"] for r in rows}
        | {r["name"] for r in rows}
    )


def test_validate_sample_month_is_valid_and_shows_no_personal_data(run):
    result = run(
        "validate", "--enrollees", SAMPLE / "enrollees.csv", "--ledger", SAMPLE / "ledger.csv"
    )
    assert result.exit_code == 0, result.stderr
    assert "inputs are valid" in result.stdout
    assert "50 (active 47, suspended 2, terminated 1)" in result.stdout
    assert "3 shared" in result.stdout
    screen = result.stdout + result.stderr
    assert not [p for p in personal_data() if p in screen]


def test_validate_lists_every_problem_of_both_files_and_exits_2(run, write, tmp_path):
    good = "110101199003071234"[:17]
    good += ric.calc_check_digit(good + "0")
    bad_check = good[:17] + ("0" if good[17] != "0" else "1")
    enrollees = write(
        "enrollees.csv",
        "enrollee_id,name,agency,status,enrolled_on,monthly_premium,account_no\n"
        f"{good},张三,DC01,active,2023-01-05,703.53,6214830012345678\n"
        f"{bad_check},李四,DC01,active,2023-01-05,703.53,6214830012345679\n"
        f"{good},王五,DC01,frozen,2023-02-30,12.345,6214830012345670\n",
    )
    ledger = write(
        "ledger.csv",
        "account_no,posted_at,amount\n6214830012345678,2024/02/01,100\n6214830012345678,2024-02-01,x\n",
    )
    errors = tmp_path / "problems.csv"
    before = sorted(p.name for p in tmp_path.iterdir())
    result = run("validate", "--enrollees", enrollees, "--ledger", ledger, "--errors", errors)
    assert result.exit_code == 2
    expected = [
        "enrollees.csv:3: enrollee_id: check digit is",
        "enrollees.csv:4: enrollee_id: duplicate enrollee (110101********",
        "enrollees.csv:4: status: 'frozen' is not one of",
        "enrollees.csv:4: enrolled_on: '2023-02-30' is not a date YYYY-MM-DD",
        "enrollees.csv:4: monthly_premium: '12.345' is not an amount",
        "ledger.csv:2: posted_at: '2024/02/01' is not YYYY-MM-DD",
        "ledger.csv:3: amount: 'x' is not an amount",
    ]
    for text in expected:
        assert text in result.stderr, text
    assert "7 error(s), 0 warning(s)" in result.stderr
    assert good not in result.stderr and bad_check not in result.stderr
    with errors.open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 7
    assert set(rows[0]) == {"file", "line", "column", "code", "message", "severity"}
    # Only the requested problems file was written.
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([*before, "problems.csv"])


def test_validate_caps_what_it_prints_but_the_errors_file_has_all(run, write, tmp_path):
    lines = ["account_no,posted_at,amount"] + [f"62148300{i:08d},2024-02-01,bad" for i in range(80)]
    ledger = write("ledger.csv", "\n".join(lines) + "\n")
    enrollees = SAMPLE / "enrollees.csv"
    errors = tmp_path / "all.csv"
    result = run("validate", "--enrollees", enrollees, "--ledger", ledger, "--errors", errors)
    assert result.exit_code == 2
    assert "… and 30 more errors" in result.stderr
    assert len(errors.read_text(encoding="utf-8").splitlines()) == 81


def test_validate_json_reports_failure_for_machines(run, write):
    ledger = write("ledger.csv", "account_no,posted_at\n6214830012345678,2024-02-01\n")
    result = run("validate", "--enrollees", SAMPLE / "enrollees.csv", "--ledger", ledger, "--json")
    assert result.exit_code == 2
    data = json.loads(result.stdout)
    assert data["ok"] is False and data["errors"] == 1
    assert data["problems"][0]["column"] == "amount"
    assert data["problems"][0]["line"] == 1


def test_validate_missing_file_is_exit_2(run, tmp_path):
    result = run(
        "validate", "--enrollees", tmp_path / "nope.csv", "--ledger", SAMPLE / "ledger.csv"
    )
    assert result.exit_code == 2
    assert "nope.csv: no such file" in result.stderr


# --------------------------------------------------------------------------- the whole CLI


def test_version(run):
    result = run("--version")
    assert result.exit_code == 0 and result.stdout.startswith("mediins ")


def test_the_help_covers_every_command_there_is(run):
    from mediins_cli.cli import app, rules_app

    names = {c.name or c.callback.__name__ for c in app.registered_commands}
    assert names == {
        "calendar",
        "validate",
        "deduct",
        "replay",
        "sample",
        "instruct",
        "simulate-bank",
        "status",
        "report",
    }
    assert {c.name for c in rules_app.registered_commands} == {"list", "show", "banks"}


@pytest.mark.parametrize(
    "command",
    [
        ("calendar",),
        ("validate",),
        ("rules", "list"),
        ("rules", "show"),
        ("rules", "banks"),
        ("deduct",),
        ("instruct",),
        ("simulate-bank",),
        ("replay",),
        ("sample",),
    ],
)
def test_every_command_has_help_with_examples(run, command):
    result = run(*command, "--help")
    assert result.exit_code == 0
    assert "Example" in result.stdout and "mediins " + command[0] in result.stdout


def test_an_unexpected_failure_is_exit_1_with_a_readable_line(run, monkeypatch):
    def boom(*_args, **_kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(cli, "load_pack", boom)
    result = run("calendar", "--month", "2024-02")
    assert result.exit_code == 1
    assert "unexpected error: RuntimeError: disk on fire" in result.stderr


def test_many_warnings_of_one_kind_are_summarised_not_flooded(run, write):
    # Resident IDs with an area code python-stdnum does not know (990101): warnings only.
    from stdnum.cn import ric as _ric

    rows = ["enrollee_id,name,agency,status,enrolled_on,monthly_premium,account_no"]
    for i in range(12):
        body = f"99010119900307{i:03d}"
        rows.append(
            f"{body}{_ric.calc_check_digit(body + '0')},张三,DC01,active,2023-01-05,1.00,"
            f"62148300{i:08d}"
        )
    enrollees = write("enrollees.csv", "\n".join(rows) + "\n")
    result = run("validate", "--enrollees", enrollees, "--ledger", SAMPLE / "ledger.csv")
    assert result.exit_code == 0
    assert result.stderr.count("warning: enrollee_id: area code 990101") == 5
    assert "… and 7 more UNKNOWN_AREA warnings" in result.stderr
    assert "0 error(s), 12 warning(s)" in result.stderr


def test_a_file_whose_columns_slipped_does_not_echo_ids_or_names(run, write):
    # enrolled_on holds the ID, monthly_premium the name: the messages mask both.
    ident = "11010119900307123" + ric.calc_check_digit("11010119900307123" + "0")
    enrollees = write(
        "enrollees.csv",
        "enrollee_id,name,agency,status,enrolled_on,monthly_premium,account_no\n"
        f"{ident},张三丰,DC01,active,{ident},张三丰,6214830012345678\n",
    )
    result = run("validate", "--enrollees", enrollees, "--ledger", SAMPLE / "ledger.csv")
    assert result.exit_code == 2
    masked = f"{ident[:4]}********{ident[-4:]}"
    assert f"enrolled_on: '{masked}' is not a date YYYY-MM-DD" in result.stderr
    assert "monthly_premium: '张**' is not an amount" in result.stderr
    assert ident not in result.stderr and "张三丰" not in result.stderr
