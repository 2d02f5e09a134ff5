"""``mediins status`` (DESIGN §13 "History"): the months and runs of an output folder, read from
their run directories: ran, superseded or damaged, the summaries' own figures, what is next."""

from __future__ import annotations

import io
import json
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from bank_helpers import ENROLLEES, LEDGER_1, PIPE, instruct, mediins, ok
from rich.console import Console

from conftest import SAMPLE
from mediins_cli.desk.history import read_history
from mediins_cli.desk.status import percent, render_status
from mediins_cli.i18n import amount

HISTORY = SAMPLE / "history"
DEPOSIT = "6217991000055271402,2024-02-10 10:00:00,700.00,,柜台存入\n"


def deduct(out: Path, month: str, round_no: int, enrollees: Path, ledger: Path, *extra: str):
    return ok(
        "deduct",
        "--round",
        round_no,
        "--month",
        month,
        "--enrollees",
        enrollees,
        "--ledger",
        ledger,
        "--out",
        out,
        *extra,
    )


def summary(run_dir: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
    return data


def status_json(out: Path, *extra: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(ok("status", "--out", out, "--json", *extra).stdout)
    return data


def snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    """2024-01 of the shipped history, both rounds; 2024-02 of the sample, round 1 run twice
    (the second time with one more deposit in the ledger and --force: the first is moved
    aside)."""
    out = tmp_path_factory.mktemp("status") / "out"
    january = HISTORY / "2024-01"
    deduct(out, "2024-01", 1, january / "enrollees.csv", january / "ledger-round1.csv")
    deduct(out, "2024-01", 2, january / "enrollees.csv", january / "ledger-round2.csv")
    deduct(out, "2024-02", 1, ENROLLEES, LEDGER_1)
    # a deposit the first ledger lacked (as in test_deduct): one more debit succeeds
    ledger = out.parent / "ledger-with-deposit.csv"
    ledger.write_bytes(LEDGER_1.read_bytes() + DEPOSIT.encode("utf-8"))
    deduct(out, "2024-02", 1, ENROLLEES, ledger, "--force")
    return out


@pytest.fixture
def copy(folder: Path, tmp_path: Path) -> Path:
    target = tmp_path / "out"
    shutil.copytree(folder, target)
    return target


def test_every_month_and_run_is_listed_in_the_order_they_happened(folder):
    doc = status_json(folder)
    assert doc["schema"] == 1
    assert [m["month"] for m in doc["months"]] == ["2024-01", "2024-02"]
    january, february = doc["months"]
    assert [(r["name"], r["status"]) for r in january["runs"]] == [
        ("round-1", "ran"),
        ("round-2", "ran"),
    ]
    assert [(r["name"], r["status"], r["current"]) for r in february["runs"]] == [
        ("round-1.superseded-1", "superseded", False),
        ("round-1", "ran", True),
    ]
    for month in doc["months"]:
        assert (month["rules"], month["calendar"], month["mode"]) == (
            "beijing-2007",
            "official",
            "ledger",
        )


def test_counts_amounts_and_rates_are_the_summaries_own(folder):
    doc = status_json(folder)
    january = doc["months"][0]
    for run in january["runs"]:
        s = summary(folder / "2024-01" / run["name"])
        assert run["due"] == s["attempted"]
        assert run["collected"] == s["succeeded"]
        assert run["failed"] == {k: s["failed"][k] for k in ("enrollees", "amount")}
        assert run["collection_rate"] == s["collection_rate"]["amount"]
    r2 = summary(folder / "2024-01" / "round-2")
    assert january["runs"][1]["breaks"] == r2["continuity"]["breaks"]
    assert january["runs"][1]["breaks_by_category"] == r2["continuity"]["by_category"]
    assert january["runs"][0]["breaks"] is None  # breaks are round 2's
    total = r2["month_total"]
    assert january["total"] == {
        "after_round": 2,
        "due": total["due"],
        "collected": total["collected"],
        "unpaid": {k: total["unpaid"][k] for k in ("enrollees", "amount")},
        "collection_rate": total["collection_rate"],
        "breaks": r2["continuity"]["breaks"],
    }


def test_the_superseded_run_keeps_its_own_figures(folder):
    february = status_json(folder)["months"][1]
    aside, current = february["runs"]
    assert aside["collected"] == summary(folder / "2024-02" / "round-1.superseded-1")["succeeded"]
    assert current["collected"] == summary(folder / "2024-02" / "round-1")["succeeded"]
    assert aside["collected"] != current["collected"]  # the other ledger: other results
    # the month is told by the run in place
    assert february["total"]["collected"] == current["collected"]
    assert february["total"]["after_round"] == 1


def test_when_each_ran_comes_from_its_log(folder):
    doc = status_json(folder)
    for month in doc["months"]:
        for run in month["runs"]:
            log = (folder / month["month"] / run["name"] / "run.log").read_text(encoding="utf-8")
            started = next(line for line in log.splitlines() if line.startswith("started "))
            # "started 2026-11-25T04:21:44+08:00 on …" → "2026-11-25 04:21"
            assert started.split()[1].replace("T", " ")[:16] == run["ran_at"]


def test_next_is_round_two_of_the_month_by_the_packs_schedule(folder):
    doc = status_json(folder)
    assert doc["next"] == {
        "month": "2024-02",
        "round": 2,
        "step": "deduct",
        "rules": "beijing-2007",
        "calendar": "official",
        "effective": "2024-02-22",
        "deposit_by": "2024-02-21",
        "why": "working day, not rolled",
        "note": None,
    }
    assert doc["months"][0]["next"] is None  # January is done and February is in the folder


def test_after_round_two_next_is_next_months_round_one(folder):
    doc = status_json(folder, "--month", "2024-01")
    assert [m["month"] for m in doc["months"]] == ["2024-01"]
    assert doc["months"][0]["next"] is None
    out = folder.parent / "january-only"
    shutil.copytree(folder / "2024-01", out / "2024-01")
    nxt = status_json(out)["next"]
    # 2024-02's round 1 rolls over the Spring Festival to the make-up Sunday (DESIGN §2)
    assert (nxt["month"], nxt["round"], nxt["effective"], nxt["deposit_by"]) == (
        "2024-02",
        1,
        "2024-02-18",
        "2024-02-17",
    )
    assert "Spring Festival" in nxt["why"]


def test_a_file_changed_since_the_run_shows_it_damaged_naming_the_file(copy):
    failure = copy / "2024-02" / "round-1" / "failure.csv"
    failure.write_bytes(failure.read_bytes() + b"x\n")
    doc = status_json(copy)
    run = doc["months"][1]["runs"][1]
    assert (run["status"], run["damaged_files"]) == ("damaged", ["failure.csv"])
    assert run["collected"] is not None  # summary.json itself is intact
    text = mediins("status", "--out", copy)
    assert text.exit_code == 0
    assert "damaged" in text.stdout and "failure.csv" in text.stdout


def test_a_changed_summary_is_damaged_and_its_figures_are_not_shown(copy):
    path = copy / "2024-01" / "round-1" / "summary.json"
    path.write_text(path.read_text(encoding="utf-8").replace("0.", "1."), encoding="utf-8")
    run = status_json(copy)["months"][0]["runs"][0]
    assert run["status"] == "damaged" and run["damaged_files"] == ["summary.json"]
    assert run["due"] is None and run["collection_rate"] is None


def test_an_unreadable_manifest_is_damaged(copy):
    (copy / "2024-01" / "round-2" / "manifest.json").write_text("{not json", encoding="utf-8")
    run = status_json(copy)["months"][0]["runs"][1]
    assert run["status"] == "damaged" and run["damaged_files"] == ["manifest.json"]
    assert run["rules"] is None


def test_status_reads_and_never_writes(folder):
    before = snapshot(folder)
    ok("status", "--out", folder)
    status_json(folder)
    assert snapshot(folder) == before


def test_terminal_output_tells_each_run_and_the_next_step(folder):
    out = ok("status", "--out", folder).stdout
    assert "2024-01 — rules beijing-2007, calendar official, ledger mode" in out
    assert "superseded" in out and "(round-1.superseded-1)" in out
    r1 = summary(folder / "2024-01" / "round-1")
    assert amount(r1["attempted"]["amount"]) in out
    assert percent(r1["collection_rate"]["amount"]) in out
    assert "mediins deduct --round 2 --month 2024-02" in out
    assert "2024-02-22 Thu, deposit by 2024-02-21" in out


def test_terminal_output_holds_no_personal_data(folder):
    out = ok("status", "--out", folder).stdout
    for path in (ENROLLEES, HISTORY / "2024-01" / "enrollees.csv"):
        for line in path.read_text(encoding="utf-8").splitlines()[1:]:
            cells = line.split(",")
            for cell in (cells[0], cells[2], cells[11]):  # enrollee_id, name, account_no
                assert not cell or cell not in out, cell


def test_status_lines_fit_80_columns_without_cutting(folder):
    console = Console(width=80, record=True, file=io.StringIO())
    render_status(console, read_history(folder))
    text = console.export_text()
    lines = text.splitlines()
    command = [line for line in lines if line.startswith("  mediins ")]
    # the command to copy is never wrapped: it ends in the folder's path, however long
    assert command == [f"  mediins deduct --round 2 --month 2024-02 --out {folder}"]
    assert all(len(line) <= 80 and line == line.rstrip() for line in lines if line not in command)


def test_return_mode_lists_instructions_and_the_next_step_is_to_instruct(tmp_path):
    out = tmp_path / "out"
    instruct(out, 1)
    doc = status_json(out)
    runs = doc["months"][0]["runs"]
    assert [(r["name"], r["kind"], r["mode"]) for r in runs] == [
        ("instructions-1", "instructions", "returns")
    ]
    assert runs[0]["due"]["enrollees"] == 44 and runs[0]["collected"] is None
    assert (doc["next"]["round"], doc["next"]["step"]) == (1, "deduct")


def test_return_mode_after_round_one_next_is_round_twos_instructions(tmp_path):
    out = tmp_path / "out"
    instruct(out, 1, "--bank-format", PIPE)
    ok(
        *("deduct", "--round", 1, "--month", "2024-02", "--enrollees", ENROLLEES),
        *("--returns", SAMPLE / "returns" / "round1", "--out", out),
    )
    doc = status_json(out)
    assert [r["name"] for r in doc["months"][0]["runs"]] == ["instructions-1", "round-1"]
    assert doc["months"][0]["mode"] == "returns"
    assert (doc["next"]["round"], doc["next"]["step"]) == (2, "instruct")
    out_text = ok("status", "--out", out).stdout
    assert "return mode" in out_text and "mediins instruct --round 2 --month 2024-02" in out_text


def test_no_such_folder_or_month_is_bad_input(tmp_path, folder):
    missing = mediins("status", "--out", tmp_path / "nowhere")
    assert missing.exit_code == 2 and "no such folder" in missing.stderr
    month = mediins("status", "--out", folder, "--month", "2023-12")
    assert month.exit_code == 2
    assert "no run of 2023-12" in month.stderr and "2024-01, 2024-02" in month.stderr
    bad = mediins("status", "--out", folder, "--month", "2024-13")
    assert bad.exit_code == 2 and "--month" in bad.stderr


def test_an_empty_folder_has_no_runs_yet(tmp_path):
    (tmp_path / "2024-02").mkdir()  # a month folder with nothing in it (e.g. only a lock)
    result = ok("status", "--out", tmp_path)
    assert "no runs" in result.stdout
    assert status_json(tmp_path) == {
        "schema": 1,
        "out": str(tmp_path),
        "months": [],
        "next": None,
        "next_command": None,
    }


def test_the_out_setting_is_used_when_no_out_is_given(folder):
    doc = json.loads(ok("status", "--json", env={"MEDIINS_OUT": str(folder)}).stdout)
    assert [m["month"] for m in doc["months"]] == ["2024-01", "2024-02"]


def test_status_loads_no_plotting_library():
    code = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from mediins_cli.cli import app\n"
        "CliRunner().invoke(app, ['status', '--out', 'nowhere'])\n"
        "print('matplotlib' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip().splitlines()[-1] == "False"


def test_the_next_command_names_the_folder_it_reads(folder, run, tmp_path, monkeypatch):
    """As refusal advice does: the command to copy keeps the --out the operator gave, and the
    default folder needs none."""
    doc = status_json(folder)
    assert doc["next_command"] == (
        f"mediins deduct --round 2 --month 2024-02 --out {shlex.quote(str(folder))}"
    )
    text = run("status", "--out", str(folder)).stdout
    assert doc["next_command"] in text
    monkeypatch.chdir(tmp_path)
    shutil.copytree(folder, tmp_path / "out")
    assert status_json(Path("out"))["next_command"] == "mediins deduct --round 2 --month 2024-02"
