"""Continuity after round 2 (DESIGN §5), hand-worked from the seeds' words for each rule pack."""

from __future__ import annotations

from datetime import date

import polars as pl
import pytest

from mediins_cli.continuity import ContinuityRules, assess, first_day, resume_by_index
from mediins_cli.months import Month
from mediins_cli.rules import load_pack

BEIJING = ContinuityRules.of(load_pack("beijing-2007"))
JIANGSU = ContinuityRules.of(load_pack("jiangsu-huaian-2021"))
DALIAN = ContinuityRules.of(load_pack("dalian-2025"))
JILIN = ContinuityRules.of(load_pack("jilin-2022"))


def month_of(text: str) -> date:
    return date.fromisoformat(text + "-01")


def picture(
    rules,
    month: str,
    paid_through: str | None,
    *,
    paid_on: date | None = None,
    waiting_until: date | None = None,
    enrolled_on: date = date(2015, 6, 1),
    prior_coverage_end: date | None = None,
):
    """One enrollee due in ``month``: paid this month on ``paid_on``, or unpaid after round 2."""
    due = pl.DataFrame(
        {
            "enrollee_id": ["A"],
            "name": ["张三"],
            "agency": ["DC01"],
            "account_no": ["6214830000000001"],
            "enrolled_on": [enrolled_on],
            "paid_through": [month_of(paid_through) if paid_through else None],
            "waiting_until": [waiting_until],
            "prior_coverage_end": [prior_coverage_end],
        },
        schema_overrides={
            "paid_through": pl.Date,
            "waiting_until": pl.Date,
            "prior_coverage_end": pl.Date,
        },
    )
    paid = pl.DataFrame(
        {
            "enrollee_id": ["A"] if paid_on else [],
            "paid_on": [paid_on] if paid_on else [],
            "reference": ["MI-1"] if paid_on else [],
        },
        schema={"enrollee_id": pl.String, "paid_on": pl.Date, "reference": pl.String},
    )
    unpaid = pl.DataFrame(
        {
            "enrollee_id": [] if paid_on else ["A"],
            "amount_fen": [] if paid_on else [70353],
            "reason": [] if paid_on else ["INSUFFICIENT_FUNDS"],
        },
        schema={"enrollee_id": pl.String, "amount_fen": pl.Int64, "reason": pl.String},
    )
    return assess(due, Month.parse(month), paid, unpaid, rules)


def the_break(rules, month, paid_through, **kw) -> dict:
    result = picture(rules, month, paid_through, **kw)
    assert result.resumptions.height == 0
    return result.breaks.row(0, named=True)


def the_resumption(rules, month, paid_through, paid_on, **kw) -> dict:
    result = picture(rules, month, paid_through, paid_on=paid_on, **kw)
    assert result.breaks.height == 0
    return result.resumptions.row(0, named=True)


def resume_by(rules, since: str) -> str:
    index = int(since[:4]) * 12 + int(since[5:]) - 1
    got = pl.select(first_day(resume_by_index(pl.lit(index), rules)).dt.strftime("%Y-%m"))
    return got.item()


# --------------------------------------------------------------------------- Beijing: days


def test_beijing_feb_mar_2024_is_60_days_and_keeps_continuity():
    # 000 §七(二): 中断缴费60天之内续保，可按连续参保对待. Feb 2024 has 29 days: 29 + 31 = 60.
    assert resume_by(BEIJING, "2024-02") == "2024-04"  # pay again in April at the latest
    b = the_break(BEIJING, "2024-03", "2024-01")
    assert (b["category"], b["unpaid_since"], b["unpaid_months"], b["unpaid_days"]) == (
        "ONGOING",
        "2024-02",
        2,
        60,
    )
    assert b["resume_by_month"] == "2024-04"
    r = the_resumption(BEIJING, "2024-04", "2024-01", date(2024, 4, 12))
    assert (r["category"], r["gap_months"], r["gap_days"]) == ("RESUMED_CONTINUOUS", 2, 60)
    assert r["waiting_until"] is None


