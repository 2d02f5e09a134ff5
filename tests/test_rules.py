"""Rule packs (DESIGN §6): the shipped packs say what their seeds say, every value cites its
source, and a broken pack is refused with every problem named by file and key."""

from __future__ import annotations

import json
import re
from datetime import date
from pathlib import Path

import pytest

from conftest import SAMPLE
from mediins_cli.errors import BadInput
from mediins_cli.months import Month
from mediins_cli.rules import check_in_force, load_all_packs, load_pack, parse_pack

SEEDS = Path(__file__).resolve().parents[2] / "shared" / "seeds"
CJK = r"[\u4e00-\u9fff0-9]"
PACK_IDS = ["beijing-2007", "dalian-2025", "jiangsu-huaian-2021", "jilin-2022"]


def test_the_four_packs_ship_and_load():
    assert [p.id for p in load_all_packs()] == PACK_IDS


def test_beijing_dates_come_from_seed_000_section_one():
    p = load_pack("beijing-2007")
    s = p.schedule
    assert (s.round_1_day.value, s.round_2_day.value, s.round_2_day_february.value) == (12, 25, 22)
    assert s.deposit_by_days_before.value == 1  # 11th / 24th / 21st
    assert s.roll.value == "next_working_day" and s.calendar.value == "official"
    assert all(v.source == "000 §一" for v in (s.round_1_day, s.round_2_day, s.roll))
    assert p.coverage.starts.value == "month_after_enrollment"
    assert p.coverage.starts.source.startswith("000 §五")


def test_beijing_continuity_and_waiting_period_from_seed_000():
    p = load_pack("beijing-2007")
    assert (p.continuity.window_unit.value, p.continuity.window_length.value) == ("days", 60)
    assert p.continuity.window_length.source == "000 §七(二)"
    assert (p.waiting_period.unit.value, p.waiting_period.length.value) == ("days", 180)
    assert p.waiting_period.reset_gap_months.value == 1  # 000 §七(一): 中断1个月及以上
    assert p.backpay.allowed.value == "never"  # 000 §七(三)
    assert p.backpay.via_bank_withholding.value is False
    assert p.suspension.benefits_suspended_from.value is None  # not stated in 000


def test_jiangsu_counts_in_months_and_stops_benefits_from_the_next_month():
    p = load_pack("jiangsu-huaian-2021")
    assert (p.continuity.window_unit.value, p.continuity.window_length.value) == ("months", 3)
    assert (p.waiting_period.unit.value, p.waiting_period.length.value) == ("months", 3)
    assert p.suspension.benefits_suspended_from.value == "month_after_unpaid"
    assert (p.backpay.allowed.value, p.backpay.within_months.value) == ("within_window", 3)
    assert (p.retirement.age_male.value, p.retirement.age_female.value) == (60, 55)
    assert p.premium.rate_percent.value == "9"
    assert p.waiting_period.reset_gap_months.value is None


def test_dalian_back_pays_within_three_months_never_through_the_bank():
    p = load_pack("dalian-2025")
    assert (p.backpay.allowed.value, p.backpay.within_months.value) == ("within_window", 3)
    assert p.backpay.via_bank_withholding.value is False
    assert not p.backpay.via_bank_withholding.is_local  # 004 says so itself
    assert "微信小程序" in p.backpay.channel.value and "税务窗口" in p.backpay.channel.value
    assert p.suspension.benefits_suspended_from.value == "month_after_unpaid"
    assert p.premium.rate_percent.value == "6"
    assert (p.retirement.age_male.value, p.retirement.age_female.value) == (60, 55)
    # 004 names no waiting period: the 3 months are a labelled local setting.
    assert p.waiting_period.length.value == 3 and p.waiting_period.length.is_local


def test_jilin_counts_the_waiting_period_in_days_from_the_day_after_payment():
    p = load_pack("jilin-2022")
    assert p.waiting_period.unit.value == "days"
    assert p.waiting_period.unit.source == "001 第十九条"
    assert p.waiting_period.starts.value == "day_after_payment"
    assert p.waiting_period.starts.source == "001 第十九条"
    assert p.waiting_period.length.is_local  # 001 gives no length
    assert (p.continuity.window_unit.value, p.continuity.window_length.value) == ("months", 3)


