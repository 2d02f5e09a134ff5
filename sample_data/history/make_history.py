"""Generate ``sample_data/history/``: 13 months of a small Beijing caseload, 2024-01 … 2025-01.

Fake data only (IDs with valid check digits and real area codes, Luhn-valid cards, made-up
people). 28 flexible-employment enrollees in January, two more joining during the year, three
agencies, shared accounts, and a year of ordinary life: people short some months who recover,
one who misses three months in a row and loses continuity, one who misses a month inside the
waiting period, a suspension, a termination, a wrong card number, a new premium standard in
April. README.md has the month-by-month table.

How it is made, month by month (the history is the tool carrying itself):

1. The master system's export: last month's stored file with this month's changes (new
   enrollees, status changes, the premium standard, a corrected card) — the *base* file — then
   ``chain_enrollees(base, last month's updates.csv)``, so ``paid_through`` and
   ``waiting_until`` are what mediins told the master system. January is the base file itself.
2. The bank: deposits and withdrawals drawn from ``random.Random(2024)`` (integer fen), steered
   so that each enrollee pays in round 1, in round 2 or not at all as the plan below says.
   Each export (``ledger-round1.csv``, ``ledger-round2.csv``) holds an opening balance
   (期初余额) per account on the first day of the previous month and every row since, up to
   06:00 of the round's effective date, when the bank books mediins's debits: after each round
   the run's ``success.csv`` rows are booked (account, −amount, reference) at 06:00 on
   ``deducted_on``, so the next exports hold them.
3. ``mediins_cli.runs.deduct`` runs both rounds (into a temporary folder) and the script checks
   that everyone paid or failed as planned and that the continuity events are the ones the
   README lists. It stops on any surprise.

2024 runs on the bank's ledgers. 2025-01 runs in return mode (DESIGN §11): ``instruct`` writes
each round's instructions (bank format ``generic``), the simulated bank
(:func:`mediins_cli.bank.simulate.simulate_bank`) answers them from the bank's book as it
stands before the round (the export it would have made, kept out of the history), a few of its
``OK`` answers are turned into the failures ``BANK_SAYS`` lists, and ``deduct --returns`` reads
them. The month folder holds ``returns-round1/`` and ``returns-round2/`` instead of ledgers;
the bank books exactly the debits it answered ``OK``.

Finally ``expected/`` of every month is filled by ``replay(history, scratch, update=True)``:
exactly what ``mediins replay`` compares. Expected folders that already match are left as they
are, so a second run changes no byte (a new tool version alone changes nothing either).

Run from the repository root with the project's environment::

    python sample_data/history/make_history.py
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import random
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl
from stdnum.cn import ric

from mediins_cli.bank.run import InstructRequest, instruct
from mediins_cli.bank.simulate import simulate_bank
from mediins_cli.calendar import RoundDates, make_calendar, schedule_dates
from mediins_cli.months import Month
from mediins_cli.replay import chain_enrollees, replay
from mediins_cli.rules import load_pack
from mediins_cli.runs import DeductRequest, deduct

HERE = Path(__file__).resolve().parent
RULES, CALENDAR = "beijing-2007", "official"
MONTHS = [Month(2024, m) for m in range(1, 13)]  # on the bank's ledgers
RETURN_MONTHS = [Month(2025, 1)]  # on the bank's return files (DESIGN §11)
BANK_FORMAT = "generic"
SEED = 2024

ENROLLEE_COLUMNS = [
    "enrollee_id", "id_type", "name", "sex", "birth_date", "agency", "status", "enrolled_on",
    "paid_through", "waiting_until", "monthly_premium", "account_no", "bank", "remark",
]  # fmt: skip
LEDGER_COLUMNS = ["account_no", "posted_at", "amount", "reference", "memo"]
DC, CY, HD = "DC-RC01", "CY-ZJ03", "HD-RC04"
AGENCIES = {DC: "东城区人才服务中心", CY: "朝阳区职业介绍服务中心", HD: "海淀区人才服务中心"}
# Monthly premiums by level: Beijing publishes the new standard in March, in force from April
# (seed 000 §四). The enrollee file carries the approved amount of the run month.
PREMIUMS = {"2023": ("619.95", "703.53", "858.27"), "2024": ("650.95", "738.71", "901.18")}
NEW_STANDARD = Month(2024, 4)
BANK_PREFIXES = {"BOB": ("6214", "6223"), "PSBC": ("6217", "6221")}
DEPOSITS = ["手机银行转入", "网银转入", "跨行转入", "柜面现金存入"]
WITHDRAWALS = ["ATM取款", "POS消费", "快捷支付"]
DEBIT_MEMO = "代扣医保费"
OPENING_MEMO = "期初余额"
R1, R2, MISS = "R1", "R2", "MISS"  # pays in round 1, in round 2, not at all


@dataclass
class Person:
    name: str
    body: str  # area code, birth date, sequence: the ID without its check digit
    agency: str
    enrolled_on: str
    account: str  # label of the account (shared accounts share a label)
    level: int  # premium level 0..2
    paid_through: str = "2023-12"
    waiting_until: str = ""
    remark: str = ""
    joins: str = "2024-01"  # first month in the master system's export
    sex: str = ""
    status: dict[str, str] = field(default_factory=dict)  # from month: new status
    remarks: dict[str, str] = field(default_factory=dict)  # from month: new remark
    accounts: dict[str, str] = field(default_factory=dict)  # from month: another account
    plan: dict[str, str] = field(default_factory=dict)  # month: R1 (default) | R2 | MISS
    edges: dict[str, str] = field(default_factory=dict)  # month: a timing or amount edge

    @property
    def id(self) -> str:
        return self.body + ric.calc_check_digit(self.body + "0")  # a placeholder check digit

    def value(self, changes: dict[str, str], month: Month, default: str) -> str:
        current = default
        for start in sorted(changes):
            if Month.parse(start) <= month:
                current = changes[start]
        return current


def waiting_from_coverage(enrolled_on: str) -> str:
    """A new enrollee's waiting period as the master system sets it: 180 days from the first
    day of coverage, the month after enrollment (seed 000 §五, §六)."""
    start = Month.of(dt.date.fromisoformat(enrolled_on)).shift(1).first_day
    return (start + dt.timedelta(days=179)).isoformat()


# The year's cast. Plans and edges name the months where something happens (README.md).
PEOPLE = [
    Person("曾志强", "11010119820318123", DC, "2015-06-08", "A", 0, sex="M",
           remark="与单丽共用账户", plan={"2024-11": R2}),
    Person("单丽", "11010119840722046", DC, "2016-03-14", "A", 0,
           remark="与曾志强共用账户", plan={"2024-05": R2, "2024-09": MISS, "2024-11": R2}),
    Person("覃美玲", "45010319900527084", CY, "2019-05-10", "覃美玲", 0, sex="F",
           plan={"2024-03": R2, "2024-07": R2, "2024-10": R2, "2024-11": MISS, "2025-01": MISS},
           edges={"2024-07": "short_cent"}),
    Person("曹国庆", "11010819741001035", HD, "2011-04-18", "曹国庆", 1,
           plan={"2024-03": MISS, "2024-04": MISS, "2024-05": MISS}),
    Person("卢海燕", "11010519870819082", CY, "2014-09-01", "卢海燕", 0,
           plan={"2024-02": MISS, "2024-03": MISS}),
    Person("袁梦琪", "11010819971212028", HD, "2023-11-20", "袁梦琪", 1,
           waiting_until=waiting_from_coverage("2023-11-20"), plan={"2024-03": MISS}),
    Person("何静", "11010519801225024", DC, "2012-02-20", "何静", 2,
           status={"2024-07": "suspended"}, remarks={"2024-07": "2024年7月起暂停参保（单位就业）"}),
    Person("冯子轩", "11011420011101011", HD, "2024-03-18", "冯子轩", 0, paid_through="",
           waiting_until=waiting_from_coverage("2024-03-18"), joins="2024-03", remark="新参保",
           plan={"2024-08": R2}),
    Person("谢雨桐", "11010819990402066", CY, "2024-08-06", "谢雨桐-误录", 0, paid_through="",
           waiting_until=waiting_from_coverage("2024-08-06"), joins="2024-08", remark="新参保",
           accounts={"2024-10": "谢雨桐"}, remarks={"2024-10": "新参保, 银行卡号已更正"},
           plan={"2024-09": MISS}),
    Person("韩志刚", "11010119700228053", DC, "2009-07-01", "韩志刚", 2, paid_through="2024-06",
           remark="柜面预缴至2024-06"),
    Person("郭淑芬", "11010219690930062", HD, "2010-10-10", "郭淑芬", 1,
           status={"2024-10": "terminated"}, remarks={"2024-10": "2024年10月终止参保（退休）"}),
    Person("欧阳建国", "11010519681001015", CY, "2008-05-12", "T", 2, remark="家庭共用账户"),
    Person("司马秀兰", "11010519710623062", CY, "2008-05-12", "T", 1, remark="家庭共用账户"),
    Person("欧阳晓峰", "11010520000914037", CY, "2021-07-01", "T", 0, remark="家庭共用账户",
           plan={"2024-06": R2, "2024-12": MISS}),
    Person("解文博", "11010219791118031", HD, "2012-09-03", "B", 1, sex="M",
           edges={"2024-08": "exact"}),
    Person("仇晓燕", "11010219810416028", HD, "2013-04-22", "B", 0, remark="与解文博共用账户"),
    Person("朴成浩", "22240119860130075", HD, "2017-03-03", "朴成浩", 1,
           plan={"2024-08": MISS}, edges={"2024-08": "short_cent"}),
    Person("查海涛", "11010619881203057", DC, "2016-11-11", "查海涛", 1,
           plan={"2024-02": R2, "2024-10": R2, "2025-01": R2}),
    Person("孙浩", "37010219830606091", CY, "2015-01-20", "孙浩", 1,
           plan={"2024-10": R2}, edges={"2024-10": "midnight"}),
    Person("黄晓敏", "11010819920311088", CY, "2018-08-08", "黄晓敏", 0,
           edges={"2024-02": "last_second"}),
    Person("翟雪", "13010219950809020", HD, "2020-06-15", "翟雪", 1,
           plan={"2024-05": R2}, edges={"2024-05": "last_second_r2"}),
    Person("缪建华", "11010819760218019", HD, "2010-03-03", "缪建华", 2,
           plan={"2024-08": R2}, edges={"2024-08": "date_only_r2"}),
    Person("张秀英", "11010119780415022", DC, "2013-06-06", "张秀英", 0, plan={"2024-11": R2}),
]  # fmt: skip
NO_ROWS = {"谢雨桐-误录"}  # a card number the bank does not know (entered wrongly)
# Return mode: answers the bank gives in round 1 instead of the OK its book allows (month,
# name) → result. Only planned round-1 payers on an account of their own: no money moves
# that the book does not have, and the BANK_ERROR is retried in round 2, where it is paid.
BANK_SAYS = {
    ("2025-01", "黄晓敏"): "BANK_ERROR",
    ("2025-01", "缪建华"): "NAME_MISMATCH",
}
BANK_MESSAGES = {"BANK_ERROR": "系统异常", "NAME_MISMATCH": "户名不符"}

# What mediins must report, checked after each month: (month, name) → updates.csv event or
# skipped reason. Everyone else due pays (PAID, or a resumption the plan implies).
EXPECT = {
    ("2024-01", "韩志刚"): "ALREADY_PAID",
    ("2024-02", "卢海燕"): "NEW_BREAK",
    ("2024-03", "卢海燕"): "ONGOING",
    ("2024-04", "卢海燕"): "RESUMED_CONTINUOUS",
    ("2024-03", "曹国庆"): "NEW_BREAK",
    ("2024-04", "曹国庆"): "CONTINUITY_LOST",
    ("2024-05", "曹国庆"): "LOST_BEFORE",
    ("2024-06", "曹国庆"): "RESUMED_NEW_ENROLLMENT",
    ("2024-03", "袁梦琪"): "WAITING_RESET",
    ("2024-04", "袁梦琪"): "RESUMED_WAITING_RESET",
    ("2024-03", "冯子轩"): "NOT_STARTED",
    ("2024-04", "冯子轩"): "PAID",
    ("2024-06", "韩志刚"): "ALREADY_PAID",
    ("2024-07", "韩志刚"): "PAID",
    ("2024-07", "何静"): "INACTIVE",
    ("2024-08", "谢雨桐"): "NOT_STARTED",
    ("2024-08", "朴成浩"): "NEW_BREAK",
    ("2024-09", "朴成浩"): "RESUMED_CONTINUOUS",
    ("2024-09", "谢雨桐"): "WAITING_RESET",
    ("2024-09", "单丽"): "NEW_BREAK",
    ("2024-10", "单丽"): "RESUMED_CONTINUOUS",
    ("2024-10", "谢雨桐"): "RESUMED_WAITING_RESET",
    ("2024-10", "郭淑芬"): "INACTIVE",
    ("2024-11", "覃美玲"): "NEW_BREAK",
    ("2024-12", "覃美玲"): "RESUMED_CONTINUOUS",
    ("2024-12", "欧阳晓峰"): "NEW_BREAK",
    ("2025-01", "欧阳晓峰"): "RESUMED_CONTINUOUS",
    ("2025-01", "覃美玲"): "NEW_BREAK",
    ("2025-01", "缪建华"): "NEW_BREAK",
    ("2025-01", "黄晓敏"): "PAID",
}
# waiting_until after the month, as updates.csv must give it
EXPECT_WAITING = {
    ("2024-04", "袁梦琪"): "2024-10-09",  # 2024-04-12 debit: 2024-04-13 … +180 days
    ("2024-06", "曹国庆"): "2024-12-09",  # 2024-06-12 debit
    ("2024-10", "谢雨桐"): "2025-04-10",  # Sat 2024-10-12 debit (make-up working day)
}

# Ordinary people, drawn from the seed.
SURNAMES = (
    "王李刘陈杨赵吴周徐朱胡高林郑梁宋唐许彭董潘蔡余杜叶程"
    "苏魏丁任沈姚姜崔钟谭陆汪范金石廖贾夏韦方白邹孟熊秦江"
)
GIVEN = {
    "M": "伟强磊军洋勇杰涛明超辉刚平鹏飞斌宇凯健俊帆鑫波峰亮宁楠成林东晨博文",
    "F": "芳娜敏静丽艳娟霞秀玲桂英燕萍红婷琳颖倩洁莉慧欣怡璐瑶佳梅晶",
}
AREAS = ["110101", "110102", "110105", "110106", "110107", "110108", "110111", "110112",
         "110114", "130102", "370102", "420106", "510104", "410105"]  # fmt: skip
REMARKS = ["", "", "", "", "", "已签订委托代扣协议", "需邮寄纸质通知", "外区迁入, 档案已转"]
N_ORDINARY = 7


def ordinary_people(rng: random.Random) -> list[Person]:
    names = {p.name for p in PEOPLE}
    ids = {p.body for p in PEOPLE}
    people = []
    while len(people) < N_ORDINARY:
        sex = rng.choice("MF")
        given = "".join(rng.choice(GIVEN[sex]) for _ in range(rng.choice((1, 2, 2))))
        name = rng.choice(SURNAMES) + given
        birth = dt.date(1966, 1, 1) + dt.timedelta(days=rng.randrange(36 * 365))
        seq = rng.randrange(500) * 2 + (1 if sex == "M" else 0)
        body = f"{rng.choice(AREAS)}{birth:%Y%m%d}{seq:03d}"
        if (
            name in names
            or body in ids
            or not ric.is_valid(body + ric.calc_check_digit(body + "0"))
        ):
            continue
        names.add(name)
        ids.add(body)
        enrolled = dt.date(max(2008, birth.year + 22), 1, 1) + dt.timedelta(
            days=rng.randrange(2000)
        )
        enrolled = min(enrolled, dt.date(2023, 6, 30))
        plan = {}
        for month in MONTHS:
            draw = rng.random()
            if draw < 0.07:
                plan[str(month)] = R2
            elif draw < 0.08:
                plan[str(month)] = MISS
        people.append(
            Person(name, body, rng.choice(sorted(AGENCIES)), enrolled.isoformat(), name,
                   rng.randrange(3), remark=rng.choice(REMARKS), plan=plan,
                   sex=sex if rng.random() < 0.5 else "")
        )  # fmt: skip
    return people


# --------------------------------------------------------------------------- money and time


def fen(yuan: str) -> int:
    whole, _, cents = yuan.partition(".")
    sign = -1 if whole.startswith("-") else 1
    return sign * (abs(int(whole)) * 100 + int((cents + "00")[:2]))


def yuan(amount: int) -> str:
    sign = "-" if amount < 0 else ""
    return f"{sign}{abs(amount) // 100}.{abs(amount) % 100:02d}"


def when(posted_at: str) -> dt.datetime:
    if len(posted_at) == 10:
        return dt.datetime.strptime(posted_at, "%Y-%m-%d")
    return dt.datetime.strptime(posted_at, "%Y-%m-%d %H:%M:%S")


def luhn_complete(body: str) -> str:
    for last in "0123456789":
        total = 0
        for i, ch in enumerate(reversed(body + last)):
            d = int(ch) * (2 if i % 2 else 1)
            total += d - 9 if d > 9 else d
        if total % 10 == 0:
            return body + last
    raise AssertionError(body)


def premium(person: Person, month: Month) -> str:
    return PREMIUMS["2024" if month >= NEW_STANDARD else "2023"][person.level]


def round_up(amount: int, step: int = 10000) -> int:
    return -(-amount // step) * step


class Bank:
    """The bank's book: every row ever posted, in fen, and the exports of it."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.rows: list[tuple[str, str, int, str, str]] = []  # account, posted_at, fen, ref, memo
        self.numbers: dict[str, str] = {}  # account label → number
        self.banks: dict[str, str] = {}

    def open(self, label: str) -> None:
        bank = self.rng.choice(("BOB", "BOB", "PSBC"))
        length = 19 if bank == "PSBC" or self.rng.random() < 0.4 else 16
        prefix = self.rng.choice(BANK_PREFIXES[bank])
        while True:
            digits = "".join(str(self.rng.randrange(10)) for _ in range(length - 5))
            number = luhn_complete(prefix + digits)
            if number not in self.numbers.values():
                break
        self.numbers[label], self.banks[label] = number, bank

    def post(self, label: str, moment: str, amount: int, memo: str, reference: str = "") -> None:
        assert label not in NO_ROWS, label
        self.rows.append((self.numbers[label], moment, amount, reference, memo))
        assert self.balance(label, dt.datetime.max) >= 0, (label, moment)

    def balance(self, label: str, before: dt.datetime) -> int:
        number = self.numbers[label]
        return sum(a for acc, t, a, _, _ in self.rows if acc == number and when(t) < before)

    def check(self) -> None:
        """No account is ever below zero, at any moment (mediins's debits included)."""
        running: dict[str, int] = {}
        for acc, _, amount, _, _ in sorted(self.rows, key=lambda r: (when(r[1]), -r[2])):
            running[acc] = running.get(acc, 0) + amount
            assert running[acc] >= 0, acc

    def export(self, start: dt.datetime, end: dt.datetime) -> bytes:
        """What the bank exports: an opening balance per account at ``start`` (for accounts
        with earlier rows) and every row posted from ``start`` until before ``end``."""
        opening: dict[str, int] = {}
        rows = []
        for acc, t, a, ref, memo in self.rows:
            moment = when(t)
            if moment < start:
                opening[acc] = opening.get(acc, 0) + a
            elif moment < end:
                rows.append((acc, t, a, ref, memo))
        day = start.date().isoformat()
        rows += [(acc, day, a, "", OPENING_MEMO) for acc, a in opening.items()]
        rows.sort(key=lambda r: (when(r[1]), r[4] != OPENING_MEMO, r[0], r[3], r[2]))
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(LEDGER_COLUMNS)
        writer.writerows([acc, t, yuan(a), ref, memo] for acc, t, a, ref, memo in rows)
        return out.getvalue().encode("utf-8")