def test_beijing_mar_apr_2024_is_61_days_and_loses_continuity():
    # 31 + 30 = 61 > 60: 缴费中断超过60天的，续保后，按初次参保对待.
    assert resume_by(BEIJING, "2024-03") == "2024-04"
    b = the_break(BEIJING, "2024-03", "2024-02")
    assert (b["category"], b["resume_by_month"]) == ("NEW_BREAK", "2024-04")
    b = the_break(BEIJING, "2024-04", "2024-02")
    assert (b["category"], b["unpaid_days"], b["resume_by_month"]) == ("CONTINUITY_LOST", 61, None)
    b = the_break(BEIJING, "2024-05", "2024-02")
    assert (b["category"], b["unpaid_months"], b["unpaid_days"]) == ("LOST_BEFORE", 3, 92)
    r = the_resumption(BEIJING, "2024-05", "2024-02", date(2024, 5, 13))
    assert (r["category"], r["gap_days"]) == ("RESUMED_NEW_ENROLLMENT", 61)
    # a new 180-day waiting period from the day after the debit: 05-14 … 11-09
    assert (r["waiting_from"], r["waiting_until"]) == (date(2024, 5, 14), date(2024, 11, 9))


def test_beijing_feb_mar_2023_is_59_days():
    assert resume_by(BEIJING, "2023-02") == "2023-04"
    b = the_break(BEIJING, "2023-03", "2023-01")
    assert (b["unpaid_days"], b["category"]) == (59, "ONGOING")


def test_beijing_a_gap_over_the_new_year_counts_december_and_january():
    # 31 + 31 = 62 > 60: a December gap must end by paying in January.
    assert resume_by(BEIJING, "2023-12") == "2024-01"
    r = the_resumption(BEIJING, "2024-02", "2023-11", date(2024, 2, 18))
    assert (r["category"], r["gap_days"]) == ("RESUMED_NEW_ENROLLMENT", 62)
    assert (r["waiting_from"], r["waiting_until"]) == (date(2024, 2, 19), date(2024, 8, 16))


def test_beijing_gives_no_back_payment_and_no_suspension_month():
    b = the_break(BEIJING, "2024-02", "2024-01")
    assert (b["backpay_until"], b["backpay_channel"]) == (None, "none")  # 000 §七(三)
    assert b["benefits_suspended_from"] is None  # 000 does not say


def test_beijing_a_gap_inside_the_waiting_period_resets_it():
    # 000 §七(一): 在医疗等待期内…缴费中断1个月及以上的，续保后，按初次参保对待，医疗等待期重新设定.
    b = the_break(BEIJING, "2024-02", "2024-01", waiting_until=date(2024, 4, 28))
    assert b["category"] == "WAITING_RESET"
    r = the_resumption(
        BEIJING, "2024-03", "2024-01", date(2024, 3, 12), waiting_until=date(2024, 4, 28)
    )
    assert r["category"] == "RESUMED_WAITING_RESET"
    assert (r["waiting_from"], r["waiting_until"]) == (date(2024, 3, 13), date(2024, 9, 8))


def test_beijing_a_waiting_period_over_before_the_gap_is_not_reset():
    b = the_break(BEIJING, "2024-02", "2024-01", waiting_until=date(2024, 1, 31))
    assert b["category"] == "NEW_BREAK"
    r = the_resumption(
        BEIJING, "2024-03", "2024-01", date(2024, 3, 12), waiting_until=date(2024, 1, 31)
    )
    assert r["category"] == "RESUMED_CONTINUOUS"


def test_paying_with_no_gap_is_not_a_resumption():
    result = picture(BEIJING, "2024-02", "2024-01", paid_on=date(2024, 2, 18))
    assert result.breaks.height == result.resumptions.height == 0
    assert result.updates.select("paid_through", "event").row(0) == ("2024-02", "PAID")