@pytest.mark.parametrize("pack_id", ["dalian-2025", "jiangsu-huaian-2021", "jilin-2022"])
def test_packs_without_published_dates_carry_the_beijing_pattern_as_local(pack_id):
    beijing = load_pack("beijing-2007").schedule
    s = load_pack(pack_id).schedule
    for key in ("round_1_day", "round_2_day", "round_2_day_february", "deposit_by_days_before"):
        assert getattr(s, key).value == getattr(beijing, key).value
        assert getattr(s, key).is_local
        assert "Beijing" in getattr(s, key).note


@pytest.mark.parametrize("pack_id", PACK_IDS)
def test_every_value_cites_a_declared_source_or_says_why_it_is_local(pack_id):
    pack = load_pack(pack_id)
    for key, value, _ in pack.items():
        if value.is_local:
            assert value.note.strip(), key
        else:
            assert value.source.split(" ", 1)[0] in pack.sources, key


@pytest.mark.skipif(not SEEDS.is_dir(), reason="shared/seeds is not beside the checkout")
@pytest.mark.parametrize("pack_id", PACK_IDS)
def test_quoted_regulation_text_in_notes_is_really_in_the_seed(pack_id):
    """Chinese passages quoted in a note (runs of 6+ CJK characters and digits, punctuation
    aside) appear in the cited seed."""
    pack = load_pack(pack_id)
    for key, value, _ in pack.items():
        if value.is_local:
            continue
        source = pack.sources[value.source.split(" ", 1)[0]]
        seed = "".join(re.findall(CJK, (SEEDS / source.file).read_text(encoding="utf-8")))
        for passage in re.findall(CJK + "{6,}", value.note):
            assert passage in seed, f"{pack_id} {key}: {passage!r} not in {source.file}"


BROKEN = """\
[pack]
id = "not-the-file-name"
title = "broken"
region = "nowhere"

[sources."000"]
file = "000_6e33e0b8de0aca86.txt"
title = "京社保发[2007]19号"

[schedule]
round_1_day = { value = 35, source = "000 §一" }
round_2_day = { value = 25, source = "999 §一" }
round_2_day_february = { value = 22, source = "local" }
roll = { value = "previous_working_day", source = "000 §一" }
calendar = { value = "official", source = "000" }
deposit_by_days_before = 1

[coverage]
starts = { value = "month_after_enrollment", source = "000 §五", colour = "red" }

[continuity]
window_unit = { value = "weeks", source = "000 §七" }

[waiting_period]
unit = { value = "days", source = "000 §六" }
length = { value = 180, source = "000 §六" }
starts = { value = "day_after_payment", source = "local", note = "DESIGN §5" }
reset_gap_months = { value = "not_stated", source = "000 §七" }
surprise = { value = 1, source = "000 §七" }

[suspension]
benefits_suspended_from = { value = "not_stated", source = "000 §七" }

[retirement]
age_male = { value = "sixty", source = "000 全文" }
age_female = { value = "not_stated", source = "000 全文" }

[premium]
rate_percent = { value = "not_stated", source = "000 §四" }

[extras]
x = 1
"""


def test_a_broken_pack_is_refused_with_every_problem_by_file_and_key(tmp_path):
    path = tmp_path / "broken.toml"
    path.write_text(BROKEN, encoding="utf-8")
    pack, problems = parse_pack(path)
    assert pack is None
    found = {(p.column, p.message) for p in problems}
    keys = {column for column, _ in found}
    expected_keys = {
        "extras",  # unknown section
        "pack.id",  # must match the file name
        "pack.summary",  # missing
        "schedule.round_1_day.value",  # out of range
        "schedule.round_2_day.source",  # undeclared source
        "schedule.round_2_day_february.note",  # local without a reason
        "schedule.roll.value",  # not a choice
        "schedule.calendar.source",  # no section
        "schedule.deposit_by_days_before",  # not a cited table
        "coverage.starts",  # unknown field
        "continuity.window_unit.value",
        "continuity.window_length",  # missing
        "waiting_period.surprise",  # unknown key
        "backpay",  # missing section
        "retirement.age_male.value",
    }
    assert expected_keys <= keys, expected_keys - keys
    assert all(p.file.endswith("broken.toml") for p in problems)
    assert ("schedule.round_1_day.value", "expected an integer 1–28, got 35") in found
    assert any("'999' is not declared under [sources]" in m for _, m in found)


