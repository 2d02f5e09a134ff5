"""Every citation says what the pack claims (issue 11): a value's key must be one its section can
support, and what its note quotes must stand in that section, not merely somewhere in the seed.

``SECTIONS`` was reviewed by hand against the seeds: each cited section, where it begins and ends
in the seed's text, and the keys its words can support. A pack that cites a section for a key
the section does not speak to, or quotes words from another section, fails here.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from mediins_cli.calendar import OfficialCalendar, round_dates, schedule_dates
from mediins_cli.months import Month
from mediins_cli.rules import load_all_packs, load_pack

SEEDS = Path(__file__).resolve().parents[2] / "shared" / "seeds"
CJK = r"[\u4e00-\u9fff0-9]"
END = None  # the section runs to the end of the text

SCHEDULE = {
    "schedule.round_1_day",
    "schedule.round_2_day",
    "schedule.round_2_day_february",
    "schedule.roll",
    "schedule.calendar",
    "schedule.deposit_by_days_before",
    "schedule.deposit_day_round_1",
    "schedule.deposit_day_round_2",
    "schedule.deposit_day_round_2_february",
}
BACKPAY = {
    "backpay.allowed",
    "backpay.within_months",
    "backpay.channel",
    "backpay.via_bank_withholding",
}
RETIREMENT = {"retirement.age_male", "retirement.age_female"}
TRANSFER = {"transfer.window_unit", "transfer.window_length"}
WINDOW = {"continuity.window_unit", "continuity.window_length"}

#: (source key, section) → (the section's first words, the next section's first words, the keys
#: its words can support). Reviewed by hand, seed by seed.
SECTIONS: dict[tuple[str, str], tuple[str, str | None, set[str]]] = {
    # 000 京社保发[2007]19号
    ("000", "§一"): ("一、增设二次扣款功能", "二、个人查询扣款信息", SCHEDULE),
    ("000", "§四"): ("四、缴费标准定期公布", "五、确定参保起始日期", {"premium.rate_percent"}),
    ("000", "§五(一)2"): ("2、新参保与续保的参保起始日期", "站点查询", {"coverage.starts"}),
    # 六 speaks of the 180-day 医疗等待期 and of re-enrolling within 60 days after the
    # unemployment benefit stopped
    ("000", "§六"): (
        "六、失业转就业参（续）保处理",
        "七、缴费中断处理",
        {"waiting_period.unit", "waiting_period.length"} | TRANSFER,
    ),
    # 七 as a whole: what it does not say (no suspension month) is cited to all of it
    ("000", "§七"): (
        "七、缴费中断处理",
        "八、参保协议书修订",
        {"suspension.benefits_suspended_from"},
    ),
    ("000", "§七(一)"): (
        "(一)灵活就业人员因个人原因",
        "(二)凡处于",
        {"waiting_period.reset_gap_months"},
    ),
    ("000", "§七(二)"): ("(二)凡处于连续参保缴费状态", "(三)凡因", WINDOW),
    ("000", "§七(三)"): ("(三)凡因灵活就业人员个人原因", "八、参保协议书修订", BACKPAY),
    ("000", "§八"): ("八、参保协议书修订", "九、统一大额资金缴费方式", {"validity.in_force_from"}),
    ("000", "全文"): ("关于加强管理个人委托存档", END, RETIREMENT),
    # 001 吉医保联[2022]11号
    ("001", "第十条"): ("第十条", "第十一条", {"suspension.benefits_suspended_from"}),
    # 第十五条's second paragraph: 灵活就业参保人员按月申请核定次月缴费金额…通过税务部门提供的
    # 缴费渠道缴纳医保费
    ("001", "第十五条"): ("第十五条", "第十六条", {"backpay.channel", "premium.rate_percent"}),
    ("001", "第十九条"): (
        "第十九条",
        "第二十条",
        {
            "continuity.window_unit",
            "waiting_period.unit",
            "waiting_period.starts",
            "waiting_period.reset_gap_months",
        },
    ),
    ("001", "第二十七条"): ("第二十七条", "第二十八条", RETIREMENT),
    # 002 淮医保发（2021）80号 and the 苏医保发〔2021〕61号 it forwards
    ("002", "80号 一"): (
        "灵活就业人员参加职工基本医疗保险费的费率",
        "二、首次在我市",
        {"premium.rate_percent"},
    ),
    ("002", "80号 二"): (
        "二、首次在我市",
        "三、参加居民医保年限",
        {
            "waiting_period.unit",
            "waiting_period.length",
            "waiting_period.reset_gap_months",
            "backpay.within_months",  # for 居民医保 transfers: backpay.allowed is local
        },
    ),
    ("002", "80号 四"): (
        "四、参加职工医保的灵活就业人员在男年满60周岁",
        "五、灵活就业人员续缴",
        RETIREMENT,
    ),
    ("002", "61号 二"): (
        "二、明确参保缴费和待遇享受政策",
        "三、鼓励法定劳动年龄段",
        WINDOW | TRANSFER | {"suspension.benefits_suspended_from"},
    ),
    ("002", "61号 五"): ("五、优化参保缴费服务", "本通知自2022年1月1日起执行", {"backpay.channel"}),
    ("002", "61号 末段"): ("本通知自2022年1月1日起执行", END, {"validity.in_force_from"}),
    # 004 大连市医保中心问答
    ("004", "问：哪些人可以以灵活就业人员身份参加职工医保"): (
        "哪些人可以以灵活就业人员身份参加职工医保",
        "大连灵活就业职工医保享受哪些待遇",
        RETIREMENT,
    ),
    ("004", "问：灵活就业职工医保需要交多少钱"): (
        "灵活就业职工医保需要交多少钱",
        "灵活就业人员忘记缴纳医保费",
        {"premium.rate_percent"},
    ),
    # 004 speaks of back-payment only: the window is derived from it (its note says so)
    ("004", "问：忘记缴纳或者交晚了"): (
        "灵活就业人员忘记缴纳医保费或者交晚了",
        "灵活就业职工医保可以转为企业职工医保",
        WINDOW
        | BACKPAY
        | {"waiting_period.reset_gap_months", "suspension.benefits_suspended_from"},
    ),
}


def _cjk(text: str) -> str:
    return "".join(re.findall(CJK, text))


def _cited_values():
    for pack in load_all_packs():
        for key, value, _ in pack.items():
            if not value.is_local:
                source_key, section = value.source.split(" ", 1)
                yield pack, key, value, source_key, section


@pytest.mark.parametrize("pack_id", [p.id for p in load_all_packs()])
def test_each_cited_key_is_one_its_section_can_support(pack_id):
    for pack, key, value, source_key, section in _cited_values():
        if pack.id != pack_id:
            continue
        assert (source_key, section) in SECTIONS, f"{pack.id} {key}: {value.source} not reviewed"
        allowed = SECTIONS[(source_key, section)][2]
        assert key in allowed, f"{pack.id} {key}: {value.source} does not speak to it"


def test_the_table_rejects_a_key_its_section_does_not_speak_to():
    """The check has teeth: 第十五条 (monthly approval) does not say when coverage starts."""
    assert "coverage.starts" not in SECTIONS[("001", "第十五条")][2]
    assert "backpay.allowed" not in SECTIONS[("002", "80号 二")][2]  # transfers only: local
    assert "schedule.round_1_day" not in SECTIONS[("000", "§七(二)")][2]


def _section_text(pack, source_key: str, section: str) -> str:
    start, end, _ = SECTIONS[(source_key, section)]
    text = _cjk((SEEDS / pack.sources[source_key].file).read_text(encoding="utf-8"))
    begin = text.find(_cjk(start))
    assert begin >= 0, f"{source_key} {section}: {start!r} not found"
    stop = len(text) if end is END else text.find(_cjk(end), begin + 1)
    assert stop > begin, f"{source_key} {section}: {end!r} not found after {start!r}"
    return text[begin:stop]


@pytest.mark.skipif(not SEEDS.is_dir(), reason="shared/seeds is not beside the checkout")
@pytest.mark.parametrize("pack_id", [p.id for p in load_all_packs()])
def test_what_a_note_quotes_stands_in_the_section_it_cites(pack_id):
    """Quoted Chinese (runs of 6+ characters and digits) in a cited value's note stands in the
    cited section — except words a note marks as another section's (``80号 二 says …``)."""
    for pack, key, value, source_key, section in _cited_values():
        if pack.id != pack_id:
            continue
        own = _section_text(pack, source_key, section)
        whole = _cjk((SEEDS / pack.sources[source_key].file).read_text(encoding="utf-8"))
        for passage in re.findall(CJK + "{6,}", value.note):
            assert passage in whole, f"{pack.id} {key}: {passage!r} not in the seed"
            if passage not in own:
                # allowed only when the note names the other section it quotes
                assert re.search(
                    r"\d+号 [一二三四五六七八九十]|第[一二三四五六七八九十]+条", value.note
                ), f"{pack.id} {key}: {passage!r} is not in {value.source}"