def test_a_new_enrollee_first_due_this_month_who_pays_has_no_gap():
    # enrolled 2024-01-15: coverage from 2024-02 (000 §五), first payment in February.
    result = picture(
        BEIJING, "2024-02", None, paid_on=date(2024, 2, 18), enrolled_on=date(2024, 1, 15)
    )
    assert result.resumptions.height == 0
    assert result.updates["paid_through"].to_list() == ["2024-02"]


def test_a_new_enrollee_who_never_paid_has_a_gap_from_coverage_start():
    b = the_break(BEIJING, "2024-03", None, enrolled_on=date(2024, 1, 15))
    assert (b["unpaid_since"], b["unpaid_months"], b["unpaid_days"]) == ("2024-02", 2, 60)


# --------------------------------------------------------------------------- Jiangsu: months


@pytest.mark.parametrize(
    ("month", "category", "resume_by_month"),
    [
        ("2024-02", "NEW_BREAK", "2024-05"),
        ("2024-03", "ONGOING", "2024-05"),
        ("2024-04", "ONGOING", "2024-05"),  # 3 unpaid months: 不超过3个月, still kept
        ("2024-05", "CONTINUITY_LOST", None),  # the 4th: 超过3个月
        ("2024-06", "LOST_BEFORE", None),
    ],
)
def test_jiangsu_keeps_three_unpaid_months_and_loses_the_fourth(month, category, resume_by_month):
    b = the_break(JIANGSU, month, "2024-01")
    assert (b["category"], b["resume_by_month"]) == (category, resume_by_month)
    # 苏医保发〔2021〕61号 二: 自第二个自然月起暂时停止享受职工医保待遇
    assert b["benefits_suspended_from"] == "2024-03"


def test_jiangsu_back_payment_inside_the_window_through_the_tax_channels():
    b = the_break(JIANGSU, "2024-03", "2024-01")
    assert b["backpay_until"] == "2024-05-31"
    assert "税务机关" in b["backpay_channel"]
    lost = the_break(JIANGSU, "2024-05", "2024-01")
    assert (lost["backpay_until"], lost["backpay_channel"]) == (None, "none: past the window")


def test_jiangsu_resuming_after_four_months_starts_a_three_month_waiting_period():
    r = the_resumption(JIANGSU, "2024-05", "2024-01", date(2024, 5, 13))
    assert r["category"] == "RESUMED_CONTINUOUS"  # Feb–Apr: 3 months
    assert r["backpay_until"] == "2024-05-31"
    r = the_resumption(JIANGSU, "2024-06", "2024-01", date(2024, 6, 12))
    assert r["category"] == "RESUMED_NEW_ENROLLMENT"
    # 3 months from the day after 06-12: 06-13 … 09-12
    assert (r["waiting_from"], r["waiting_until"]) == (date(2024, 6, 13), date(2024, 9, 12))


def test_a_month_end_waiting_period_ends_on_the_last_day_of_a_short_month():
    # Civil Code 第二百零三条: no corresponding day (11-30 → February) → the month's last day.
    r = the_resumption(JIANGSU, "2024-11", "2024-05", date(2024, 11, 30))
    assert r["category"] == "RESUMED_NEW_ENROLLMENT"
    assert r["waiting_until"] == date(2025, 2, 28)


# --------------------------------------------------------------------------- Dalian, Jilin


def test_dalian_back_pays_within_three_months_never_through_the_bank():
    # 004: 中断时间不超过三个月的…申请补缴…只能通过…微信小程序或线下的税务窗口缴纳.
    b = the_break(DALIAN, "2024-02", "2024-01")
    assert (b["backpay_until"], b["resume_by_month"]) == ("2024-05-31", "2024-05")
    assert "微信小程序" in b["backpay_channel"] and "银行" not in b["backpay_channel"]
    assert b["benefits_suspended_from"] == "2024-03"  # 中断的次月
    lost = the_break(DALIAN, "2024-05", "2024-01")
    assert lost["backpay_channel"] == "none: past the window"  # 超过三个月，就不能进行补缴了


