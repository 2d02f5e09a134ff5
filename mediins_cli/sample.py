"""A realistic synthetic month for ``mediins sample``: ``enrollees.csv``, ``ledger.csv`` (the
bank's export before round 1) and ``ledger-round2.csv`` (before round 2). Fake data only.

Everything is computed on whole columns with polars, never row by row. Each random draw is a
splitmix64 mix of a row's global number and a key taken from ``random.Random(seed)``, done in
UInt64 expressions (polars' UInt64 arithmetic wraps modulo 2**64, which is what the mix needs),
so a value depends on the seed and the row only: the same (seed, N) give the same bytes,
whatever the chunking. polars' own ``hash``/``sample``/``shuffle`` are not used, since their
output is not stable across versions. Text is mostly assembled from small lookup tables
(ID parts, dates, times, amounts), which is several times faster than formatting.

Enrollees are generated in chunks (:data:`CHUNK` rows, a multiple of the 100-row block of
shared accounts below) appended to the files, so memory stays bounded whatever N is.

What the month holds, so that the rounds meet every case (shares of enrollees or accounts):

- resident IDs over a few hundred real county codes from python-stdnum's table, each with a
  birth year in which stdnum knows the county (it checks that), unique by construction: the row
  number goes through an affine bijection onto (area and year, day of the year, sequence);
  the check digit is GB 11643's, ``X`` included (sometimes written ``x``);
- names with common and polyphonic surnames (单 曾 解 仇 查 区 朴 乐 …, 欧阳 司马 长孙 …) and
  given names of one or two characters, the characters leaning to the sex in the ID;
- histories: ~80 % paying regularly (paid through last month); gaps of 1–30 months; never
  paid; in a waiting period after a re-enrollment; enrolled last month (new, covered from this
  month) or this month (not yet covered); already paid (this month or ahead); suspended and
  terminated;
- several agencies (``AG-0001`` …, a few large and many small) and banks; accounts of 16–19
  digits with a Luhn check digit, some shared by 2 or 3 enrollees; funded, short in round 1 and
  topped up before round 2, short in both, overdrawn, and accounts with no ledger row at all
  (some of which appear before round 2).

Round 1's ledger holds, account by account, an opening balance (the last day of the month
before last), ordinary deposits and card withdrawals, and each account's latest row in the six
days before round 1's cut-off (so the ledger is not stale). Round 2's ledger is round 1's, then
the rows posted between the two cut-offs (the bank's later export, new rows at the end); it holds
none of round 1's debits (mediins subtracts them itself).
"""

from __future__ import annotations

import functools
import math
import os
import random
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import polars as pl

from mediins_cli.calendar import RoundDates, make_calendar, schedule_dates
from mediins_cli.errors import BadInput
from mediins_cli.inputs.enrollees import county_known
from mediins_cli.months import Month
from mediins_cli.outputs import PRIVATE, narrowed
from mediins_cli.tempnames import remove_leftovers, temp_name

if TYPE_CHECKING:
    from mediins_cli.rules import RulePack

#: enrollees per chunk (a multiple of the 100-row block of shared accounts)
CHUNK = 1_000_000
BLOCK = 100

ENROLLEE_COLUMNS = [
    "enrollee_id", "id_type", "name", "sex", "birth_date", "agency", "status", "enrolled_on",
    "paid_through", "waiting_until", "monthly_premium", "account_no", "bank",
]  # fmt: skip
LEDGER_COLUMNS = ["account_no", "posted_at", "amount", "memo"]
FILES = ("enrollees.csv", "ledger.csv", "ledger-round2.csv")

# --------------------------------------------------------------------------- tables

#: (surname, weight per 10,000): common surnames roughly by frequency, then surnames read
#: differently as surnames (曾 zeng, 单 shan …) and compound ones, so that the agency lists'
#: pinyin order meets them
SURNAMES: tuple[tuple[str, int], ...] = (
    ("王", 710), ("李", 700), ("张", 640), ("刘", 540), ("陈", 450), ("杨", 310), ("赵", 230),
    ("黄", 220), ("周", 210), ("吴", 200), ("徐", 130), ("孙", 120), ("胡", 110), ("朱", 110),
    ("高", 100), ("林", 100), ("何", 100), ("郭", 97), ("马", 94), ("罗", 75), ("梁", 64),
    ("宋", 59), ("郑", 58), ("谢", 56), ("韩", 52), ("唐", 50), ("冯", 48), ("于", 47),
    ("董", 45), ("肖", 44), ("程", 43), ("曹", 42), ("袁", 41), ("邓", 41), ("许", 40),
    ("傅", 40), ("沈", 38), ("曾", 37), ("彭", 37), ("吕", 36), ("苏", 35), ("卢", 35),
    ("蒋", 34), ("蔡", 33), ("贾", 30), ("丁", 30), ("魏", 29), ("薛", 28), ("叶", 28),
    ("阎", 27), ("余", 27), ("潘", 26), ("杜", 26), ("戴", 25), ("夏", 24), ("钟", 24),
    ("汪", 23), ("田", 23), ("任", 22), ("姜", 22), ("范", 21), ("方", 21), ("石", 20),
    ("姚", 20), ("谭", 20), ("廖", 19), ("邹", 19), ("熊", 19), ("金", 18), ("陆", 18),
    ("郝", 17), ("孔", 17), ("白", 16), ("崔", 16), ("康", 16), ("毛", 15), ("邱", 15),
    ("秦", 15), ("江", 14), ("史", 14), ("顾", 14), ("侯", 13), ("邵", 13), ("孟", 13),
    ("龙", 12), ("万", 12), ("段", 12), ("雷", 11), ("钱", 11), ("汤", 11), ("尹", 10),
    ("黎", 10), ("易", 10), ("常", 10), ("武", 10), ("乔", 10), ("贺", 10), ("赖", 10),
    ("龚", 10), ("文", 10), ("单", 8), ("解", 6), ("仇", 5), ("查", 5), ("区", 4), ("朴", 5),
    ("乐", 5), ("覃", 8), ("缪", 5), ("翟", 6), ("盖", 3), ("华", 6), ("纪", 5), ("种", 2),
    ("欧阳", 5), ("司马", 3), ("长孙", 2), ("上官", 2), ("诸葛", 2), ("尉迟", 2), ("皇甫", 2),
    ("令狐", 2), ("澹台", 1), ("万俟", 1), ("东方", 2), ("慕容", 2), ("夏侯", 2), ("公孙", 2),
)  # fmt: skip
MALE_CHARS = (
    "伟强磊军勇杰涛斌超明刚平辉鹏飞鑫波浩凯健俊帆帅旭龙峰建国东志亮成兵博睿晨轩泽宏庆彬毅岩松振"
)
FEMALE_CHARS = (
    "芳娜敏静丽艳娟霞秀燕玲桂丹萍红梅琳颖雪倩婷慧洁莉云琴晶妍茜蕾璐怡悦涵萱淑兰凤英菲薇媛珊"
)
NEUTRAL_CHARS = "子宇雨嘉文思一佳可安心春秋晓海天清新永玉金乐长朝重行华林欣宁平"

