"""A realistic synthetic month for ``mediins sample``: ``enrollees.csv``, ``ledger.csv`` (the
bank's export before round 1) and ``ledger-round2.csv`` (before round 2). Fake data only.

Everything is computed on whole columns with polars, never row by row. Each random draw is a
splitmix64 mix of a row's global number and a key taken from ``random.Random(seed)``, done in
UInt64 expressions (polars' UInt64 arithmetic wraps modulo 2**64, which is what the mix needs),
so a value depends on the seed and the row only: the same (seed, N) give the same bytes,
whatever the chunking, on any polars version. polars' own ``hash``/``sample``/``shuffle`` are
not used, since their output is not stable across versions.

Enrollees are generated in chunks (:data:`CHUNK` rows, a multiple of the 100-row block of
shared accounts below), appended to the files, so memory stays bounded whatever N is.

What the month holds, so that a round meets every case (shares are of enrollees or accounts):

- resident IDs over a few hundred real county codes from python-stdnum's table, each with a
  birth year in which stdnum knows the county (it checks that), unique by construction: the row
  number goes through an affine bijection onto (area and year, day of the year, sequence);
- names with common and polyphonic surnames (单 曾 解 仇 查 区 朴 乐 …, 欧阳 司马 长孙 …) and
  given names of one or two characters, the characters leaning to the sex in the ID;
- statuses and histories: ~80 % paying regularly (paid through last month); gaps of 1–30
  months; never paid; in a waiting period after a re-enrollment; enrolled last month (new,
  covered from this month) or this month (not yet covered); already paid (this month or ahead);
  suspended and terminated;
- accounts of 16–19 digits (Luhn check digit) at several banks, some shared by 2 or 3
  enrollees; funded, short in round 1 and topped up before round 2, short in both, overdrawn,
  and accounts with no ledger row (some of which appear before round 2).

Round 1's ledger holds an opening balance (the last day of the month before last), ordinary
deposits and card withdrawals, and each account's latest row in the six days before round 1's
cut-off (so the ledger is not stale). Round 2's ledger is every row of round 1's plus rows posted
between the two cut-offs; it holds none of round 1's debits (mediins subtracts them itself).
"""

from __future__ import annotations

import functools
import math
import os
import random
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import polars as pl

from mediins_cli.calendar import RoundDates, make_calendar, schedule_dates
from mediins_cli.months import Month
from mediins_cli.outputs import PRIVATE, narrowed
from mediins_cli.tempnames import remove_leftovers, temp_name

if TYPE_CHECKING:
    from mediins_cli.rules import RulePack

#: enrollees per chunk (a multiple of the 100-row block of shared accounts)
CHUNK = 2_000_000
BLOCK = 100

ENROLLEE_COLUMNS = [
    "enrollee_id", "id_type", "name", "sex", "birth_date", "agency", "status", "enrolled_on",
    "paid_through", "waiting_until", "monthly_premium", "account_no", "bank",
]  # fmt: skip
LEDGER_COLUMNS = ["account_no", "posted_at", "amount", "memo"]
FILES = ("enrollees.csv", "ledger.csv", "ledger-round2.csv")

# --------------------------------------------------------------------------- tables

#: (surname, weight per 10,000): common surnames roughly by frequency, then surnames read
#: differently as surnames (曾 zeng, 单 shan …) and compound ones, so the agency lists' pinyin
#: order meets them
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
    "伟强磊军勇杰涛斌超明刚平辉鹏飞鑫波浩凯健俊帆帅旭龙峰建国东志亮成兵博睿晨轩泽宏庆彬毅岩松刚振"
)
FEMALE_CHARS = (
    "芳娜敏静丽艳娟霞秀燕玲桂丹萍红梅琳颖雪倩婷慧洁莉云琴晶妍茜蕾璐怡悦涵萱淑兰凤英菲薇媛珊"
)
NEUTRAL_CHARS = "子宇雨嘉文思一佳可安心春秋晓海天清新永玉金乐长朝重行华林欣宁平"