def test_jilin_counts_the_new_waiting_period_in_days_from_the_day_after():
    # 001 第十九条: 首次参保或中断缴费3个月以上的…等待期以天为单位，从缴费成功次日起计算.
    r = the_resumption(JILIN, "2024-06", "2024-01", date(2024, 6, 12))
    assert r["category"] == "RESUMED_NEW_ENROLLMENT"  # Feb–May: 4 months, over 3
    assert (r["waiting_from"], r["waiting_until"]) == (date(2024, 6, 13), date(2024, 9, 10))
    r = the_resumption(JILIN, "2024-05", "2024-01", date(2024, 5, 13))
    assert r["category"] == "RESUMED_CONTINUOUS"  # 3 months (含)


# --------------------------------------------------------------------------- updates


def test_updates_carry_the_new_paid_through_and_waiting_until():
    lost = picture(BEIJING, "2024-05", "2024-02", paid_on=date(2024, 5, 13))
    assert lost.updates.row(0, named=True) == {
        "enrollee_id": "A",
        "paid_through": "2024-05",
        "waiting_until": date(2024, 11, 9),
        "paid_through_before": "2024-02",
        "waiting_until_before": None,
        "event": "RESUMED_NEW_ENROLLMENT",
    }
    unpaid = picture(BEIJING, "2024-02", "2024-01", waiting_until=date(2024, 4, 28))
    assert unpaid.updates.row(0, named=True) == {
        "enrollee_id": "A",
        "paid_through": "2024-01",  # unchanged: nothing paid
        "waiting_until": date(2024, 4, 28),  # reset only when payment resumes (续保后)
        "paid_through_before": "2024-01",
        "waiting_until_before": date(2024, 4, 28),
        "event": "WAITING_RESET",
    }


# --------------------------------------------------------------------------- re-enrollment


def test_a_re_enrollment_restarts_the_count_at_the_month_after_it():
    """Issue 11, item 3, from seed 000 §五 (新参保与续保的参保起始日期为办理参（续）保手续的次月):
    re-enrolled on 2024-01-15 with paid_through 2023-05, unpaid in 2024-02. Coverage restarted
    in 2024-02, so the gap is February alone: 1 month, 29 days (leap year), a new break whose
    60-day window runs to April (Feb–Mar 2024 is 60 days) — not 9 months since 2023-06."""
    b = the_break(BEIJING, "2024-02", "2023-05", enrolled_on=date(2024, 1, 15))
    assert (b["unpaid_since"], b["unpaid_months"], b["unpaid_days"]) == ("2024-02", 1, 29)
    assert b["category"] == "NEW_BREAK" and b["resume_by_month"] == "2024-04"


def test_a_re_enrollment_paid_in_its_first_month_is_no_resumption():
    """The same person paying in February: no gap behind the new coverage, nothing resumed."""
    result = picture(
        BEIJING, "2024-02", "2023-05", paid_on=date(2024, 2, 18), enrolled_on=date(2024, 1, 15)
    )
    assert result.breaks.height == 0 and result.resumptions.height == 0
    assert result.updates.row(0, named=True)["paid_through"] == "2024-02"


def test_an_enrollment_long_before_leaves_the_gap_since_paid_through():
    """Enrolled in 2015 and paid through 2023-12: unpaid since 2024-01, two months in 2024-02
    (31 + 29 = 60 days, Beijing: still inside the window, due by March)."""
    b = the_break(BEIJING, "2024-02", "2023-12")
    assert (b["unpaid_since"], b["unpaid_months"], b["unpaid_days"]) == ("2024-01", 2, 60)
    assert b["category"] == "ONGOING" and b["resume_by_month"] == "2024-03"