def test_a_pack_that_would_collect_arrears_by_withholding_is_refused(tmp_path):
    text = Path(load_pack("dalian-2025").path).read_text(encoding="utf-8")
    text = text.replace(
        'via_bank_withholding = { value = false, source = "004',
        'via_bank_withholding = { value = true, source = "004',
    )
    path = tmp_path / "dalian-2025.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(BadInput, match="never collected by bank withholding"):
        load_pack(str(path))


def test_an_unknown_pack_id_names_the_known_ones():
    with pytest.raises(BadInput) as info:
        load_pack("atlantis-2099")
    assert "beijing-2007" in str(info.value) and "jilin-2022" in str(info.value)


# --------------------------------------------------------------------------- sources in force


@pytest.mark.parametrize(
    ("pack_id", "day", "local"),
    [
        # 000 §八: 自2007年4月1日起，全市统一使用新改版的《协议书》 (the notice names no other day)
        ("beijing-2007", date(2007, 4, 1), False),
        # 002 (61号): 本通知自2022年1月1日起执行
        ("jiangsu-huaian-2021", date(2022, 1, 1), False),
        # 001 is dated 2022年5月26日 and names no day of its own
        ("jilin-2022", date(2022, 5, 26), True),
        # 004 was published on 2025-04-29 and names no day
        ("dalian-2025", date(2025, 4, 29), True),
    ],
)
def test_every_pack_says_from_when_its_sources_are_in_force(pack_id, day, local):
    since = load_pack(pack_id).validity.in_force_from
    assert since.value == day and since.is_local == local
    assert since.note.strip()


@pytest.mark.parametrize(
    ("pack_id", "refused", "allowed"),
    [
        ("jiangsu-huaian-2021", Month(2021, 12), Month(2022, 1)),
        ("beijing-2007", Month(2007, 3), Month(2007, 4)),
        # in force from the 26th: the month of issue is the first month run by it
        ("jilin-2022", Month(2022, 4), Month(2022, 5)),
        ("dalian-2025", Month(2025, 3), Month(2025, 4)),
    ],
)
def test_a_month_before_the_sources_are_in_force_is_refused(pack_id, refused, allowed):
    pack = load_pack(pack_id)
    check_in_force(pack, allowed)
    with pytest.raises(BadInput) as info:
        check_in_force(pack, refused)
    said = str(info.value)
    assert f"{refused} is before rule pack {pack_id} is in force" in said
    assert pack.validity.in_force_from.value.isoformat() in said


def test_deduct_instruct_and_calendar_refuse_a_month_before_the_pack(run, tmp_path):
    jiangsu = ("--rules", "jiangsu-huaian-2021", "--month", "2021-12")
    files = ("--enrollees", str(SAMPLE / "enrollees.csv"))
    out = ("--out", str(tmp_path / "out"))
    for args in (
        ("calendar", *jiangsu),
        ("deduct", "--round", "1", *jiangsu, *files, "--ledger", str(SAMPLE / "ledger.csv"), *out),
        ("instruct", "--round", "1", *jiangsu, *files, *out),
    ):
        result = run(*args)
        assert result.exit_code == 2, (args, result.stderr)
        assert "2021-12 is before rule pack jiangsu-huaian-2021 is in force (2022-01-01" in (
            result.stderr
        )
    assert not (tmp_path / "out").exists()
    # a year partly in force shows the months from the first in force
    shown = run("calendar", "--year", "2025", "--rules", "dalian-2025", "--json")
    assert shown.exit_code == 0
    assert {r["month"] for r in json.loads(shown.stdout)["rounds"]} == {
        f"2025-{m:02d}" for m in range(4, 13)
    }


def test_cron_runs_nothing_before_the_pack_is_in_force_and_names_its_first_round():
    from mediins_cli.runs import plan_day

    # Dalian's pack is in force from 2025-04-29: March's round 1 (Wed 03-12) is not run by it
    before = plan_day("dalian-2025", None, date(2025, 3, 12))
    assert before.due == ()
    assert before.next is not None
    assert (before.next.month, before.next.round) == (Month(2025, 4), 1)
    assert before.next.effective == date(2025, 4, 14)  # Sat 04-12 rolls to Mon 04-14
    first = plan_day("dalian-2025", None, date(2025, 4, 14))
    assert [(r.month, r.round) for r in first.due] == [(Month(2025, 4), 1)]