#: bank code, card prefixes (two per bank), digits of a card number, weight per 1,000
BANKS: tuple[tuple[str, tuple[str, str], int, int], ...] = (
    ("ICBC", ("622202", "621226"), 19, 200),
    ("CCB", ("621700", "622700"), 19, 170),
    ("ABC", ("622848", "621282"), 19, 150),
    ("BOC", ("621661", "621785"), 19, 100),
    ("PSBC", ("621799", "622188"), 19, 120),
    ("BOB", ("621483", "622309"), 16, 110),
    ("BCM", ("622260", "622262"), 17, 60),
    ("CMB", ("622588", "621486"), 16, 50),
    ("CITIC", ("621771", "622690"), 16, 40),
)
#: monthly premiums (sample_data's three levels) with weights per 100
PREMIUMS: tuple[tuple[str, int], ...] = (("619.95", 60), ("703.53", 30), ("858.27", 10))
MEMOS = (
    "现金存入", "转账存入", "工资", "ATM存款", "手机银行转入",  # deposits
    "ATM取款", "POS消费", "转账支出", "快捷支付", "网银转账",  # withdrawals
    "开户存入", "期初余额",
)  # fmt: skip
_MEMO_OPENED, _MEMO_OPENING = 10, 11

# Enrollee kinds, with shares per 10,000 (the rest is REGULAR).
REGULAR, WAITING, NEW, THIS_MONTH, PAID, GAP, NEVER, SUSPENDED, TERMINATED = range(9)
KIND_NAMES = (
    "regular", "waiting_period", "new", "enrolled_this_month", "already_paid", "gap",
    "never_paid", "suspended", "terminated",
)  # fmt: skip
KIND_SHARES = (
    (TERMINATED, 150), (SUSPENDED, 250), (THIS_MONTH, 150), (NEW, 300), (PAID, 300),
    (GAP, 600), (NEVER, 100), (WAITING, 200),
)  # fmt: skip
DUE_KINDS = (REGULAR, WAITING, NEW, GAP, NEVER)

# Account classes, with shares per 10,000 (the rest is FUNDED). Accounts whose first member
# has a gap, never paid or is in a waiting period draw from the first 2,500 only: a quarter of
# them run short.
FUNDED, SHORT_RECOVER, SHORT_BOTH, OVERDRAWN, NO_ACCOUNT, NO_ACCOUNT_RECOVER = range(6)
CLASS_NAMES = (
    "funded", "short_round_1_recovers", "short_both_rounds", "overdrawn", "no_account",
    "no_account_opened_before_round_2",
)  # fmt: skip
CLASS_SHARES = (
    (NO_ACCOUNT, 60), (NO_ACCOUNT_RECOVER, 30), (SHORT_RECOVER, 300), (SHORT_BOTH, 200),
    (OVERDRAWN, 40),
)  # fmt: skip
RISKY_CLASS_RANGE = 2500

GAMMA = 0x9E3779B97F4A7C15
_EPOCH = date(1970, 1, 1)
_DAY = 86400
_MONTH_BASE = 1900 * 12
_MONTH_SPAN = 300 * 12  # months 1900-01 … 2199-12
_BIG = 1 << 40


def _weighted(pairs: tuple[tuple[Any, int], ...], total: int, rest: Any) -> list[Any]:
    """A table of ``total`` entries, each value as many times as its weight, then ``rest``."""
    table: list[Any] = []
    for value, weight in pairs:
        table += [value] * weight
    return table + [rest] * (total - len(table))


def _doubled(digit: int) -> int:
    return 2 * digit - 9 if digit >= 5 else 2 * digit