def moment(rng: random.Random, first: dt.date, last: dt.date, *, date_only: float = 0.15) -> str:
    """A posting time between ``first`` and ``last`` (inclusive), bank hours; some counter
    deposits carry the date only (00:00 of that day)."""
    day = first + dt.timedelta(days=rng.randrange((last - first).days + 1))
    if rng.random() < date_only:
        return day.isoformat()
    return f"{day} {rng.randrange(8, 22):02d}:{rng.randrange(60):02d}:{rng.randrange(60):02d}"


# --------------------------------------------------------------------------- the master system


def base_rows(people: list[Person], state: dict[str, dict[str, str]], bank: Bank, month: Month):
    """The master system's export of ``month`` before mediins's updates are applied: last
    month's stored rows (paid_through, waiting_until as stored), with this month's changes."""
    rows = []
    for p in people:
        if Month.parse(p.joins) > month:
            continue
        previous = state.get(p.id)
        account = p.value(p.accounts, month, p.account)
        row = {
            "enrollee_id": p.id,
            "id_type": "ric",
            "name": p.name,
            "sex": p.sex,
            "birth_date": "",
            "agency": p.agency,
            "status": p.value(p.status, month, "active"),
            "enrolled_on": p.enrolled_on,
            "paid_through": previous["paid_through"] if previous else p.paid_through,
            "waiting_until": previous["waiting_until"] if previous else p.waiting_until,
            "monthly_premium": premium(p, month),
            "account_no": bank.numbers[account],
            "bank": bank.banks[account],
            "remark": p.value(p.remarks, month, p.remark),
        }
        rows.append({k: (v or None) for k, v in row.items()})
    return rows