# --------------------------------------------------------------------------- citations corrected


def test_jilin_coverage_start_is_a_local_setting_not_article_fifteen():
    """001 第十五条 is about approving next month's amount (按月申请核定次月缴费金额), not when
    coverage starts: the value stays, labelled local with the reason (issue 11)."""
    starts = load_pack("jilin-2022").coverage.starts
    assert starts.value == "month_after_enrollment"
    assert starts.is_local and "第十五条" in starts.note and "confirm" in starts.note


def test_dalian_waiting_period_unit_does_not_pass_jiangsu_off_as_liaoning():
    """004 names no waiting period; 002 is Jiangsu's notice (issue 11)."""
    unit = load_pack("dalian-2025").waiting_period.unit
    assert unit.is_local and "Jiangsu" in unit.note and "not Liaoning's" in unit.note


def test_transfer_windows_are_those_the_seeds_give():
    beijing, jiangsu = load_pack("beijing-2007").transfer, load_pack("jiangsu-huaian-2021").transfer
    assert (beijing.window_unit.value, beijing.window_length.value) == ("days", 60)
    assert beijing.window_unit.source == "000 §六"
    assert (jiangsu.window_unit.value, jiangsu.window_length.value) == ("months", 3)
    for pack_id in ("dalian-2025", "jilin-2022"):
        t = load_pack(pack_id).transfer
        assert t.window_unit.value is None and t.window_length.value is None
        assert t.window_unit.is_local and "ignored" in t.window_unit.note


def test_a_transfer_unit_without_a_length_is_refused(tmp_path):
    text = Path(load_pack("beijing-2007").path).read_text(encoding="utf-8")
    old = 'window_length = { value = 60, source = "000 §六"'
    assert old in text
    path = tmp_path / "beijing-2007.toml"
    path.write_text(text.replace(old, 'window_length = { value = "not_stated", source = "000 §六"'))
    pack, problems = parse_pack(path)
    assert pack is None
    assert [(p.column, p.message) for p in problems] == [
        ("transfer.window_length", "expected a length exactly when the unit is stated")
    ]


def test_jiangsu_says_its_monthly_rounds_are_the_monthly_option_and_its_channels_agree():
    """61号 五 lets each city choose 按月 or 按年一次性; 80号 五 has Huai'an pay next year's premium
    一次性: the pack says its rounds are the monthly option. And its two notes on back-payment
    channels no longer contradict each other (issue 11)."""
    p = load_pack("jiangsu-huaian-2021")
    note = p.schedule.round_1_day.note
    assert "按月" in note and "61号 五" in note and "80号 五" in note
    assert "names no back-payment channel" not in p.backpay.via_bank_withholding.note
    assert "backpay.channel" in p.backpay.via_bank_withholding.note


@pytest.mark.skipif(not SEEDS.is_dir(), reason="shared/seeds is not beside the checkout")
def test_chinese_quoted_in_local_notes_is_in_the_seeds_too():
    """A local setting's note may quote a seed to say why it is local: what it quotes is there."""
    seeds = "".join(
        "".join(re.findall(CJK, path.read_text(encoding="utf-8")))
        for path in sorted(SEEDS.glob("*.txt"))
    )
    for pack in load_all_packs():
        for key, value, _ in pack.items():
            if value.is_local:
                for passage in re.findall(CJK + "{6,}", value.note):
                    assert passage in seeds, f"{pack.id} {key}: {passage!r}"


def test_jilin_states_the_conflict_of_its_employer_articles_and_its_choice():
    """001 第十九条 (中断缴费3个月以上: 3 included) and 第二十四条 (3个月内(含)) disagree on a
    gap of exactly 3 months; both are written for employers. The pack says so, chooses 3
    months kept, and labels the window and the back-payment local (issue 11)."""
    p = load_pack("jilin-2022")
    window = p.continuity.window_length
    assert window.value == 3 and window.is_local
    assert "第十九条" in window.note and "第二十四条" in window.note and "Chosen" in window.note
    assert p.backpay.allowed.is_local and p.backpay.within_months.is_local
    assert p.backpay.within_months.value == 3


def test_dalians_window_is_marked_as_derived_from_its_back_payment_limit():
    p = load_pack("dalian-2025")
    assert p.continuity.window_unit.note.startswith("derived")
    assert p.continuity.window_length.note.startswith("derived")