@dataclass(frozen=True)
class _Tables:
    """Lookup tables that do not depend on the month or the seed."""

    kinds: pl.Series
    surnames: pl.Series
    given: pl.Series  # male-leaning characters, then female-leaning ones
    given_male: int  # how many of ``given`` lean male
    premium_index: pl.Series
    premium_fen: pl.Series
    premium_text: pl.Series
    banks: pl.Series  # weighted table of bank numbers
    bank_codes: pl.Series
    bank_prefixes: pl.Series  # UInt64, two per bank
    bank_scale: pl.Series  # 10**(digits − 7): the body's share of the card number
    luhn_even: pl.Series  # Luhn sum of a 3-digit chunk whose last digit is doubled
    luhn_odd: pl.Series  # … whose middle digit is doubled
    digit: pl.Series  # "0" … "9", then "X", "0" … "9", "x" (check digits)
    seq_text: pl.Series  # "001" … "999"
    seq_weight: pl.Series  # the sequence digits' share of the ID's weighted sum mod 11
    md_text: pl.Series  # "MMDD" of day d of the year, common years then leap years
    md_weight: pl.Series
    md_month: pl.Series  # month 0 … 11 of day d
    classes: pl.Series
    cents: pl.Series  # "00" … "99"
    clock: pl.Series  # "HH:MM:SS" of each second of a day
    memos: pl.Series


def _id_weight(text: str, first: int) -> int:
    """Digits at positions ``first`` … of a resident ID, weighted by 2**(16 − position) mod 11
    (the 17 digits read in base 13, mod 11: what GB 11643's check digit is computed from)."""
    return sum(int(c) * pow(2, 16 - (first + k), 11) for k, c in enumerate(text)) % 11