def due(row: dict[str, str], month: Month) -> bool:
    """DESIGN §4, as the script's own check of the tool: active, covered, not paid."""
    started = Month.of(dt.date.fromisoformat(row["enrolled_on"])).shift(1) <= month
    paid = row["paid_through"] is not None and Month.parse(row["paid_through"]) >= month
    return row["status"] == "active" and started and not paid


# --------------------------------------------------------------------------- one month


@dataclass
class Account:
    label: str
    members: list[Person]  # due this month, in enrollee_id order (the order of debiting)
    outcomes: list[str]
    edge: str

    def plan(self) -> list[tuple[Person, str]]:
        return list(zip(self.members, self.outcomes, strict=True))


def steer_round_one(
    rng: random.Random, bank: Bank, acct: Account, month: Month, first: dt.date, r1: RoundDates
) -> None:
    """Deposits and withdrawals before round 1 so that exactly the planned R1 members pay."""
    label, last = acct.label, r1.deposit_by
    fees = [fen(premium(p, month)) for p in acct.members]
    paying = acct.outcomes.count(R1)
    have = bank.balance(label, dt.datetime.combine(r1.effective, dt.time()))
    if paying == len(fees):
        need = sum(fees)
        if acct.edge == "exact":  # the account covers everyone to the fen
            adjust(rng, bank, label, have, need, first, last)
        elif acct.edge == "last_second":  # topped up at 23:59:59 on the deposit-by day
            low = rng.randrange(0, fees[0])
            adjust(rng, bank, label, have, low, first, last - dt.timedelta(days=1))
            bank.post(label, f"{last} 23:59:59", round_up(need - low), "手机银行转入")
        else:
            ordinary(rng, bank, label, have, need, first, last)
        return
    short = min(fees[paying:])
    rest = short - 1 if acct.edge == "short_cent" else rng.randrange(0, short)
    adjust(rng, bank, label, have, sum(fees[:paying]) + rest, first, last)
    if acct.edge == "midnight":  # at 00:00:00 of round 1's day: in the export, too late for it
        amount = round_up(sum(fees[paying:]) - rest)
        bank.post(label, f"{r1.effective} 00:00:00", amount, "手机银行转入")


