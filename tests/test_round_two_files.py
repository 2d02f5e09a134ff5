"""Round 2's continuity files on the sample month (sample_data/README.md's expectations, worked
out from seed 000 §七 and DESIGN §5), and the same month under another region's pack."""

from __future__ import annotations

import csv
import json
from datetime import datetime
from pathlib import Path

import pytest
from stdnum.cn import ric

from conftest import SAMPLE
from mediins_cli import runs
from mediins_cli.cli import app

BREAK_COLUMNS = [
    "enrollee_id",
    "name",
    "agency",
    "category",
    "unpaid_since",
    "unpaid_months",
    "unpaid_days",
    "resume_by_month",
    "benefits_suspended_from",
    "backpay_until",
    "backpay_channel",
]


def rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def both_rounds(out: Path, rules: str = "beijing-2007"):
    from typer.testing import CliRunner

    runner = CliRunner()
    common = [
        "--month",
        "2024-02",
        "--enrollees",
        str(SAMPLE / "enrollees.csv"),
        "--out",
        str(out),
        "--rules",
        rules,
    ]
    first = runner.invoke(
        app, ["deduct", "--round", "1", *common, "--ledger", str(SAMPLE / "ledger.csv")]
    )
    assert first.exit_code == 0, first.stderr
    second = runner.invoke(
        app, ["deduct", "--round", "2", *common, "--ledger", str(SAMPLE / "ledger-round2.csv")]
    )
    assert second.exit_code == 0, second.stderr
    return second, out / "2024-02" / "round-2"


@pytest.fixture(scope="module")
def beijing(tmp_path_factory):
    return both_rounds(tmp_path_factory.mktemp("bj"))


def test_breaks_have_design_columns_and_the_hand_worked_categories(beijing):
    _, d = beijing
    got = rows(d / "breaks.csv")
    assert list(got[0])[: len(BREAK_COLUMNS)] == BREAK_COLUMNS
    table = {
        r["name"]: (
            r["category"],
            r["unpaid_since"],
            r["unpaid_months"],
            r["unpaid_days"],
            r["resume_by_month"],
        )
        for r in got
    }
    assert table == {
        "单丽": ("NEW_BREAK", "2024-02", "1", "29", "2024-04"),  # Feb–Mar 2024 = 60 days
        "朴成浩": ("NEW_BREAK", "2024-02", "1", "29", "2024-04"),
        "马俊杰": ("NEW_BREAK", "2024-02", "1", "29", "2024-04"),
        "覃美玲": ("NEW_BREAK", "2024-02", "1", "29", "2024-04"),
        # paid through 2023-12: Jan + Feb 2024 = 31 + 29 = 60 days, inside the 60-day window;
        # March unpaid too would make 91: pay again in March at the latest
        "卢海燕": ("ONGOING", "2024-01", "2", "60", "2024-03"),
        # in her waiting period (until 2024-04-28): 000 §七(一) resets it on resuming
        "袁梦琪": ("WAITING_RESET", "2024-02", "1", "29", "2024-04"),
    }
    assert {r["benefits_suspended_from"] for r in got} == {""}  # 000 does not say
    assert {(r["backpay_until"], r["backpay_channel"]) for r in got} == {("", "none")}


def test_resumptions_after_a_gap(beijing):
    _, d = beijing
    got = {r["name"]: r for r in rows(d / "resumptions.csv")}
    assert set(got) == {"蒋文涛", "曹国庆"}
    assert (got["蒋文涛"]["category"], got["蒋文涛"]["gap_days"]) == ("RESUMED_CONTINUOUS", "31")
    assert got["蒋文涛"]["waiting_until"] == ""
    # Dec 2023 + Jan 2024 = 62 days > 60: newly enrolled, 180 days from the day after the debit
    c = got["曹国庆"]
    assert (c["category"], c["gap_since"], c["gap_days"]) == (
        "RESUMED_NEW_ENROLLMENT",
        "2023-12",
        "62",
    )
    assert (c["paid_on"], c["waiting_from"], c["waiting_until"]) == (
        "2024-02-18",
        "2024-02-19",
        "2024-08-16",
    )


def test_updates_cover_everyone_due_with_the_new_paid_through(beijing):
    _, d = beijing
    got = {r["enrollee_id"]: r for r in rows(d / "updates.csv")}
    assert len(got) == 44  # everyone due in February
    paid = [r for r in got.values() if r["paid_through"] == "2024-02"]
    assert len(paid) == 38  # 33 in round 1 + 5 in round 2
    assert got["110108197410010353"]["waiting_until"] == "2024-08-16"  # 曹国庆
    assert got["110105198708190823"]["paid_through"] == "2023-12"  # 卢海燕: unchanged
    assert got["110221199712120289"]["event"] == "WAITING_RESET"