@pytest.mark.parametrize("rules", [JIANGSU, DALIAN, JILIN])
def test_a_re_enrollment_restarts_the_count_in_month_packs_too(rules):
    """Jiangsu, Dalian, Jilin count in months (3): a gap from 2024-02 may run to 2024-05."""
    b = the_break(rules, "2024-02", "2023-05", enrolled_on=date(2024, 1, 15))
    assert (b["unpaid_since"], b["unpaid_months"]) == ("2024-02", 1)
    assert b["category"] == "NEW_BREAK" and b["resume_by_month"] == "2024-05"


# --------------------------------------------------------------------------- first payments


def first_update(rules, month: str, paid_on: date, **kw) -> dict:
    result = picture(rules, month, None, paid_on=paid_on, **kw)
    assert result.breaks.height == 0 and result.resumptions.height == 0
    return result.updates.row(0, named=True)


@pytest.mark.parametrize(
    ("rules", "until"),
    [
        # Beijing 180 days, the day after the debit counted first: 02-19 … 08-16
        (BEIJING, date(2024, 8, 16)),
        # Jiangsu 3 months (002 二: 首次…设置3个月的待遇享受等待期): 02-19 … 05-18
        (JIANGSU, date(2024, 5, 18)),
        # Jilin 90 days (local length; 001 第十九条 days from 缴费成功次日): 02-19 … 05-18
        (JILIN, date(2024, 5, 18)),
    ],
)
def test_a_first_payment_starts_the_waiting_period_the_next_day(rules, until):
    """Issue 11, item 1: enrolled in January 2024 (coverage from February), never paid, no
    waiting period yet; debited on Sunday 2024-02-18."""
    u = first_update(rules, "2024-02", date(2024, 2, 18), enrolled_on=date(2024, 1, 10))
    assert u["event"] == "FIRST_PAYMENT"
    assert (u["paid_through"], u["waiting_until"]) == ("2024-02", until)
    assert (u["paid_through_before"], u["waiting_until_before"]) == (None, None)


def test_a_first_payment_after_unpaid_months_is_no_resumption():
    """Enrolled in October 2023, never paid until February 2024: no earlier payment to resume,
    so a first payment with its waiting period, not RESUMED_*."""
    u = first_update(BEIJING, "2024-02", date(2024, 2, 18), enrolled_on=date(2023, 10, 9))
    assert u["event"] == "FIRST_PAYMENT" and u["waiting_until"] == date(2024, 8, 16)


def test_a_new_enrollee_whose_waiting_period_is_set_already_keeps_it():
    """The master system set the waiting period at enrollment: paying is simply PAID."""
    result = picture(
        BEIJING,
        "2024-02",
        None,
        paid_on=date(2024, 2, 18),
        enrolled_on=date(2024, 1, 10),
        waiting_until=date(2024, 7, 31),
    )
    u = result.updates.row(0, named=True)
    assert (u["event"], u["waiting_until"]) == ("PAID", date(2024, 7, 31))


def test_a_first_time_payer_who_does_not_pay_is_a_break_without_a_waiting_period():
    b = the_break(BEIJING, "2024-02", None, enrolled_on=date(2024, 1, 10))
    assert (b["category"], b["unpaid_since"], b["waiting_until"]) == ("NEW_BREAK", "2024-02", None)