def steer_round_two(
    rng: random.Random, bank: Bank, acct: Account, month: Month, r1: RoundDates, r2: RoundDates
) -> None:
    """Top-ups before round 2 so that exactly the planned R2 members of the retry list pay."""
    label = acct.label
    retry = [(p, o) for p, o in zip(acct.members, acct.outcomes, strict=True) if o != R1]
    fees = [fen(premium(p, month)) for p, _ in retry]
    paying = [o for _, o in retry].count(R2)
    have = bank.balance(label, dt.datetime.combine(r2.effective, dt.time()))
    first, last = r1.effective, r2.deposit_by
    if paying == len(fees):
        need = sum(fees)
        amount = round_up(need - have) if have < need else 0
        if acct.edge == "last_second_r2":
            bank.post(label, f"{last} 23:59:59", amount, "手机银行转入")
        elif acct.edge == "date_only_r2":  # counter deposit, booked by date (00:00)
            bank.post(label, last.isoformat(), amount, "柜面现金存入")
        elif amount:
            posted = moment(rng, first + dt.timedelta(days=1), last, date_only=0)
            bank.post(label, posted, amount, rng.choice(DEPOSITS[:3]))
        return
    short = min(fees[paying:])
    if acct.edge == "short_cent":
        target = sum(fees[:paying]) + short - 1
    elif paying == 0 and have < short:
        target = have  # nothing more comes in
    else:
        target = sum(fees[:paying]) + rng.randrange(0, short)
    adjust(rng, bank, label, have, target, first + dt.timedelta(days=1), last)