@pytest.mark.skipif(not SEEDS.is_dir(), reason="shared/seeds is not beside the checkout")
def test_every_reviewed_section_is_found_in_its_seed():
    packs = {p.sources[k].file: p for p in load_all_packs() for k in p.sources}
    for (source_key, section), (start, _, _) in SECTIONS.items():
        pack = next(p for p in packs.values() if source_key in p.sources)
        assert len(_section_text(pack, source_key, section)) >= len(_cjk(start))


# --------------------------------------------------------------------------- Jiangsu


def test_jiangsu_back_payment_is_local_because_80_hao_gives_it_to_resident_transfers_only():
    """80号 二: 连续2年及以上…由居民医保转为以灵活就业人员身份参加职工医保, 中断缴费时间不超过3个月
    续保，在补缴…后即可正常享受待遇; 61号 二 names no back-payment for other flexible enrollees.
    The enrollee file cannot tell the groups apart: offered to all, labelled local."""
    b = load_pack("jiangsu-huaian-2021").backpay
    assert b.allowed.value == "within_window" and b.allowed.is_local
    assert "由居民医保转为" in b.allowed.note and "61号 二" in b.allowed.note
    assert b.within_months.value == 3 and b.within_months.source == "002 80号 二"


def test_jiangsu_suspension_is_61_hao_second_natural_month_and_says_why_not_80_hao():
    """61号 二: 自第二个自然月起暂时停止; 80号 二: 从中断当月起 (transfers who did not pay back),
    less favourable — 61号 末段 lets a city's rule prevail only where more favourable."""
    s = load_pack("jiangsu-huaian-2021").suspension.benefits_suspended_from
    assert s.value == "month_after_unpaid" and s.source == "002 61号 二"
    assert "自第二个自然月起" in s.note and "从中断当月起" in s.note
    assert "更有利于参保人员的" in s.note