def test_first_payments_are_counted_in_the_summary_and_shown_on_the_terminal():
    import io

    from rich.console import Console

    from mediins_cli.continuity import summarize_continuity
    from mediins_cli.report import render_continuity

    result = picture(
        BEIJING, "2024-02", None, paid_on=date(2024, 2, 18), enrolled_on=date(2024, 1, 10)
    )
    summary = summarize_continuity(result, date(2024, 3, 12))
    assert summary["first_payments"] == 1 and summary["breaks"] == 0
    buffer = io.StringIO()
    render_continuity(Console(file=buffer, width=120), summary)
    assert "FIRST_PAYMENT" in buffer.getvalue()


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_gaps_of_four_months_or_more_are_shown_as_such_on_the_terminal(lang):
    """``summary.json`` counts gaps of 4 months or more under "4+" (a long tail in one line):
    the terminal says so, in either language, instead of failing after the files are written
    (a 1 M month did: int("4+"))."""
    import io

    from rich.console import Console

    from mediins_cli import i18n
    from mediins_cli.continuity import summarize_continuity
    from mediins_cli.report import render_continuity

    result = picture(BEIJING, "2024-02", "2023-09")  # unpaid since 2023-10: 5 months
    summary = summarize_continuity(result, date(2024, 3, 12))
    assert summary["unpaid_months"] == {"4+": 1}
    buffer = io.StringIO()
    i18n.set_lang(lang)
    try:
        render_continuity(Console(file=buffer, width=120), summary)
    finally:
        i18n.set_lang("en")
    assert ("4+ months: 1" if lang == "en" else "4+ 个月：1 人") in buffer.getvalue()


# --------------------------------------------------------------------------- transfers


@pytest.mark.parametrize(
    ("rules", "ended", "event", "until"),
    [
        # 000 §六: 停止领取失业金之日起60天内办理参（续）保手续…按照连续缴费处理.
        # Enrolled 2024-01-20, benefit stopped 2024-01-05 (15 days) or 2023-11-21 (60 days:
        # 9 + 31 + 20) → continuous
        (BEIJING, date(2024, 1, 5), "CONTINUOUS_TRANSFER", None),
        (BEIJING, date(2023, 11, 21), "CONTINUOUS_TRANSFER", None),
        # 2023-11-20: 61 days, 超过60天的，则按初次参保对待 → a waiting period of 180 days
        (BEIJING, date(2023, 11, 20), "FIRST_PAYMENT", date(2024, 8, 16)),
        # 002 二: 中断缴费后3个月内…视作连续参保，不设待遇享受等待期. Ended 2023-10-31: three months
        # run to 2024-01-31, enrolled 01-20 inside; ended 2023-10-15: to 2024-01-15, outside
        (JIANGSU, date(2023, 10, 31), "CONTINUOUS_TRANSFER", None),
        (JIANGSU, date(2023, 10, 15), "FIRST_PAYMENT", date(2024, 5, 18)),
        # Dalian's and Jilin's sources give no window: the date is ignored
        (DALIAN, date(2024, 1, 5), "FIRST_PAYMENT", date(2024, 5, 18)),
        (JILIN, date(2024, 1, 5), "FIRST_PAYMENT", date(2024, 5, 18)),
    ],
)
def test_enrolling_within_the_window_after_earlier_coverage_needs_no_waiting_period(
    rules, ended, event, until
):
    """Issue 11, item 2: a first payment on 2024-02-18 of someone enrolled on 2024-01-20."""
    u = first_update(
        rules,
        "2024-02",
        date(2024, 2, 18),
        enrolled_on=date(2024, 1, 20),
        prior_coverage_end=ended,
    )
    assert (u["event"], u["waiting_until"]) == (event, until)


def test_a_pack_without_a_transfer_window_warns_that_the_dates_are_ignored(run, tmp_path):
    """Jilin's sources give no window: the run goes on, saying so once (never per row)."""
    import csv

    from conftest import SAMPLE

    with (SAMPLE / "enrollees.csv").open(encoding="utf-8", newline="") as fh:
        rows = list(csv.reader(fh))
    rows[0].append("prior_coverage_end")
    for i, row in enumerate(rows[1:]):
        row.append("2024-01-05" if i == 0 else "")
    enrollees = tmp_path / "enrollees.csv"
    with enrollees.open("w", encoding="utf-8", newline="") as fh:
        csv.writer(fh, lineterminator="\n").writerows(rows)
    base = ["deduct", "--round", "1", "--month", "2024-02", "--enrollees", str(enrollees)]
    base += ["--ledger", str(SAMPLE / "ledger.csv")]
    jilin = run(*base, "--rules", "jilin-2022", "--out", str(tmp_path / "jilin"))
    assert jilin.exit_code == 0, jilin.stderr
    assert (
        jilin.stderr.count("TRANSFER_IGNORED")
        + jilin.stderr.count("gives no window for enrolling after earlier coverage")
        >= 1
    )
    assert "rule pack jilin-2022 gives no window" in jilin.stderr
    beijing = run(*base, "--out", str(tmp_path / "beijing"))
    assert beijing.exit_code == 0 and "gives no window" not in beijing.stderr