def adjust(rng, bank, label, have, target, first, last) -> None:
    """Bring the balance from ``have`` to ``target`` by one deposit or one withdrawal."""
    if target > have:
        bank.post(label, moment(rng, first, last), target - have, rng.choice(DEPOSITS))
    elif target < have:
        bank.post(label, moment(rng, first, last, date_only=0), target - have,
                  rng.choice(WITHDRAWALS))  # fmt: skip


def ordinary(rng, bank, label, have, need, first, last) -> None:
    """A month of an account that pays: a round-sum transfer when it runs low (or now and
    then anyway), and maybe some spending that leaves enough."""
    deposit = 0
    if have < need + rng.randrange(0, 30000):
        deposit = round_up(max(need - have, 0) + rng.randrange(0, 200000))
    elif rng.random() < 0.25:
        deposit = rng.randrange(2, 30) * 10000
    times = sorted(moment(rng, first, last, date_only=0) for _ in range(2))
    if deposit:
        memo = rng.choice(DEPOSITS)
        posted = times[0][:10] if memo == "柜面现金存入" else times[0]
        bank.post(label, posted, deposit, memo)
    spare = have + deposit - need - 1000
    if rng.random() < 0.3 and spare > 5000:
        bank.post(label, times[1], -(rng.randrange(1, spare // 1000 + 1) * 1000),
                  rng.choice(WITHDRAWALS))  # fmt: skip


def accounts_due(people, rows, bank, month) -> list[Account]:
    by_id = {p.id: p for p in people}
    grouped: dict[str, list[Person]] = {}
    for row in rows:
        if due(row, month):
            p = by_id[row["enrollee_id"]]
            grouped.setdefault(p.value(p.accounts, month, p.account), []).append(p)
    order = {R1: 0, R2: 1, MISS: 2}
    result = []
    for label in sorted(grouped, key=lambda k: bank.numbers[k]):
        members = sorted(grouped[label], key=lambda p: p.id)
        outcomes = [p.plan.get(str(month), R1) for p in members]
        assert [order[o] for o in outcomes] == sorted(order[o] for o in outcomes), (
            f"{month}: on a shared account the payers must come first in enrollee_id order: "
            f"{[p.name for p in members]} {outcomes}"
        )
        edges = {p.edges[str(month)] for p in members if str(month) in p.edges}
        assert len(edges) <= 1
        result.append(Account(label, members, outcomes, edges.pop() if edges else ""))
    return result


def read_rows(data: bytes) -> list[dict[str, str]]:
    return pl.read_csv(io.BytesIO(data), infer_schema=False).to_dicts()


def run_round(folder: Path, scratch: Path, month: Month, n: int, enrollees: Path) -> Path:
    outcome = deduct(
        DeductRequest(round=n, month=month, enrollees=enrollees,
                      ledger=folder / f"ledger-round{n}.csv", out=scratch, rules=RULES,
                      calendar=CALENDAR, command="sample_data/history/make_history.py")
    )  # fmt: skip
    return outcome.run_dir


def run_return_round(
    folder: Path, scratch: Path, month: Month, n: int, enrollees: Path, book: bytes
) -> Path:
    """A round in return mode: the instructions, the simulated bank's answers from ``book``
    (the bank's export before the round) into ``returns-round<n>/`` with ``BANK_SAYS``
    applied, and ``deduct --returns`` on them."""
    command = "sample_data/history/make_history.py"
    sent = instruct(
        InstructRequest(round=n, month=month, enrollees=enrollees, out=scratch, rules=RULES,
                        calendar=CALENDAR, bank_format=BANK_FORMAT, command=command)
    ).dir  # fmt: skip
    ledger = scratch / f"book-{month}-round{n}.csv"
    ledger.write_bytes(book)
    answers = folder / f"returns-round{n}"
    answers.mkdir(exist_ok=True)
    for stale in answers.iterdir():
        stale.unlink()
    simulate_bank(scratch, month, n, ledger, answers, RULES, CALENDAR)
    says = {name: result for (m, name), result in BANK_SAYS.items() if m == str(month)}
    for path in sorted(answers.iterdir()):
        sent_rows = read_rows((sent / path.name).read_bytes())
        result_of = {r["reference"]: says[r["account_name"]] for r in sent_rows
                     if r["account_name"] in says and n == 1}  # fmt: skip
        rows = read_rows(path.read_bytes())
        for r in rows:
            if r["reference"] in result_of:
                assert r["result"] == "OK", (month, r["reference"], r["result"])
                code = result_of[r["reference"]]
                r.update(result=code, message=BANK_MESSAGES[code], settled_on="")
        frame = pl.DataFrame(rows, schema={c: pl.String for c in rows[0]})
        path.write_bytes(frame.write_csv().encode("utf-8"))
    outcome = deduct(
        DeductRequest(round=n, month=month, enrollees=enrollees, ledger=answers, out=scratch,
                      rules=RULES, calendar=CALENDAR, command=command,
                      returns=tuple(sorted(answers.iterdir())))
    )  # fmt: skip
    return outcome.run_dir


def main() -> None:
    rng = random.Random(SEED)
    people = PEOPLE + ordinary_people(rng)
    for p in people:
        assert ric.is_valid(p.id), (p.name, p.id)
    ids = [p.id for p in people]
    assert len(set(ids)) == len(ids) == 30
    by_id = {p.id: p for p in people}
    bank = Bank(rng)
    labels = sorted({p.account for p in people} | {a for p in people for a in p.accounts.values()})
    for label in labels:
        bank.open(label)
    opened: set[str] = set()
    pack = load_pack(RULES)
    calendar = make_calendar(CALENDAR)

    state: dict[str, dict[str, str]] = {}
    prev_r2: RoundDates | None = None
    tally = []
    with tempfile.TemporaryDirectory(prefix="mediins-history-") as tmp:
        scratch = Path(tmp)
        for month in MONTHS + RETURN_MONTHS:
            returns = month in RETURN_MONTHS
            r1, r2 = schedule_dates(pack.schedule, calendar, month)
            folder = HERE / str(month)
            folder.mkdir(exist_ok=True)

            # 1. the master system's export, carried by last month's updates
            base = base_rows(people, state, bank, month)
            frame = pl.DataFrame(base, schema={c: pl.String for c in ENROLLEE_COLUMNS})
            stored = folder / "enrollees.csv"
            if prev_r2 is None:
                stored.write_bytes(frame.write_csv().encode("utf-8"))
            else:
                base_file = scratch / f"base-{month}.csv"
                base_file.write_bytes(frame.write_csv().encode("utf-8"))
                updates = scratch / str(prev_r2.month) / "round-2" / "updates.csv"
                stored.write_bytes(chain_enrollees(base_file, updates))
            rows = read_rows(stored.read_bytes())
            state = {r["enrollee_id"]: r for r in rows}

            # 2. the bank before round 1: accounts opened, money in and out
            first = prev_r2.effective + dt.timedelta(days=1) if prev_r2 else dt.date(2024, 1, 2)
            for p in people:
                label = p.value(p.accounts, month, p.account)
                for lab in sorted({label, *p.accounts.values()} - NO_ROWS - opened):
                    if Month.parse(p.joins) <= month:
                        opening = rng.randrange(300, 5000) * 100
                        if prev_r2 is None:
                            bank.post(lab, "2023-12-31", opening, OPENING_MEMO)
                        else:
                            bank.post(lab, moment(rng, first, r1.deposit_by, date_only=0),
                                      opening, "开户存入")  # fmt: skip
                        opened.add(lab)
            accounts = accounts_due(people, rows, bank, month)
            for acct in accounts:
                if acct.label not in NO_ROWS:
                    steer_round_one(rng, bank, acct, month, first, r1)
            export_start = dt.datetime.combine(month.shift(-1).first_day, dt.time())
            books = dt.time(6)  # the bank books mediins's debits at 06:00
            book1 = bank.export(export_start, dt.datetime.combine(r1.effective, books))

            # 3. round 1, checked against the plan; its debits booked
            if returns:
                run1 = run_return_round(folder, scratch, month, 1, stored, book1)
            else:
                (folder / "ledger-round1.csv").write_bytes(book1)
                run1 = run_round(folder, scratch, month, 1, stored)
            success = read_rows((run1 / "success.csv").read_bytes())
            failure = read_rows((run1 / "failure.csv").read_bytes())
            says = {name: code for (m, name), code in BANK_SAYS.items() if m == str(month)}
            planned = {
                p.id
                for a in accounts
                for p, o in zip(a.members, a.outcomes, strict=True)
                if o == R1 and p.name not in says
            }
            due_ids = {p.id for a in accounts for p in a.members}
            assert {r["enrollee_id"] for r in success} == planned, month
            assert {r["enrollee_id"] for r in success + failure} == due_ids, month
            for r in failure:
                person = by_id[r["enrollee_id"]]
                label = person.value(person.accounts, month, person.account)
                expected_reason = "NO_ACCOUNT" if label in NO_ROWS else "INSUFFICIENT_FUNDS"
                expected_reason = says.get(person.name, expected_reason)
                assert r["reason"] == expected_reason, (month, r["name"], r["reason"])
            debits1 = [(r, f"{r['deducted_on']} 06:00:00") for r in success]
            for r, posted in debits1:
                bank.rows.append((r["account_no"], posted, -fen(r["amount"]), r["reference"],
                                  DEBIT_MEMO))  # fmt: skip

            # 4. the bank before round 2: top-ups of those who pay in round 2
            for acct in accounts:
                if acct.label not in NO_ROWS and set(acct.outcomes) != {R1}:
                    steer_round_two(rng, bank, acct, month, r1, r2)
            book2 = bank.export(export_start, dt.datetime.combine(r2.effective, books))

            # 5. round 2, checked; its debits booked; the events checked
            if returns:
                run2 = run_return_round(folder, scratch, month, 2, stored, book2)
            else:
                (folder / "ledger-round2.csv").write_bytes(book2)
                run2 = run_round(folder, scratch, month, 2, stored)
            success2 = read_rows((run2 / "success.csv").read_bytes())
            planned2 = {
                p.id
                for a in accounts
                for p, o in zip(a.members, a.outcomes, strict=True)
                if o == R2 or says.get(p.name) == "BANK_ERROR"
            }
            assert {r["enrollee_id"] for r in success2} == planned2, month
            for r in success2:
                bank.rows.append((r["account_no"], f"{r['deducted_on']} 06:00:00",
                                  -fen(r["amount"]), r["reference"], DEBIT_MEMO))  # fmt: skip
            events = {
                by_id[r["enrollee_id"]].name: r
                for r in read_rows((run2 / "updates.csv").read_bytes())
            }
            skipped = {
                by_id[r["enrollee_id"]].name: r["reason"]
                for r in read_rows((run1 / "skipped.csv").read_bytes())
            }
            for (m, name), event in EXPECT.items():
                if m == str(month):
                    got = events[name]["event"] if name in events else skipped.get(name)
                    assert got == event, (m, name, got, event)
            for (m, name), until in EXPECT_WAITING.items():
                if m == str(month):
                    assert events[name]["waiting_until"] == until, (m, name)
            counts = {e: 0 for e in ("PAID",)}
            for r in events.values():
                counts[r["event"]] = counts.get(r["event"], 0) + 1
            tally.append((month, len(rows), len(due_ids), len(success), len(success2), counts))
            prev_r2 = r2

    bank.check()
    (HERE / "replay.toml").write_text(
        "# Settings of `mediins replay` for this history (mediins_cli/replay.py)\n"
        f'rules = "{RULES}"\ncalendar = "{CALENDAR}"\n'
        "# the bank format of the months in return mode (returns-round1/, returns-round2/)\n"
        f'bank_format = "{BANK_FORMAT}"\n',
        encoding="utf-8",
    )
    with tempfile.TemporaryDirectory(prefix="mediins-replay-") as tmp:
        report = replay(HERE, Path(tmp) / "scratch", update=True)
    for month, listed, due_n, paid1, paid2, counts in tally:
        events = ", ".join(f"{k} {v}" for k, v in sorted(counts.items()) if k != "PAID")
        print(f"{month}: {listed} listed, {due_n} due, round 1 paid {paid1}, "
              f"round 2 paid {paid2}; {events or 'no breaks'}")  # fmt: skip
    for note in report.notes:
        print(note)
    print(f"{len(report.updated)} expected folders written, {report.files_compared} files compared")


if __name__ == "__main__":
    sys.exit(main())