def test_jiangsu_window_cites_the_general_rule_not_the_transfer_sentence():
    c = load_pack("jiangsu-huaian-2021").continuity
    assert c.window_unit.source == c.window_length.source == "002 61号 二"


# --------------------------------------------------------------------------- Beijing deposit days


def test_beijing_deposit_offset_is_labelled_derived_and_the_seed_days_are_kept():
    """000 §一: 参保人员应在每月11日和24日（每年的2月为21日）前存入足够的现金 — fixed days; the
    day-before-the-effective-date rule is DESIGN §2's, derived from them."""
    s = load_pack("beijing-2007").schedule
    assert s.deposit_by_days_before.note.startswith("derived")
    assert (s.deposit_day_round_1.value, s.deposit_day_round_2.value) == (11, 24)
    assert s.deposit_day_round_2_february.value == 21
    for pack_id in ("jiangsu-huaian-2021", "dalian-2025", "jilin-2022"):
        other = load_pack(pack_id).schedule
        assert other.deposit_day_round_1.value is None and other.deposit_day_round_1.is_local


def test_the_seed_deposit_day_equals_the_derived_one_when_nothing_rolls():
    pack = load_pack("beijing-2007")
    cal = OfficialCalendar([], "x")
    r1, r2 = schedule_dates(pack.schedule, cal, Month.parse("2024-03"))  # Tue 12th, Mon 25th
    assert (r1.deposit_by.isoformat(), r1.deposit_by_stated.isoformat()) == ("2024-03-11",) * 2
    assert (r2.deposit_by.isoformat(), r2.deposit_by_stated.isoformat()) == ("2024-03-24",) * 2


def test_a_rolled_round_keeps_the_seed_day_beside_the_derived_one():
    """2024-02 round 1: due Mon 12th (Spring Festival), effective Sun 18th (a make-up working day):
    deposit by Sat 17th (DESIGN §2); the notice's own day is the 11th. February's round 2 is the
    22nd and its day the 21st."""
    pack = load_pack("beijing-2007")
    r1, r2 = schedule_dates(pack.schedule, OfficialCalendar([], "x"), Month.parse("2024-02"))
    assert r1.deposit_by.isoformat() == "2024-02-17"
    assert r1.deposit_by_stated.isoformat() == "2024-02-11"
    assert r2.deposit_by.isoformat() == r2.deposit_by_stated.isoformat() == "2024-02-21"


def test_round_dates_without_stated_days_show_none():
    r1, _ = round_dates(OfficialCalendar([], "x"), Month.parse("2024-02"), 12, 25, 22, 1)
    assert r1.deposit_by_stated is None


def test_calendar_shows_the_seed_day_beside_a_rolled_deposit_date(run):
    result = run("calendar", "--month", "2024-02", "--json")
    rounds = __import__("json").loads(result.stdout)["rounds"]
    assert [(r["deposit_by"], r["deposit_by_stated"]) for r in rounds] == [
        ("2024-02-17", "2024-02-11"),
        ("2024-02-21", "2024-02-21"),
    ]
    text = run("calendar", "--month", "2024-02").stdout
    assert "000 §一: 2024-02-11" in text
    assert "000 §一: 2024-02-21" not in text  # shown only where it differs
    jiangsu = run("calendar", "--month", "2024-02", "--rules", "jiangsu-huaian-2021", "--json")
    assert {r["deposit_by_stated"] for r in __import__("json").loads(jiangsu.stdout)["rounds"]} == {
        None
    }


def test_beijing_says_how_a_gap_for_another_cause_than_a_personal_one_is_reported():
    """000 §七 writes its consequences for gaps 因个人原因: the pack says that other causes are
    reported with the same dates and their own cause column (issue 11)."""
    note = load_pack("beijing-2007").continuity.window_length.note
    assert "因个人原因" in note and "ACCOUNT_PROBLEM" in note and "breaks.csv" in note