def test_agency_lists_of_the_breaks_are_in_pinyin_order(beijing):
    _, d = beijing
    lists = {p.name: [r["name"] for r in rows(p)] for p in sorted((d / "agencies").iterdir())}
    assert lists == {
        "CY-ZJ03.csv": ["卢海燕", "覃美玲"],  # lu < qin (覃 read as a surname, not tan)
        "DC-RC01.csv": ["单丽"],
        "FT-SB05.csv": ["马俊杰"],
        "HD-RC04.csv": ["朴成浩", "袁梦琪"],  # piao < yuan
    }


def test_round_one_reminder_lists_are_in_pinyin_order(beijing):
    _, d = beijing
    r1 = d.parent / "round-1" / "agencies"
    names = [r["name"] for r in rows(r1 / "HD-RC04.csv")]
    assert names == ["缪建华", "朴成浩", "袁梦琪"]  # miao < piao < yuan
    assert {r["deposit_by"] for r in rows(r1 / "HD-RC04.csv")} == {"2024-02-21"}


def test_summary_and_terminal_show_the_continuity_picture_masked(beijing):
    result, d = beijing
    c = json.loads((d / "summary.json").read_text(encoding="utf-8"))["continuity"]
    assert c["by_category"] == {
        "NEW_BREAK": 4,
        "ONGOING": 1,
        "WAITING_RESET": 1,
        "CONTINUITY_LOST": 0,
        "LOST_BEFORE": 0,
    }
    assert c["resumptions"] == {"RESUMED_CONTINUOUS": 1, "RESUMED_NEW_ENROLLMENT": 1}
    assert c["amount_not_collected"] == "3886.86"
    assert c["unpaid_months"] == {"1": 5, "2": 1}
    assert c["resume_by"] == {"2024-03": 1, "2024-04": 5}
    assert c["next_round_one"] == "2024-03-12"
    assert (
        c["by_agency"][0]["agency"] in {"CY-ZJ03", "HD-RC04"} and c["by_agency"][0]["breaks"] == 2
    )
    out = result.stdout
    assert "WAITING_RESET" in out and "next month's round 1: 2024-03-12" in out
    for name in ("单丽", "卢海燕", "袁梦琪", "110101198407220464", "6214830100007326"):
        assert name not in out + result.stderr


def test_the_same_month_under_jiangsu_rules_stops_benefits_and_allows_back_payment(tmp_path):
    _, d = both_rounds(tmp_path, "jiangsu-huaian-2021")
    got = {r["name"]: r for r in rows(d / "breaks.csv")}
    # 苏医保发〔2021〕61号 二: from the second natural month; 3-month window with back-payment
    assert (got["单丽"]["category"], got["单丽"]["resume_by_month"]) == ("NEW_BREAK", "2024-05")
    assert got["单丽"]["benefits_suspended_from"] == "2024-03"
    assert got["单丽"]["backpay_until"] == "2024-05-31"
    assert got["袁梦琪"]["category"] == "NEW_BREAK"  # no reset rule in 002
    # Dec–Jan is 2 months: continuous under Jiangsu's 3-month window (not under Beijing's 60 days)
    resumed = {r["name"]: r["category"] for r in rows(d / "resumptions.csv")}
    assert resumed["曹国庆"] == "RESUMED_CONTINUOUS"


def test_december_round_two_says_when_no_calendar_covers_next_january(
    run, write, tmp_path, monkeypatch
):
    # the last month chinese-calendar 1.11 covers: run it as on 2026-12-31, after both cut-offs
    monkeypatch.setattr(runs, "now_in_china", lambda: datetime(2026, 12, 31, 12, tzinfo=runs.CHINA))
    body = "11010119900307123"
    ident = body + ric.calc_check_digit(body + "0")
    enrollees = write(
        "enrollees.csv",
        "enrollee_id,name,agency,status,enrolled_on,paid_through,monthly_premium,account_no\n"
        f"{ident},张三,DC01,active,2020-01-05,2026-11,703.53,6214830012345678\n",
    )
    ledger = write("ledger.csv", "account_no,posted_at,amount\n6214830012345678,2026-12-01,1.00\n")
    common = [
        "--month",
        "2026-12",
        "--enrollees",
        enrollees,
        "--ledger",
        ledger,
        "--out",
        tmp_path / "out",
    ]
    assert run("deduct", "--round", "1", *common).exit_code == 0
    result = run("deduct", "--round", "2", *common, "--json")
    assert result.exit_code == 0, result.stderr
    continuity = json.loads(result.stdout)["summary"]["continuity"]
    assert continuity["next_round_one"] is None
    assert continuity["by_category"]["NEW_BREAK"] == 1