@functools.lru_cache(maxsize=1)
def _tables() -> _Tables:
    male = list(MALE_CHARS + NEUTRAL_CHARS)
    female = list(FEMALE_CHARS + NEUTRAL_CHARS)
    premium_index = _weighted(tuple((k, w) for k, (_, w) in enumerate(PREMIUMS)), 100, 0)
    md: list[tuple[str, int]] = []
    for year in (2001, 2004):  # a common year, then a leap year: 365 days of each
        for d in range(365):
            day = date(year, 1, 1) + timedelta(days=d)
            md.append((day.strftime("%m%d"), day.month - 1))
    chunks = [f"{c:03d}" for c in range(1000)]
    return _Tables(
        kinds=pl.Series(_weighted(KIND_SHARES, 10000, REGULAR), dtype=pl.Int64),
        surnames=pl.Series(_weighted(SURNAMES, sum(w for _, w in SURNAMES), "")),
        given=pl.Series(male + female),
        given_male=len(male),
        premium_index=pl.Series(premium_index, dtype=pl.Int64),
        premium_fen=pl.Series([round(float(p) * 100) for p, _ in PREMIUMS], dtype=pl.Int64),
        premium_text=pl.Series([p for p, _ in PREMIUMS]),
        banks=pl.Series(
            _weighted(tuple((k, b[3]) for k, b in enumerate(BANKS)), 1000, 0), dtype=pl.Int64
        ),
        bank_codes=pl.Series([b[0] for b in BANKS]),
        bank_prefixes=pl.Series([int(p) for b in BANKS for p in b[1]], dtype=pl.UInt64),
        bank_scale=pl.Series([10 ** (b[2] - 7) for b in BANKS], dtype=pl.UInt64),
        luhn_even=pl.Series(
            [_doubled(int(c[2])) + int(c[1]) + _doubled(int(c[0])) for c in chunks],
            dtype=pl.Int64,
        ),
        luhn_odd=pl.Series(
            [int(c[2]) + _doubled(int(c[1])) + int(c[0]) for c in chunks], dtype=pl.Int64
        ),
        digit=pl.Series([*"0123456789X", *"0123456789x"]),
        seq_text=pl.Series([f"{s:03d}" for s in range(1, 1000)]),
        seq_weight=pl.Series([_id_weight(f"{s:03d}", 14) for s in range(1, 1000)], dtype=pl.Int64),
        md_text=pl.Series([t for t, _ in md]),
        md_weight=pl.Series([_id_weight(t, 10) for t, _ in md], dtype=pl.Int64),
        md_month=pl.Series([m for _, m in md], dtype=pl.Int64),
        classes=pl.Series(_weighted(CLASS_SHARES, 10000, FUNDED), dtype=pl.Int64),
        cents=pl.Series([f"{c:02d}" for c in range(100)]),
        clock=pl.Series([f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}" for s in range(_DAY)]),
        memos=pl.Series(list(MEMOS)),
    )


# --------------------------------------------------------------------------- areas


def _county_years(county: str, lo: int, hi: int) -> list[int]:
    """The years in lo … hi for which python-stdnum accepts a county entry such as
    ``[1983-2019]桥东区,[2020-]襄都区`` (as validation decides it)."""
    return [year for year in range(lo, hi + 1) if county_known(county, year)]


@functools.lru_cache(maxsize=8)
def area_years(lo: int, hi: int, wanted: int = 400) -> tuple[tuple[str, int], ...]:
    """(county code, birth year) pairs python-stdnum accepts: about ``wanted`` county-level
    codes spread over its table (every k-th of those valid for at least 20 of the years
    lo … hi), each with the years of lo … hi in which it is valid."""
    from stdnum import numdb

    counties: list[tuple[str, list[int]]] = []
    for _length, low, _high, _props, children in numdb.get("cn/loc").prefixes:
        for _l2, low2, high2, props2, _children2 in children:
            code = low + low2
            county = props2.get("county")
            if low2 != high2 or county is None or code.endswith("00"):
                continue
            years = _county_years(county, lo, hi)
            if len(years) >= 20:
                counties.append((code, years))
    counties.sort()
    step = max(1, len(counties) // wanted)
    return tuple((code, year) for code, years in counties[::step] for year in years)


# --------------------------------------------------------------------------- plan


@dataclass(frozen=True)
class _Plan:
    """What every chunk shares: the dates as numbers, the keys, the month's lookup tables."""

    month_index: int
    cutoff_1: int  # epoch seconds of round 1's cut-off (00:00 of its effective date)
    cutoff_2: int
    opening: int  # epoch seconds of the opening balances (last day of the month before last)
    middle_start: int  # first day of last month
    keys: dict[str, int]
    id_a: int
    id_b: int
    id_domain: int
    acct_a: int
    acct_b: int
    agencies: int
    waiting_days: int
    pair_text: pl.Series  # area code and birth year, "1101011984"
    pair_weight: pl.Series
    pair_leap: pl.Series
    pair_days: pl.Series  # epoch days of 1 January of the birth year
    pair_month: pl.Series  # birth year × 12
    month_start: pl.Series  # epoch days of the first of each month from 1900-01
    month_len: pl.Series
    month_text: pl.Series  # "YYYY-MM" of each month from 1900-01
    agency_text: pl.Series
    ledger_days: pl.Series  # "YYYY-MM-DD" of each day from the opening balances' on


def _epoch_seconds(moment: datetime) -> int:
    return int((moment - datetime(1970, 1, 1)).total_seconds())


def _midnight(day: date) -> int:
    return (day - _EPOCH).days * _DAY


def _coprime(rng: random.Random, modulus: int) -> int:
    a = rng.randrange(modulus // 3, 2 * modulus // 3) | 1
    while math.gcd(a, modulus) != 1:
        a += 2
    return a


def _plan(
    n: int, month: Month, seed: int, pack: RulePack, first: RoundDates, second: RoundDates
) -> _Plan:
    pairs = area_years(month.year - 62, month.year - 18)
    id_domain = len(pairs) * 365 * 999
    if n > id_domain or n * id_domain >= 1 << 63:
        raise BadInput(f"--enrollees: at most {id_domain:,} for this generator")
    rng = random.Random(f"mediins-sample:{seed}")
    keys = {name: rng.getrandbits(64) for name in ("kind", "name", "extra", "account", "row")}
    id_a = _coprime(rng, id_domain)
    id_b = rng.randrange(id_domain)
    acct_a = _coprime(rng, 10**9)  # prime to 10: a bijection modulo every power of 10
    acct_b = rng.randrange(10**9)
    months = [Month(1900 + m // 12, m % 12 + 1) for m in range(_MONTH_SPAN)]
    opening = month.shift(-2).last_day
    ledger_days = [
        (opening + timedelta(days=d)).isoformat()
        for d in range((second.effective - opening).days + 1)
    ]
    agencies = max(5, min(500, n // 20000))
    wp = pack.waiting_period
    return _Plan(
        month_index=month.year * 12 + month.month - 1,
        cutoff_1=_epoch_seconds(first.cutoff),
        cutoff_2=_epoch_seconds(second.cutoff),
        opening=_midnight(opening),
        middle_start=_midnight(month.shift(-1).first_day),
        keys=keys,
        id_a=id_a,
        id_b=id_b,
        id_domain=id_domain,
        acct_a=acct_a,
        acct_b=acct_b,
        agencies=agencies,
        waiting_days=wp.length.value * (30 if wp.unit.value == "months" else 1),
        pair_text=pl.Series([f"{code}{year}" for code, year in pairs]),
        pair_weight=pl.Series([_id_weight(f"{c}{y}", 0) for c, y in pairs], dtype=pl.Int64),
        pair_leap=pl.Series([int(Month(y, 2).days == 29) for _, y in pairs], dtype=pl.Int64),
        pair_days=pl.Series([(date(y, 1, 1) - _EPOCH).days for _, y in pairs], dtype=pl.Int64),
        pair_month=pl.Series([y * 12 for _, y in pairs], dtype=pl.Int64),
        month_start=pl.Series([(m.first_day - _EPOCH).days for m in months], dtype=pl.Int64),
        month_len=pl.Series([m.days for m in months], dtype=pl.Int64),
        month_text=pl.Series([str(m) for m in months]),
        agency_text=pl.Series([f"AG-{k:04d}" for k in range(1, agencies + 1)]),
        ledger_days=pl.Series(ledger_days),
    )


# --------------------------------------------------------------------------- expressions


def _u(value: int) -> pl.Expr:
    return pl.lit(value, dtype=pl.UInt64)


def _mix(x: pl.Expr) -> pl.Expr:
    """splitmix64's output function (UInt64 arithmetic wraps; ``//`` by 2**k is a shift)."""
    z = x + _u(GAMMA)
    z = (z ^ (z // _u(1 << 30))) * _u(0xBF58476D1CE4E5B9)
    z = (z ^ (z // _u(1 << 27))) * _u(0x94D049BB133111EB)
    return z ^ (z // _u(1 << 31))


def _draw(plan: _Plan, stream: str, index: pl.Expr) -> pl.Expr:
    """64 random bits for each ``index`` (UInt64) of one stream."""
    return _mix(index * _u(GAMMA) + _u(plan.keys[stream]))


def _digits(r: pl.Expr | str, position: int, width: int) -> pl.Expr:
    """Decimal digits ``position`` … ``position + width − 1`` of a draw as Int64: a uniform
    number in 0 … 10**width − 1 (a draw has 19 digits to give)."""
    r = pl.col(r) if isinstance(r, str) else r
    return ((r // _u(10**position)) % _u(10**width)).cast(pl.Int64)


def _gather(table: pl.Series, index: pl.Expr) -> pl.Expr:
    return pl.lit(table).gather(index)


def _day_text(days: pl.Expr) -> pl.Expr:
    return days.cast(pl.Int32).cast(pl.Date).cast(pl.String)


def _fen_text(fen: pl.Expr, cents: pl.Series) -> pl.Expr:
    """Signed yuan with two decimals from integer fen (``-5`` → ``-0.05``)."""
    magnitude = fen.abs()
    return pl.format(
        "{}{}.{}",
        pl.when(fen < 0).then(pl.lit("-")).otherwise(pl.lit("")),
        (magnitude // 100).cast(pl.String),
        _gather(cents, magnitude % 100),
    )


def _luhn_sum(payload: pl.Expr, t: _Tables) -> pl.Expr:
    """The Luhn sum of a number of up to 18 digits (the digit next to the check digit is
    doubled), three digits at a time."""
    total = pl.lit(0, dtype=pl.Int64)
    for m in range(6):
        chunk = ((payload // _u(1000**m)) % _u(1000)).cast(pl.Int64)
        total = total + _gather(t.luhn_odd if m % 2 else t.luhn_even, chunk)
    return total


# --------------------------------------------------------------------------- enrollees


def _enrollees(plan: _Plan, start: int, n: int) -> pl.DataFrame:
    """Rows ``start`` … ``start + n − 1`` of the enrollee file, with the columns the accounts
    need (``acct``, ``size``, ``off``, ``kind``, ``due_fen``, ``ra``)."""
    t = _tables()
    mi = plan.month_index
    i = pl.col("i")
    pos = i % _u(BLOCK)
    lf = pl.LazyFrame({"i": pl.int_range(start, start + n, dtype=pl.UInt64, eager=True)})
    lf = lf.with_columns(
        rk=_draw(plan, "kind", i),
        rn=_draw(plan, "name", i),
        rx=_draw(plan, "extra", i),
        # shared accounts: rows 0–1 and 50–51 of each block of 100 are pairs, 10–12 a triple
        off=pl.when(pos.is_in([1, 11, 51])).then(1).when(pos == 12).then(2).otherwise(0),
        size=pl.when(pos.is_in([0, 50])).then(2).when(pos == 10).then(3).otherwise(1),
        # the resident ID: an affine bijection of the row number onto (area-year, day, sequence)
        j=(i * _u(plan.id_a) + _u(plan.id_b)) % _u(plan.id_domain),
    )
    lf = lf.with_columns(
        acct=i - pl.col("off").cast(pl.UInt64),
        kind=_gather(t.kinds, _digits("rk", 0, 4)),
        pair=(pl.col("j") // _u(365 * 999)).cast(pl.Int64),
        seq=(pl.col("j") % _u(999)).cast(pl.Int64),  # the sequence less 1: even is male
        day=((pl.col("j") // _u(999)) % _u(365)).cast(pl.Int64),
    ).with_columns(md=_gather(plan.pair_leap, pl.col("pair")) * 365 + pl.col("day"))
    pair, seq, md = pl.col("pair"), pl.col("seq"), pl.col("md")
    male = seq % 2 == 0
    weight = (
        _gather(plan.pair_weight, pair) + _gather(t.md_weight, md) + _gather(t.seq_weight, seq)
    ) % 11
    lower_x = _digits("rx", 6, 1) == 0
    enrollee_id = pl.concat_str(
        _gather(plan.pair_text, pair),
        _gather(t.md_text, md),
        _gather(t.seq_text, seq),
        _gather(t.digit, (23 - 2 * weight) % 11 + pl.when(lower_x).then(11).otherwise(0)),
    )
    lf = lf.with_columns(
        enrollee_id=enrollee_id,
        birth=_gather(plan.pair_days, pair) + pl.col("day"),
        birth_month=_gather(plan.pair_month, pair) + _gather(t.md_month, md),
        male=male,
    )

    # histories: paid-through month ``pt`` (None = never), enrollment month ``em``
    kind = pl.col("kind")
    a, b, c = _digits("rk", 4, 2), _digits("rk", 6, 2), _digits("rk", 8, 4)
    gap = 1 + (a * a * 29) // 10000  # 1 … 29 unpaid months, short gaps the most common
    paid_through = (
        pl.when(kind.is_in([REGULAR, WAITING]))
        .then(mi - 1)
        .when(kind == PAID)
        .then(pl.when(b < 85).then(mi).otherwise(mi + 1 + b % 5))
        .when(kind == GAP)
        .then(mi - 1 - gap)
        .when(kind.is_in([SUSPENDED, TERMINATED]))
        .then(mi - 1 - a % 25)
    )
    adult = pl.col("birth_month") + 18 * 12
    pt = pl.col("pt")
    enrolled_month = (
        pl.when(kind == THIS_MONTH)
        .then(mi)
        .when(kind == NEW)
        .then(mi - 1)
        .when(kind == WAITING)
        .then(mi - 2 - c % 4)
        .when(kind == NEVER)
        .then(mi - 2 - c % 10)
        .when(kind.is_in([GAP, SUSPENDED, TERMINATED]))
        .then(pl.max_horizontal(pt - 1 - c % 120, adult).clip(upper_bound=pt - 1))
        .otherwise(pl.max_horizontal(mi - 7 - c % 200, adult).clip(upper_bound=mi - 2))
    )
    lf = lf.with_columns(pt=paid_through).with_columns(em=enrolled_month - _MONTH_BASE)
    em = pl.col("em")
    lf = lf.with_columns(
        enrolled=_gather(plan.month_start, em) + _digits("rk", 12, 4) % _gather(plan.month_len, em)
    )
    waiting = (
        pl.when(kind.is_in([WAITING, NEW, THIS_MONTH]) | ((kind == NEVER) & (b % 2 == 0)))
        .then(pl.col("enrolled") + 15 + plan.waiting_days + _digits("rk", 16, 2) % 25)
        .otherwise(None)
    )

    # names: a surname, then one (a fifth) or two characters leaning to the sex in the ID
    nm, nf = t.given_male, len(t.given) - t.given_male

    def given(position: int) -> pl.Expr:
        d = _digits("rn", position, 4)
        return _gather(t.given, pl.when(pl.col("male")).then(d % nm).otherwise(nm + d % nf))

    name = pl.concat_str(
        _gather(t.surnames, _digits("rn", 0, 4) % len(t.surnames)),
        given(4),
        pl.when(_digits("rn", 12, 2) >= 20).then(given(8)),
        ignore_nulls=True,
    )
    agency_u = _digits("rn", 14, 4)  # squared: a few large agencies, many small ones
    agency = _gather(plan.agency_text, agency_u * agency_u * plan.agencies // 10**8)
    sex = pl.when(_digits("rx", 0, 2) < 20).then(
        _gather(
            pl.Series(["F", "M", "女", "男"]),
            pl.col("male").cast(pl.Int64) + pl.when(_digits("rx", 2, 2) < 15).then(2).otherwise(0),
        )
    )
    status = (
        pl.when(kind == SUSPENDED)
        .then(pl.lit("suspended"))
        .when(kind == TERMINATED)
        .then(pl.lit("terminated"))
        .otherwise(pl.lit("active"))
    )
    premium = _gather(t.premium_index, _digits("rx", 9, 2))

    # the account: bank and number from the account's own draw, so its members share them
    lf = lf.with_columns(ra=_draw(plan, "account", pl.col("acct")), premium=premium)
    lf = lf.with_columns(bank_k=_gather(t.banks, _digits("ra", 0, 3)))
    bank_k = pl.col("bank_k")
    scale = _gather(t.bank_scale, bank_k)
    prefix = _gather(t.bank_prefixes, bank_k * 2 + _digits("ra", 3, 1) % 2)
    # the card number before its check digit: the bank's prefix, then a body unique per
    # account (an affine bijection of the account number modulo 10**m)
    body = (pl.col("acct") * _u(plan.acct_a) + _u(plan.acct_b)) % scale
    lf = lf.with_columns(payload=prefix * scale + body)
    payload = pl.col("payload")
    account_no = pl.concat_str(
        payload.cast(pl.String), _gather(t.digit, (10 - _luhn_sum(payload, t) % 10) % 10)
    )
    premium_fen = _gather(t.premium_fen, pl.col("premium"))
    lf = lf.select(
        "enrollee_id",
        id_type=pl.when(_digits("rx", 4, 2) < 70).then(pl.lit("ric")),
        name=name,
        sex=sex,
        birth_date=pl.when(_digits("rx", 7, 2) < 8).then(_day_text(pl.col("birth"))),
        agency=agency,
        status=status,
        enrolled_on=_day_text(pl.col("enrolled")),
        paid_through=_gather(plan.month_text, pt - _MONTH_BASE),
        waiting_until=_day_text(waiting),
        monthly_premium=_gather(t.premium_text, pl.col("premium")),
        account_no=account_no,
        bank=_gather(t.bank_codes, bank_k),
        acct="acct",
        size="size",
        off="off",
        kind="kind",
        due_fen=pl.when(kind.is_in(DUE_KINDS)).then(premium_fen).otherwise(0),
        ra="ra",
    )
    return lf.collect()


# --------------------------------------------------------------------------- accounts, ledger


def _accounts(plan: _Plan, enrollees: pl.DataFrame) -> pl.DataFrame:
    """One row per account (its first member's row): what its members owe, its class, its
    balance at round 1's cut-off, its rows and round 2's extra row (``extra``: fen or null)."""
    t = _tables()
    due = pl.col("due_fen")
    size = pl.col("size")
    low = pl.when(due > 0).then(due).otherwise(_BIG)
    # members follow their account's first member: sums over the next one or two rows
    total = (
        due
        + pl.when(size >= 2).then(due.shift(-1).fill_null(0)).otherwise(0)
        + pl.when(size == 3).then(due.shift(-2).fill_null(0)).otherwise(0)
    )
    lowest = pl.min_horizontal(
        low,
        pl.when(size >= 2).then(low.shift(-1).fill_null(_BIG)).otherwise(_BIG),
        pl.when(size == 3).then(low.shift(-2).fill_null(_BIG)).otherwise(_BIG),
    )
    risky = pl.col("kind").is_in([GAP, NEVER, WAITING])
    v = _digits("ra", 4, 4)
    cls = _gather(t.classes, pl.when(risky).then(v % RISKY_CLASS_RANGE).otherwise(v))
    # eager: the shifts must see every row before the members are filtered out
    leaders = enrollees.select(
        "acct", "account_no", "off", "ra", total=total, lowest=lowest, cls=cls
    ).filter(pl.col("off") == 0)
    lf = leaders.lazy().with_columns(
        # the very first account always has rows, so that no ledger is ever empty
        cls=pl.when(pl.col("acct") == 0).then(FUNDED).otherwise(pl.col("cls")),
        rb=_draw(plan, "account", pl.col("acct") + _u(1 << 62)),
    )
    cls, total, lowest = pl.col("cls"), pl.col("total"), pl.col("lowest")
    x, y, z, w = (_digits("rb", 0, 4), _digits("rb", 4, 6), _digits("rb", 10, 5),
                  _digits("rb", 15, 2))  # fmt: skip
    margin = (
        pl.when(x % 20 == 0)
        .then(0)  # exactly the premiums
        .otherwise(y % 300000 + pl.when(x % 5 == 1).then(z * 100).otherwise(0))
    )
    owed = total > 0
    balance = (
        pl.when(~owed)
        .then(y * 2)
        .when(cls == SHORT_RECOVER)
        .then(y % total.clip(lower_bound=1))  # covers some members at most
        .when(cls == SHORT_BOTH)
        .then(y % lowest)  # covers nobody
        .when(cls == OVERDRAWN)
        .then(-(1 + y % 50000))
        .otherwise(total + margin)
    )
    lf = lf.with_columns(margin=margin, balance=balance)
    bal, margin = pl.col("balance"), pl.col("margin")
    top_up = total - bal + z * 2
    extra = (
        pl.when(~owed)
        .then(pl.when(w < 10).then(1000 + z))
        .when(cls.is_in([SHORT_RECOVER, NO_ACCOUNT_RECOVER]))
        .then(top_up)
        .when(cls == OVERDRAWN)
        .then(pl.when(w < 50).then(top_up))
        .when(cls == SHORT_BOTH)  # too little, a withdrawal, or nothing
        .then(
            pl.when((w < 50) & (lowest - bal > 1))
            .then(1 + z % (lowest - bal - 1).clip(lower_bound=1))
            .when((w < 70) & (bal > 1))
            .then(-(1 + z % (bal - 1).clip(lower_bound=1)))
        )
        .when(cls == FUNDED)  # now and then a deposit, or a withdrawal within the margin
        .then(
            pl.when(w < 8)
            .then(10000 + z * 3)
            .when((w < 15) & (margin > 0))
            .then(-(1 + z % margin.clip(lower_bound=1)))
        )
    )
    has_rows = ~cls.is_in([NO_ACCOUNT, NO_ACCOUNT_RECOVER])
    return (
        lf.with_columns(
            extra=extra,
            rows=pl.when(has_rows).then(2 + _digits("rb", 17, 1) % 6).otherwise(0),
            opening=_digits("ra", 8, 5),  # a small opening balance, where one is needed
            final=pl.when(_digits("ra", 14, 1) < 7)  # the planned last row: mostly a deposit
            .then(
                pl.when(_digits("ra", 15, 1) < 5)
                .then((1 + _digits("ra", 16, 2) % 30) * 10000)
                .otherwise(10000 + _digits("ra", 16, 3) * 290)
            )
            .otherwise(-(1000 + _digits("ra", 16, 3) * 49)),
        )
        .with_columns(total_rows=pl.col("rows") + pl.col("extra").is_not_null().cast(pl.Int64))
        .select(
            "acct",
            "account_no",
            "cls",
            "balance",
            "opening",
            "final",
            "extra",
            "rows",
            "total_rows",
        )
        .collect()
    )


def _ledger(plan: _Plan, accounts: pl.DataFrame) -> pl.DataFrame:
    """Every ledger row of the accounts, account by account: ``account_no``, ``posted_at``,
    ``amount``, ``memo``, and ``round_2`` (true for the rows posted between the cut-offs)."""
    t = _tables()
    lf = (
        accounts.lazy()
        .filter(pl.col("total_rows") > 0)
        .with_columns(j=pl.int_ranges(0, pl.col("total_rows"), dtype=pl.Int64))
        .explode("j")
    )
    j, k = pl.col("j"), pl.col("rows")
    is_extra = j >= k
    is_middle = (j >= 1) & (j <= k - 2)
    is_final = ~is_extra & (j == k - 1)
    lf = lf.with_columns(r=_draw(plan, "row", pl.col("acct") * _u(16) + j.cast(pl.UInt64)))
    r = pl.col("r")
    middle = (
        pl.when(_digits(r, 0, 2) < 60)  # deposits, half of them in round hundreds
        .then(
            pl.when(_digits(r, 2, 1) < 5)
            .then((1 + _digits(r, 3, 2) % 50) * 10000)
            .otherwise(10000 + _digits(r, 3, 6) % 790000)
        )
        .otherwise(-(1000 + _digits(r, 3, 6) % 299000))
    )
    lf = lf.with_columns(middle=pl.when(is_middle).then(middle).otherwise(0)).with_columns(
        cs=pl.col("middle").cum_sum()
    )
    # the sum of an account's middle rows, on its last row and (filled back) its opening row
    before = pl.when(j == 0).then(pl.col("cs")).otherwise(None).forward_fill()
    lf = lf.with_columns(
        middle_sum=pl.when(is_final).then(pl.col("cs") - before).otherwise(None).backward_fill()
    )
    # the opening balance makes the planned last row land on the balance wanted at the
    # cut-off; where it would be negative: a small opening, and a last row making up the rest
    wanted = pl.col("balance") - pl.col("middle_sum") - pl.col("final")
    opening = pl.when(wanted >= 0).then(wanted).otherwise(pl.col("opening"))
    amount = (
        pl.when(is_extra)
        .then(pl.col("extra"))
        .when(j == 0)
        .then(opening)
        .when(is_middle)
        .then(pl.col("middle"))
        .otherwise(pl.col("balance") - opening - pl.col("middle_sum"))
    )
    middle_end = plan.cutoff_1 - 7 * _DAY
    slot = (middle_end - plan.middle_start) // (k - 2).clip(lower_bound=1)
    late = _digits(r, 9, 7)
    posted = (
        pl.when(is_extra)  # between the cut-offs
        .then(plan.cutoff_1 + 3600 + late % (plan.cutoff_2 - plan.cutoff_1 - 3660))
        .when(j == 0)
        .then(plan.opening)
        .when(is_middle)  # one in each slot of last month and this one, so in order
        .then(plan.middle_start + (j - 1) * slot + late % slot)
        .otherwise(plan.cutoff_1 - 6 * _DAY + late % (6 * _DAY - 60))  # the last six days
    )
    lf = lf.with_columns(posted=posted, amount_fen=amount)
    posted, amount = pl.col("posted"), pl.col("amount_fen")
    day = _gather(plan.ledger_days, posted // _DAY - plan.opening // _DAY)
    date_only = ((j == 0) & ~is_extra) | (_digits(r, 16, 1) == 0)
    memo = (
        pl.when(is_extra & (pl.col("cls") == NO_ACCOUNT_RECOVER))
        .then(_MEMO_OPENED)
        .when(j == 0)
        .then(_MEMO_OPENING)
        .otherwise(_digits(r, 17, 1) % 5 + pl.when(amount < 0).then(5).otherwise(0))
    )
    return lf.select(
        "account_no",
        posted_at=pl.when(date_only)
        .then(day)
        .otherwise(pl.concat_str(day, pl.lit(" "), _gather(t.clock, posted % _DAY))),
        amount=_fen_text(amount, t.cents),
        memo=_gather(t.memos, memo),
        round_2=is_extra,
    ).collect()


# --------------------------------------------------------------------------- writing


@dataclass
class _Output:
    path: Path
    temp: Path
    handle: IO[bytes]
    rows: int = 0

    def write(self, frame: pl.DataFrame, header: bool) -> None:
        frame.write_csv(self.handle, include_header=header)
        self.rows += frame.height

    def finish(self) -> None:
        self.handle.flush()
        os.fsync(self.handle.fileno())
        self.handle.close()
        os.chmod(self.temp, narrowed(PRIVATE))


def _open(out: Path, name: str) -> _Output:
    remove_leftovers(out, name)
    prefix, suffix = temp_name(name)
    fd, temp = tempfile.mkstemp(prefix=prefix, suffix=suffix, dir=out)
    return _Output(out / name, Path(temp), os.fdopen(fd, "w+b"))


def _chunks(n: int, size: int) -> Iterator[tuple[int, int]]:
    for start in range(0, n, size):
        yield start, min(size, n - start)


def write_sample(
    out: Path,
    *,
    enrollees: int,
    month: Month,
    seed: int,
    pack: RulePack,
    chunk: int = CHUNK,
) -> dict[str, Any]:
    """Write ``enrollees.csv``, ``ledger.csv`` and ``ledger-round2.csv`` of ``month`` into
    ``out`` (each to a temporary name, all three renamed into place at the end) and return what
    was written: the files and their rows, the dates, counts by enrollee kind and account class.
    The same (seed, enrollees, month, pack) give the same bytes, whatever ``chunk`` is."""
    if enrollees < 1:
        raise BadInput("--enrollees: at least 1")
    if chunk < BLOCK or chunk % BLOCK:
        raise ValueError(f"chunk: a positive multiple of {BLOCK}")
    first, second = schedule_dates(
        pack.schedule, make_calendar(pack.schedule.calendar.value), month
    )
    plan = _plan(enrollees, month, seed, pack, first, second)
    out.mkdir(parents=True, exist_ok=True)
    outputs = [_open(out, name) for name in FILES]
    people, ledger_1, ledger_2 = outputs
    # round 2's own rows are gathered apart and appended to its ledger at the end
    later = _open(out, "ledger-round2-rows.csv")
    kinds = [0] * len(KIND_NAMES)
    classes = [0] * len(CLASS_NAMES)
    try:
        for start, n in _chunks(enrollees, chunk):
            frame = _enrollees(plan, start, n)
            people.write(frame.select(ENROLLEE_COLUMNS), start == 0)
            for kind, count in frame["kind"].value_counts().iter_rows():
                kinds[kind] += count
            accounts = _accounts(plan, frame)
            del frame
            for cls, count in accounts["cls"].value_counts().iter_rows():
                classes[cls] += count
            rows = _ledger(plan, accounts)
            del accounts
            before = rows.filter(~pl.col("round_2")).select(LEDGER_COLUMNS)
            ledger_1.write(before, start == 0)
            ledger_2.write(before, start == 0)
            later.write(rows.filter(pl.col("round_2")).select(LEDGER_COLUMNS), False)
            del rows, before
        later.handle.seek(0)
        shutil.copyfileobj(later.handle, ledger_2.handle, 1 << 20)
        ledger_2.rows += later.rows
        for output in outputs:
            output.finish()
        for output in outputs:
            os.replace(output.temp, output.path)
    except BaseException:
        for output in outputs:
            output.handle.close()
            output.temp.unlink(missing_ok=True)
        raise
    finally:
        later.handle.close()
        later.temp.unlink(missing_ok=True)
    return {
        "month": str(month),
        "seed": seed,
        "rules": pack.id,
        "calendar": pack.schedule.calendar.value,
        "enrollees": enrollees,
        "agencies": plan.agencies,
        "dates": {
            f"round_{d.round}": {
                "effective": d.effective.isoformat(),
                "deposit_by": d.deposit_by.isoformat(),
                "cutoff": d.cutoff.isoformat(sep=" "),
            }
            for d in (first, second)
        },
        "files": {output.path.name: output.rows for output in outputs},
        "kinds": dict(zip(KIND_NAMES, kinds, strict=True)),
        "accounts": dict(zip(CLASS_NAMES, classes, strict=True)),
    }