#: bank code → (card number prefixes, length of the card number)
BANKS: tuple[tuple[str, tuple[str, ...], int, int], ...] = (
    # code, prefixes, digits, weight per 1,000
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
#: monthly premiums in fen with weights per 100 (sample_data's three levels)
PREMIUMS: tuple[tuple[int, int], ...] = ((61995, 60), (70353, 30), (85827, 10))
DEPOSIT_MEMOS = ("现金存入", "转账存入", "工资", "ATM存款", "手机银行转入")
WITHDRAWAL_MEMOS = ("ATM取款", "POS消费", "转账支出", "快捷支付", "网银转账")

# Enrollee kinds, by share per 10,000 (in this order).
REGULAR, WAITING, NEW, THIS_MONTH, PAID, GAP, NEVER, SUSPENDED, TERMINATED = range(9)
KIND_NAMES = (
    "regular", "waiting_period", "new", "enrolled_this_month", "already_paid", "gap",
    "never_paid", "suspended", "terminated",
)  # fmt: skip
KIND_SHARES = (
    (TERMINATED, 150),
    (SUSPENDED, 250),
    (THIS_MONTH, 150),
    (NEW, 300),
    (PAID, 300),
    (GAP, 600),
    (NEVER, 100),
    (WAITING, 200),
)  # fmt: skip; the rest is REGULAR
DUE_KINDS = (REGULAR, WAITING, NEW, GAP, NEVER)

# Account classes, by share per 10,000 (in this order); accounts of enrollees with a gap, never
# paid or in a waiting period draw from the first 2,500 only (a quarter of them run short).
FUNDED, SHORT_RECOVER, SHORT_BOTH, OVERDRAWN, NO_ACCOUNT, NO_ACCOUNT_RECOVER = range(6)
CLASS_NAMES = (
    "funded", "short_round_1_recovers", "short_both_rounds", "overdrawn", "no_account",
    "no_account_opened_before_round_2",
)  # fmt: skip
CLASS_SHARES = (
    (NO_ACCOUNT, 60),
    (NO_ACCOUNT_RECOVER, 30),
    (SHORT_RECOVER, 300),
    (SHORT_BOTH, 200),
    (OVERDRAWN, 40),
)  # fmt: skip; the rest is FUNDED
RISKY_CLASS_RANGE = 2500

GAMMA = 0x9E3779B97F4A7C15
_EPOCH = date(1970, 1, 1)
_DAY = 86400
_MONTH_BASE = 1900 * 12
_MONTH_SPAN = 300 * 12  # 1900-01 .. 2199-12
BIG = 1 << 40


def _u(value: int) -> pl.Expr:
    return pl.lit(value, dtype=pl.UInt64)


def _mix(x: pl.Expr) -> pl.Expr:
    """splitmix64's output function (UInt64 arithmetic wraps; ``//`` by 2**k is a shift)."""
    z = x + _u(GAMMA)
    z = (z ^ (z // _u(1 << 30))) * _u(0xBF58476D1CE4E5B9)
    z = (z ^ (z // _u(1 << 27))) * _u(0x94D049BB133111EB)
    return z ^ (z // _u(1 << 31))


def _digits(r: pl.Expr, position: int, width: int) -> pl.Expr:
    """Decimal digits ``position`` … ``position + width`` of a draw, as Int64 (a small
    uniform number in 0 … 10**width − 1)."""
    return ((r // _u(10**position)) % _u(10**width)).cast(pl.Int64)


def _lookup(table: list[Any], dtype: pl.DataType) -> pl.Series:
    return pl.Series(values=table, dtype=dtype)


def _weighted(pairs: tuple[tuple[Any, int], ...], total: int, rest: Any) -> list[Any]:
    """A table of ``total`` entries, each value as many times as its weight, then ``rest``."""
    table: list[Any] = []
    for value, weight in pairs:
        table += [value] * weight
    return table + [rest] * (total - len(table))


# --------------------------------------------------------------------------- areas


def _county_years(county: str, lo: int, hi: int) -> list[int]:
    """The years in lo..hi for which python-stdnum accepts a county entry such as
    ``[1983-2019]桥东区,[2020-]襄都区`` (the logic of ``stdnum.cn.ric.get_birth_place``)."""
    years = []
    for year in range(lo, hi + 1):
        for entry in county.split(","):
            if not entry.startswith("["):
                years.append(year)
                break
            start, end = entry[1:].split("]")[0].split("-")
            if (not start or year >= int(start)) and (not end or year <= int(end)):
                years.append(year)
                break
    return years


@functools.lru_cache(maxsize=8)
def area_years(lo: int, hi: int, wanted: int = 400) -> tuple[tuple[str, int], ...]:
    """(county code, birth year) pairs stdnum knows: about ``wanted`` county-level codes spread
    over the table (every k-th of those valid for at least 20 years of lo..hi), each with the
    years of lo..hi in which it is valid."""
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


# --------------------------------------------------------------------------- context


@dataclass(frozen=True)
class _Plan:
    """Everything a chunk needs: the dates as numbers, the keys and the lookup tables."""

    n: int
    month_index: int
    cutoff_1: int  # epoch seconds of round 1's cut-off (00:00 of its effective date)
    cutoff_2: int
    opening: int  # epoch seconds of the opening balances (last day of the month before last)
    middle_start: int
    keys: dict[str, int]
    id_a: int
    id_b: int
    id_domain: int
    acct_a: int
    acct_b: int
    agencies: int
    waiting_days: int
    areas: pl.Series
    area_year_days: pl.Series  # epoch days of 1 January of each pair's birth year
    month_start: pl.Series  # epoch days of the first of each month from 1900-01
    month_len: pl.Series


def _epoch_seconds(moment: datetime) -> int:
    return int((moment - datetime(1970, 1, 1)).total_seconds())


def _epoch_days(day: date) -> int:
    return (day - _EPOCH).days


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
        raise ValueError(f"--enrollees: at most {id_domain:,} for this generator")
    rng = random.Random(f"mediins-sample:{seed}")
    keys = {name: rng.getrandbits(64) for name in ("kind", "name", "extra", "account", "row")}
    id_a = _coprime(rng, id_domain)
    id_b = rng.randrange(id_domain)
    acct_a = _coprime(rng, 10**9)
    acct_b = rng.randrange(10**9)
    months = [(1900 + m // 12, m % 12 + 1) for m in range(_MONTH_SPAN)]
    starts = [_epoch_days(date(y, mo, 1)) for y, mo in months]
    lengths = [Month(y, mo).days for y, mo in months]
    wp = pack.waiting_period
    waiting_days = wp.length.value * (30 if wp.unit.value == "months" else 1)
    return _Plan(
        n=n,
        month_index=month.year * 12 + month.month - 1,
        cutoff_1=_epoch_seconds(first.cutoff),
        cutoff_2=_epoch_seconds(second.cutoff),
        opening=_epoch_seconds(datetime.combine(month.shift(-2).last_day, datetime.min.time())),
        middle_start=_epoch_seconds(
            datetime.combine(month.shift(-1).first_day, datetime.min.time())
        ),
        keys=keys,
        id_a=id_a,
        id_b=id_b,
        id_domain=id_domain,
        acct_a=acct_a,
        acct_b=acct_b,
        agencies=max(5, min(500, n // 20000)),
        waiting_days=waiting_days,
        areas=_lookup([code for code, _ in pairs], pl.String),
        area_year_days=_lookup([_epoch_days(date(y, 1, 1)) for _, y in pairs], pl.Int64),
        month_start=_lookup(starts, pl.Int64),
        month_len=_lookup(lengths, pl.Int64),
    )


def _draw(plan: _Plan, stream: str, index: pl.Expr) -> pl.Expr:
    return _mix(index * _u(GAMMA) + _u(plan.keys[stream]))


# --------------------------------------------------------------------------- formatting


def _fen_text(fen: pl.Expr) -> pl.Expr:
    """Signed yuan with two decimals from integer fen (``-5`` → ``-0.05``)."""
    magnitude = fen.abs()
    return pl.concat_str(
        pl.when(fen < 0).then(pl.lit("-")).otherwise(pl.lit("")),
        (magnitude // 100).cast(pl.String),
        pl.lit("."),
        (magnitude % 100).cast(pl.String).str.zfill(2),
    )


def _day_text(days: pl.Expr) -> pl.Expr:
    return days.cast(pl.Int32).cast(pl.Date).dt.strftime("%Y-%m-%d")


def _month_text(index: pl.Expr) -> pl.Expr:
    return pl.concat_str(
        (index // 12).cast(pl.String), pl.lit("-"), (index % 12 + 1).cast(pl.String).str.zfill(2)
    )


def _gather(table: pl.Series, index: pl.Expr) -> pl.Expr:
    return pl.lit(table).gather(index)


# --------------------------------------------------------------------------- enrollees


def _enrollees(plan: _Plan, start: int, n: int) -> pl.DataFrame:
    """Rows ``start`` … ``start + n − 1`` of the enrollee file, with the helper columns the
    accounts need (``acct``, ``size``, ``due_fen``, ``kind``, ``premium_fen``)."""
    mi = plan.month_index
    i = pl.col("i")
    kinds = _lookup(_weighted(KIND_SHARES, 10000, REGULAR), pl.Int64)
    surnames = _lookup(_weighted(SURNAMES, sum(w for _, w in SURNAMES), ""), pl.String)
    premiums = _lookup(_weighted(PREMIUMS, 100, 0), pl.Int64)
    male = _lookup(list(MALE_CHARS + NEUTRAL_CHARS), pl.String)
    female = _lookup(list(FEMALE_CHARS + NEUTRAL_CHARS), pl.String)
    banks = _lookup(_weighted(tuple((k, b[3]) for k, b in enumerate(BANKS)), 1000, 0), pl.Int64)

    frame = pl.DataFrame({"i": pl.int_range(start, start + n, dtype=pl.UInt64, eager=True)})
    pos = (i % _u(BLOCK)).cast(pl.Int64)
    frame = frame.with_columns(
        rk=_draw(plan, "kind", i),
        rn=_draw(plan, "name", i),
        rx=_draw(plan, "extra", i),
        # shared accounts: rows 0–1 and 50–51 of each block of 100 are pairs, 10–12 a triple
        off=pl.when(pos.is_in([1, 11, 51])).then(1).when(pos == 12).then(2).otherwise(0),
        size=pl.when(pos.is_in([0, 50])).then(2).when(pos == 10).then(3).otherwise(1),
        # the resident ID: an affine bijection of the row number onto (area-year, day, sequence)
        j=(i * _u(plan.id_a) + _u(plan.id_b)) % _u(plan.id_domain),
    )
    frame = frame.with_columns(
        acct=pl.col("i") - pl.col("off").cast(pl.UInt64),
        kind=_gather(kinds, _digits(pl.col("rk"), 0, 4)),
        pair=(pl.col("j") // _u(365 * 999)).cast(pl.Int64),
        day=((pl.col("j") // _u(999)) % _u(365)).cast(pl.Int64),
        seq=(pl.col("j") % _u(999) + _u(1)).cast(pl.Int64),
    ).with_columns(
        birth=_gather(plan.area_year_days, pl.col("pair")) + pl.col("day"),
        male=pl.col("seq") % 2 == 1,
    )
    birth_date = pl.col("birth").cast(pl.Int32).cast(pl.Date)
    frame = frame.with_columns(
        id17=pl.concat_str(
            _gather(plan.areas, pl.col("pair")),
            birth_date.dt.strftime("%Y%m%d"),
            pl.col("seq").cast(pl.String).str.zfill(3),
        ),
        birth_month=(birth_date.dt.year().cast(pl.Int64) * 12 + birth_date.dt.month() - 1),
    )
    weighted = pl.col("id17").str.to_integer(base=13) % 11
    check = (23 - 2 * weighted) % 11
    lower_x = _digits(pl.col("rx"), 6, 1) == 0
    check_text = (
        pl.when(check == 10)
        .then(pl.when(lower_x).then(pl.lit("x")).otherwise(pl.lit("X")))
        .otherwise(check.cast(pl.String))
    )

    # histories: enrollment month ``em``, paid-through month ``pt`` (None = never), waiting
    kind = pl.col("kind")
    a = _digits(pl.col("rk"), 4, 2)
    b = _digits(pl.col("rk"), 6, 2)
    c = _digits(pl.col("rk"), 8, 4)
    gap = 1 + (a * a * 30) // 10000  # 1 … 30 months, short gaps the most common
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
    lowest = pl.col("birth_month") + 18 * 12
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
        .then(
            pl.max_horizontal(pl.col("pt") - 1 - c % 120, lowest).clip(upper_bound=pl.col("pt") - 1)
        )
        .otherwise(pl.max_horizontal(mi - 7 - c % 200, lowest).clip(upper_bound=mi - 2))
    )
    frame = frame.with_columns(pt=paid_through).with_columns(em=enrolled_month)
    em_row = pl.col("em") - _MONTH_BASE
    frame = frame.with_columns(
        enrolled=_gather(plan.month_start, em_row)
        + _digits(pl.col("rk"), 12, 4) % _gather(plan.month_len, em_row)
    )
    waiting = (
        pl.when(kind.is_in([WAITING, NEW, THIS_MONTH]) | ((kind == NEVER) & (b % 2 == 0)))
        .then(pl.col("enrolled") + 15 + plan.waiting_days + _digits(pl.col("rk"), 16, 2) % 25)
        .otherwise(None)
    )

    # names: surname, then one (a fifth) or two characters leaning to the sex in the ID
    rn = pl.col("rn")
    chars = pl.when(pl.col("male"))
    n_male, n_female = len(male), len(female)
    first = chars.then(_gather(male, _digits(rn, 4, 4) % n_male)).otherwise(
        _gather(female, _digits(rn, 4, 4) % n_female)
    )
    second = chars.then(_gather(male, _digits(rn, 8, 4) % n_male)).otherwise(
        _gather(female, _digits(rn, 8, 4) % n_female)
    )
    name = pl.concat_str(
        _gather(surnames, _digits(rn, 0, 4) % len(surnames)),
        first,
        pl.when(_digits(rn, 12, 2) < 20).then(pl.lit("")).otherwise(second),
    )
    agency_u = _digits(rn, 14, 4)  # squared: a few large agencies, many small ones
    agency = pl.concat_str(
        pl.lit("AG-"),
        (agency_u * agency_u * plan.agencies // 10**8 + 1).cast(pl.String).str.zfill(4),
    )
    rx = pl.col("rx")
    sex_filled = _digits(rx, 0, 2) < 20
    chinese_sex = _digits(rx, 2, 2) < 15
    sex = pl.when(sex_filled).then(
        pl.when(chinese_sex)
        .then(pl.when(pl.col("male")).then(pl.lit("男")).otherwise(pl.lit("女")))
        .otherwise(pl.when(pl.col("male")).then(pl.lit("M")).otherwise(pl.lit("F")))
    )
    status = (
        pl.when(kind == SUSPENDED)
        .then(pl.lit("suspended"))
        .when(kind == TERMINATED)
        .then(pl.lit("terminated"))
        .otherwise(pl.lit("active"))
    )

    # the account: bank and number from the account's own draw, so members share them
    ra = _draw(plan, "account", pl.col("acct"))
    frame = frame.with_columns(
        ra=ra, premium_fen=_gather(premiums, _digits(rx, 9, 2))
    ).with_columns(bank_k=_gather(banks, _digits(pl.col("ra"), 0, 3)))
    bank_prefix = pl.lit(pl.Series([p for b in BANKS for p in b[1]]))
    prefix = bank_prefix.gather(pl.col("bank_k") * 2 + _digits(pl.col("ra"), 3, 1) % 2)
    digits = _gather(_lookup([b[2] for b in BANKS], pl.Int64), pl.col("bank_k"))
    # the payload before the check digit: the bank's prefix, then a body unique per account
    # (an affine bijection of the account number modulo 10**m, the multiplier prime to 10)
    body = (pl.col("acct") * _u(plan.acct_a) + _u(plan.acct_b)) % _pow10(digits - 7)
    payload = prefix.cast(pl.UInt64) * _pow10(digits - 7) + body
    frame = frame.with_columns(payload=payload)
    account_no = pl.concat_str(pl.col("payload").cast(pl.String), _luhn(pl.col("payload")))
    bank = _gather(_lookup([b[0] for b in BANKS], pl.String), pl.col("bank_k"))

    frame = frame.with_columns(
        enrollee_id=pl.concat_str(pl.col("id17"), check_text),
        id_type=pl.when(_digits(rx, 4, 2) < 70).then(pl.lit("ric")),
        name=name,
        sex=sex,
        birth_date=pl.when(_digits(rx, 7, 2) < 8).then(birth_date.dt.strftime("%Y-%m-%d")),
        agency=agency,
        status=status,
        enrolled_on=_day_text(pl.col("enrolled")),
        paid_through=_month_text(pl.col("pt")),
        waiting_until=_day_text(waiting),
        monthly_premium=_fen_text(pl.col("premium_fen")),
        account_no=account_no,
        bank=bank,
        due_fen=pl.when(kind.is_in(DUE_KINDS)).then(pl.col("premium_fen")).otherwise(0),
    )
    return frame.select(
        *ENROLLEE_COLUMNS, "acct", "size", "off", "kind", "premium_fen", "due_fen", "ra"
    )


def _pow10(exponent: pl.Expr) -> pl.Expr:
    """10**exponent for a small Int64 column, as UInt64."""
    table = _lookup([10**k for k in range(19)], pl.UInt64)
    return _gather(table, exponent)


def _luhn(payload: pl.Expr) -> pl.Expr:
    """The Luhn check digit of a number of up to 18 digits (bank card numbers)."""
    total = pl.lit(0, dtype=pl.Int64)
    for k in range(18):
        digit = ((payload // _u(10**k)) % _u(10)).cast(pl.Int64)
        if k % 2 == 0:  # the digit next to the check digit is doubled
            digit = pl.when(digit >= 5).then(2 * digit - 9).otherwise(2 * digit)
        total = total + digit
    return ((10 - total % 10) % 10).cast(pl.String)


# --------------------------------------------------------------------------- accounts, ledger


def _accounts(plan: _Plan, enrollees: pl.DataFrame) -> pl.DataFrame:
    """One row per account (its first member's row): what its members owe, its class, its
    balance at round 1's cut-off (``balance``), the rows it has and round 2's extra row."""
    due = pl.col("due_fen")
    due_1 = due.shift(-1).fill_null(0)
    due_2 = due.shift(-2).fill_null(0)
    low = pl.when(due > 0).then(due).otherwise(BIG)
    low_1 = low.shift(-1).fill_null(BIG)
    low_2 = low.shift(-2).fill_null(BIG)
    size = pl.col("size")
    frame = enrollees.select(
        "acct",
        "account_no",
        "kind",
        "off",
        "ra",
        total=due
        + pl.when(size >= 2).then(due_1).otherwise(0)
        + pl.when(size == 3).then(due_2).otherwise(0),
        lowest=pl.min_horizontal(
            low,
            pl.when(size >= 2).then(low_1).otherwise(BIG),
            pl.when(size == 3).then(low_2).otherwise(BIG),
        ),
    ).filter(pl.col("off") == 0)
    classes = _lookup(_weighted(CLASS_SHARES, 10000, FUNDED), pl.Int64)
    ra = pl.col("ra")
    rb = _draw(plan, "account", pl.col("acct") + _u(1 << 62))
    v = _digits(ra, 4, 4)
    risky = pl.col("kind").is_in([GAP, NEVER, WAITING])
    frame = frame.with_columns(
        rb=rb,
        cls=_gather(classes, pl.when(risky).then(v % RISKY_CLASS_RANGE).otherwise(v)),
    )
    if frame.height and frame["acct"][0] == 0:  # the first account always has rows
        frame = frame.with_columns(
            cls=pl.when(pl.col("acct") == 0).then(FUNDED).otherwise(pl.col("cls"))
        )
    cls, total, lowest = pl.col("cls"), pl.col("total"), pl.col("lowest")
    rb = pl.col("rb")
    x, y, z, w = _digits(rb, 0, 4), _digits(rb, 4, 6), _digits(rb, 10, 5), _digits(rb, 15, 2)
    margin = (
        pl.when(x % 20 == 0)
        .then(0)
        .otherwise(y % 300000 + pl.when(x % 5 == 1).then(z * 100).otherwise(0))
    )
    owed = total > 0
    balance = (
        pl.when(~owed)
        .then(y * 2)
        .when(cls == SHORT_RECOVER)
        .then(y % pl.max_horizontal(total, 1))
        .when(cls == SHORT_BOTH)
        .then(y % lowest)
        .when(cls == OVERDRAWN)
        .then(-(1 + y % 50000))
        .otherwise(total + margin)
    )
    frame = frame.with_columns(margin=margin, balance=balance)
    top_up = total - pl.col("balance") + z * 2
    bal = pl.col("balance")
    round_2 = (
        pl.when(~owed)
        .then(pl.when(w < 10).then(1000 + z).otherwise(None))
        .when(cls.is_in([SHORT_RECOVER, NO_ACCOUNT_RECOVER]))
        .then(top_up)
        .when(cls == OVERDRAWN)
        .then(pl.when(w < 50).then(top_up).otherwise(None))
        .when(cls == SHORT_BOTH)
        .then(
            pl.when((w < 50) & (lowest - bal > 1))
            .then(1 + z % (lowest - bal - 1).clip(lower_bound=1))
            .when((w < 70) & (bal > 1))
            .then(-(1 + z % (bal - 1).clip(lower_bound=1)))
        )
        .when(cls == FUNDED)
        .then(
            pl.when(w < 8)
            .then(10000 + z * 3)
            .when((w < 15) & (pl.col("margin") > 0))
            .then(-(1 + z % pl.col("margin").clip(lower_bound=1)))
        )
    )
    has_rows = ~cls.is_in([NO_ACCOUNT, NO_ACCOUNT_RECOVER])
    return frame.with_columns(
        extra=round_2,
        rows=pl.when(has_rows).then(2 + _digits(rb, 17, 1) % 6).otherwise(0),
        opening=_digits(ra, 8, 5),  # a small opening balance, where one is needed
        final=pl.when(_digits(ra, 14, 1) < 7)  # the planned final row: mostly a deposit
        .then(
            pl.when(_digits(ra, 15, 1) < 5)
            .then((1 + _digits(ra, 16, 2) % 30) * 10000)
            .otherwise(10000 + _digits(ra, 16, 3) * 290)
        )
        .otherwise(-(1000 + _digits(ra, 16, 3) * 49)),
    ).with_columns(total_rows=pl.col("rows") + pl.col("extra").is_not_null().cast(pl.Int64))


def _ledger(plan: _Plan, accounts: pl.DataFrame) -> pl.DataFrame:
    """Every ledger row of the accounts, in account order: ``posted_at``, ``amount``, ``memo``
    and ``round_2`` (true for the rows posted between the cut-offs)."""
    rows = (
        accounts.filter(pl.col("total_rows") > 0)
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
        .with_columns(j=pl.int_ranges(0, pl.col("total_rows"), dtype=pl.Int64))
        .explode("j")
    )
    j, k = pl.col("j"), pl.col("rows")
    is_extra = j >= k
    r = _draw(plan, "row", pl.col("acct") * _u(16) + j.cast(pl.UInt64))
    rows = rows.with_columns(r=r)
    r = pl.col("r")
    is_middle = (j >= 1) & (j <= k - 2)
    deposit = _digits(r, 0, 2) < 60
    amount_middle = (
        pl.when(deposit)
        .then(
            pl.when(_digits(r, 2, 1) < 5)
            .then((1 + _digits(r, 3, 2) % 50) * 10000)
            .otherwise(10000 + _digits(r, 3, 6) % 790000)
        )
        .otherwise(-(1000 + _digits(r, 3, 6) % 299000))
    )
    is_final = ~is_extra & (j == k - 1)
    rows = rows.with_columns(
        middle=pl.when(is_middle).then(amount_middle).otherwise(0),
    ).with_columns(cs=pl.col("middle").cum_sum())
    # the sum of an account's middle rows, on its final row and (filled back) its opening row
    before = pl.when(j == 0).then(pl.col("cs")).otherwise(None).forward_fill()
    rows = rows.with_columns(
        middle_sum=pl.when(is_final).then(pl.col("cs") - before).otherwise(None).backward_fill()
    )
    # the opening balance makes the planned final row land on the balance wanted at the
    # cut-off; where it would be negative, a small opening and a final row that makes up the rest
    wanted = pl.col("balance") - pl.col("middle_sum") - pl.col("final")
    opening = pl.when(wanted >= 0).then(wanted).otherwise(pl.col("opening"))
    middle_end = plan.cutoff_1 - 7 * _DAY
    slot = (middle_end - plan.middle_start) // (k - 2).clip(lower_bound=1)
    window_2 = plan.cutoff_2 - plan.cutoff_1 - 3600 - 60
    late = _digits(r, 9, 7)
    posted = (
        pl.when(is_extra)
        .then(plan.cutoff_1 + 3600 + late % window_2)
        .when(j == 0)
        .then(plan.opening)
        .when(is_middle)
        .then(plan.middle_start + (j - 1) * slot + late % slot)
        .otherwise(plan.cutoff_1 - 6 * _DAY + late % (6 * _DAY - 60))
    )
    amount = (
        pl.when(is_extra)
        .then(pl.col("extra"))
        .when(j == 0)
        .then(opening)
        .when(is_middle)
        .then(pl.col("middle"))
        .otherwise(pl.col("balance") - opening - pl.col("middle_sum"))
    )
    rows = rows.with_columns(posted=posted, amount_fen=amount)
    date_only = ((j == 0) & ~is_extra) | (_digits(r, 16, 1) == 0)
    stamp = pl.from_epoch(pl.col("posted"), time_unit="s").dt.strftime("%Y-%m-%d %H:%M:%S")
    memo_k = _digits(r, 17, 1) % 5
    amount_fen = pl.col("amount_fen")
    memo = (
        pl.when(is_extra & (pl.col("cls") == NO_ACCOUNT_RECOVER))
        .then(pl.lit("开户存入"))
        .when(j == 0)
        .then(pl.lit("期初余额"))
        .when(amount_fen >= 0)
        .then(_gather(_lookup(list(DEPOSIT_MEMOS), pl.String), memo_k))
        .otherwise(_gather(_lookup(list(WITHDRAWAL_MEMOS), pl.String), memo_k))
    )
    return rows.select(
        "account_no",
        posted_at=pl.when(date_only).then(stamp.str.slice(0, 10)).otherwise(stamp),
        amount=_fen_text(amount_fen),
        memo=memo,
        round_2=is_extra,
    )


# --------------------------------------------------------------------------- writing


@dataclass
class _Output:
    path: Path
    temp: Path
    handle: IO[bytes]
    rows: int = 0
    started: bool = False

    def write(self, frame: pl.DataFrame) -> None:
        frame.write_csv(self.handle, include_header=not self.started)
        self.started = True
        self.rows += frame.height


def _open(out: Path, name: str) -> _Output:
    remove_leftovers(out, name)
    prefix, suffix = temp_name(name)
    fd, temp = tempfile.mkstemp(prefix=prefix, suffix=suffix, dir=out)
    return _Output(out / name, Path(temp), os.fdopen(fd, "wb"))


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
    """Write ``enrollees.csv``, ``ledger.csv`` and ``ledger-round2.csv`` for ``month`` into
    ``out`` (each written to a temporary name and renamed into place at the end) and return
    what was written: files and rows, dates, counts by enrollee kind and account class."""
    if enrollees < 1:
        raise ValueError("--enrollees: at least 1")
    if chunk < BLOCK or chunk % BLOCK:
        raise ValueError(f"chunk: a positive multiple of {BLOCK}")
    first, second = schedule_dates(
        pack.schedule, make_calendar(pack.schedule.calendar.value), month
    )
    plan = _plan(enrollees, month, seed, pack, first, second)
    out.mkdir(parents=True, exist_ok=True)
    outputs = [_open(out, name) for name in FILES]
    people, ledger_1, ledger_2 = outputs
    kinds = [0] * len(KIND_NAMES)
    classes = [0] * len(CLASS_NAMES)
    try:
        for start, n in _chunks(enrollees, chunk):
            frame = _enrollees(plan, start, n)
            people.write(frame.select(ENROLLEE_COLUMNS))
            for kind, count in frame["kind"].value_counts().iter_rows():
                kinds[kind] += count
            accounts = _accounts(plan, frame)
            del frame
            for cls, count in accounts["cls"].value_counts().iter_rows():
                classes[cls] += count
            rows = _ledger(plan, accounts)
            del accounts
            ledger_2.write(rows.select(LEDGER_COLUMNS))
            ledger_1.write(rows.filter(~pl.col("round_2")).select(LEDGER_COLUMNS))
            del rows
        for output in outputs:
            output.handle.flush()
            os.fsync(output.handle.fileno())
            output.handle.close()
            os.chmod(output.temp, narrowed(PRIVATE))
        for output in outputs:
            os.replace(output.temp, output.path)
    except BaseException:
        for output in outputs:
            output.handle.close()
            output.temp.unlink(missing_ok=True)
        raise
    return {
        "month": str(month),
        "seed": seed,
        "rules": pack.id,
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