def _month_of_many(n: int = 3000):
    """``n`` enrollees due in March 2024: some paid this month, some unpaid, gaps of every
    length before."""
    ids = [f"ID{i:06d}" for i in range(n)]
    through = [None if i % 7 == 0 else date(2023 + (i % 3 == 0), 1 + i % 12, 1) for i in range(n)]
    due = pl.DataFrame(
        {
            "enrollee_id": ids,
            "name": ["张三"] * n,
            "agency": [f"AG{i % 5}" for i in range(n)],
            "account_no": [f"62148300{i:08d}" for i in range(n)],
            "enrolled_on": [date(2015, 6, 1)] * n,
            "paid_through": through,
            "waiting_until": [date(2024, 5, 1) if i % 11 == 0 else None for i in range(n)],
            "prior_coverage_end": [None] * n,
        },
        schema_overrides={"prior_coverage_end": pl.Date},
    ).sample(fraction=1.0, shuffle=True, seed=7)  # the file's order is not the IDs'
    paid_ids = sorted(i for k, i in enumerate(ids) if k % 4)
    paid = pl.DataFrame(
        {
            "enrollee_id": paid_ids,
            "paid_on": [date(2024, 3, 12)] * len(paid_ids),
            "reference": [f"MI-{k}" for k in range(len(paid_ids))],
        }
    )
    unpaid = pl.DataFrame(
        {
            "enrollee_id": ids[::4],
            "amount_fen": [70353] * len(ids[::4]),
            "reason": ["INSUFFICIENT_FUNDS"] * len(ids[::4]),
        }
    )
    return due, paid, unpaid


def test_payments_joined_by_a_hash_that_collides_are_joined_by_the_id_instead(monkeypatch):
    """assess joins the month's payments by a hash of the ID, confirmed row by row; where two
    IDs share a hash it joins by the IDs themselves, with the same result."""
    import mediins_cli.continuity as continuity

    due, paid, unpaid = _month_of_many()
    month = Month.parse("2024-03")
    plain = assess(due, month, paid, unpaid, BEIJING)
    verdicts: list[bool] = []
    matched_alike = continuity._matched_alike

    def spied(frame, payments):
        verdicts.append(matched_alike(frame, payments))
        return verdicts[-1]

    monkeypatch.setattr(continuity, "_matched_alike", spied)
    monkeypatch.setattr(  # every ID of one length shares a "hash"
        continuity, "_id_hash", lambda: pl.col("enrollee_id").str.len_bytes().cast(pl.UInt64)
    )
    collided = assess(due, month, paid, unpaid, BEIJING)
    assert verdicts == [False]
    for part in ("breaks", "resumptions", "updates"):
        assert getattr(collided, part).equals(getattr(plain, part)), part
    assert plain.breaks.height == len(unpaid) and plain.resumptions.height > 0
    assert plain.updates.height == due.height


def test_a_payment_matched_to_another_id_is_told():
    import mediins_cli.continuity as continuity

    paid = pl.DataFrame({"enrollee_id": ["A", "B"]})
    frame = pl.DataFrame(
        {"enrollee_id": ["A", "B", "C"], "__paid_row": [0, 1, None]},
        schema_overrides={"__paid_row": pl.UInt32},
    )
    assert continuity._matched_alike(frame, paid)
    assert not continuity._matched_alike(
        frame.with_columns(pl.Series("__paid_row", [0, 0, None], dtype=pl.UInt32)), paid
    )
