"""Generate the mediins sample month: ``enrollees.csv`` and ``ledger.csv`` for run month 2024-02.

Fake data only. 50 flexible-employment enrollees (Beijing rules) and their bank ledger from the
opening balances on 2023-12-31 up to 2024-02-21. Round 1 of 2024-02 is due on the 12th, which falls
in the Spring Festival holiday and rolls to Sun 2024-02-18 (a make-up working day): deposits count if
posted before 2024-02-18 00:00. Round 2 is due on Thu 2024-02-22: deposits count if posted before
2024-02-22 00:00.

The rows that exercise edge cases are written out by hand in ``TRICKY`` / ``PLANS`` below (see
README.md for the expected outcome of each); the other enrollees are filled in deterministically
from ``random.Random(20240201)``. Money is handled in integer fen throughout. Before writing, the
script replays both rounds with a tiny reference model of DESIGN.md section 4 and asserts that every
tricky row ends the way README.md says, so the files cannot drift from the documentation.

Run from the repository root (needs only the standard library and python-stdnum)::

    python sample_data/make_sample.py

It rewrites ``sample_data/enrollees.csv`` and ``sample_data/ledger.csv``; running it again gives
byte-identical files.
"""

import csv
import datetime as dt
import random
from pathlib import Path

from stdnum.cn import ric

HERE = Path(__file__).resolve().parent

RUN_MONTH = "2024-02"
R1_CUTOFF = dt.datetime(2024, 2, 18)  # round 1 effective Sun 2024-02-18; deposit by 2024-02-17
R2_CUTOFF = dt.datetime(2024, 2, 22)  # round 2 effective Thu 2024-02-22; deposit by 2024-02-21
JAN_CUTOFF = {"R1": dt.datetime(2024, 1, 12), "R2": dt.datetime(2024, 1, 25)}
JAN_POSTED = {"R1": "2024-01-12 06:00:00", "R2": "2024-01-25 06:00:00"}
LEDGER_END = dt.datetime(2024, 2, 22)  # no ledger row on or after this instant

ENROLLEE_COLUMNS = [
    "enrollee_id", "id_type", "name", "sex", "birth_date", "agency", "status", "enrolled_on",
    "paid_through", "waiting_until", "monthly_premium", "account_no", "bank", "remark",
]
# "reference" holds only references of mediins debits (unique); the bank's description of any
# other row goes in "memo", an extra column the tool carries through untouched.
LEDGER_COLUMNS = ["account_no", "posted_at", "amount", "reference", "memo"]

AGENCIES = {
    "DC-RC01": "东城区人才服务中心",
    "XC-SB02": "西城区社会保险代理处",
    "CY-ZJ03": "朝阳区职业介绍服务中心",
    "HD-RC04": "海淀区人才服务中心",
    "FT-SB05": "丰台区社会保险代理处",
}
PREMIUMS = ("619.95", "703.53", "858.27")
BANK_PREFIXES = {"BOB": ("6214", "6223"), "PSBC": ("6217", "6221")}

# Outcome codes used in the expectations below (round 2 = None: not attempted in round 2).
OK, SHORT, NO_ACCOUNT = "SUCCESS", "INSUFFICIENT_FUNDS", "NO_ACCOUNT"
INACTIVE, NOT_STARTED, ALREADY_PAID = "INACTIVE", "NOT_STARTED", "ALREADY_PAID"


# --------------------------------------------------------------------------------------------
# Hand-written tricky rows. Keys starting with "_" are not written: _jan = how January was paid
# by withholding (R1/R2/None), _r1/_r2 = expected outcome of February round 1 / round 2.
# --------------------------------------------------------------------------------------------
def row(enrollee_id, name, agency, enrolled_on, paid_through, premium, account_no, *,
        id_type="ric", sex="", birth_date="", status="active", waiting_until="", remark="",
        jan="R1", r1=OK, r2=None):
    bank = next(b for b, prefixes in BANK_PREFIXES.items() if account_no.startswith(prefixes))
    return {
        "enrollee_id": enrollee_id, "id_type": id_type, "name": name, "sex": sex,
        "birth_date": birth_date, "agency": agency, "status": status, "enrolled_on": enrolled_on,
        "paid_through": paid_through, "waiting_until": waiting_until, "monthly_premium": premium,
        "account_no": account_no, "bank": bank, "remark": remark,
        "_jan": jan, "_r1": r1, "_r2": r2,
    }


ACCT_PAIR_A = "6214830100007326"     # 曾志强 + 单丽: covers exactly one premium
ACCT_PAIR_B = "6217991000037184525"  # 解文博 + 仇晓燕: covers both, to 0.00
ACCT_TRIPLE = "6223090000155264172"  # 欧阳建国 + 司马秀兰 + 欧阳晓峰: covers two of three

TRICKY = [
    # Shared account, spouses. Listed larger id first on purpose: order is by enrollee_id.
    row("110101198407220464", "单丽", "DC-RC01", "2016-03-14", "2024-01", "619.95", ACCT_PAIR_A,
        sex="F", r1=SHORT, r2=SHORT, remark="与曾志强共用账户"),
    row("11010119820318123X", "曾志强", "DC-RC01", "2015-06-08", "2024-01", "619.95", ACCT_PAIR_A,
        id_type="", sex="M", birth_date="1982-03-18", r1=OK),
    # Shared account, spouses: the balance covers both premiums exactly.
    row("11010219791118031X", "解文博", "XC-SB02", "2012-09-03", "2024-01", "703.53", ACCT_PAIR_B,
        r1=OK),
    row("110102198104160288", "仇晓燕", "XC-SB02", "2013-04-22", "2024-01", "619.95", ACCT_PAIR_B,
        id_type="", sex="F", r1=OK, remark="与解文博共用账户"),
    # One account for a family of three: covers two of three in round 1; a deposit on 02-20
    # covers the third in round 2 (exactly, once round 1's two debits are subtracted).
    row("110105196810010156", "欧阳建国", "CY-ZJ03", "2011-11-16", "2024-01", "858.27", ACCT_TRIPLE,
        sex="M", birth_date="1968-10-01", r1=OK, remark="户主，家庭共用账户"),
    row("110105197106230627", "司马秀兰", "CY-ZJ03", "2011-11-16", "2024-01", "703.53", ACCT_TRIPLE,
        r1=OK),
    row("110105200009140376", "欧阳晓峰", "CY-ZJ03", "2022-07-11", "2024-01", "619.95", ACCT_TRIPLE,
        id_type="", r1=SHORT, r2=OK),
    # Short at the round-1 cut-off.
    row("110106198812030578", "查海涛", "FT-SB05", "2017-05-09", "2024-01", "703.53",
        "6214830100044196", sex="M", r1=SHORT, r2=OK),
    row("450103199005270843", "覃美玲", "CY-ZJ03", "2019-08-26", "2024-01", "619.95",
        "6217991000026730189", sex="F", birth_date="1990-05-27", r1=SHORT, r2=SHORT,
        remark="户籍广西南宁"),
    row("110108197602180197", "缪建华", "HD-RC04", "2010-02-01", "2024-01", "858.27",
        "6214830100062826", id_type="", r1=SHORT, r2=OK),
    row("130102199508090202", "翟雪", "XC-SB02", "2020-10-19", "2024-01", "619.95",
        "6221881000090345612", sex="F", r1=SHORT, r2=OK),
    row("222401198601300752", "朴成浩", "HD-RC04", "2018-12-03", "2024-01", "703.53",
        "6223090000218743022", r1=SHORT, r2=SHORT, remark="朝鲜族"),
    # Deposit timing at the round-1 cut-off.
    row("110108199203110887", "黄晓敏", "HD-RC04", "2019-03-18", "2024-01", "619.95",
        "6214830100073914", sex="F", r1=OK),
    row("370102198306060910", "孙浩", "FT-SB05", "2014-07-07", "2024-01", "703.53",
        "6217991000055271402", id_type="", r1=SHORT, r2=OK),
    # Account unknown to the bank: no ledger rows at all.
    row("420106199110170135", "马俊杰", "FT-SB05", "2021-05-10", "2024-01", "619.95",
        "6217991000088062356", sex="M", r1=NO_ACCOUNT, r2=NO_ACCOUNT,
        remark="1月更换银行卡，新卡号待核实"),
    # Not active: skipped although the accounts hold enough.
    row("110105198012250242", "何静", "CY-ZJ03", "2014-03-03", "2023-10", "703.53",
        "6214830100031243", status="suspended", jan=None, r1=INACTIVE, remark="本人申请暂停缴费"),
    row("510104199107040398", "罗永强", "DC-RC01", "2016-08-15", "2023-12", "858.27",
        "6221881000044702199", sex="M", status="suspended", jan=None, r1=INACTIVE),
    row("110102196909300621", "郭淑芬", "XC-SB02", "2009-05-11", "2023-12", "619.95",
        "6214830100028538", id_type="", status="terminated", jan=None, r1=INACTIVE,
        remark="2024-01-08 单位就业，终止灵活就业参保"),
    # New enrolments: coverage starts the month after enrolled_on.
    row("110108199904020665", "谢雨桐", "HD-RC04", "2024-01-15", "", "619.95",
        "6223090000304127866", sex="F", waiting_until="2024-07-29", jan=None, r1=OK,
        remark="首次参保"),
    row("11011420011101011X", "冯子轩", "DC-RC01", "2024-02-05", "", "619.95",
        "6214830100099174", id_type="", sex="M", waiting_until="2024-08-27", jan=None,
        r1=NOT_STARTED, remark="首次参保，3月起缴费"),
    # Already paid at the counter.
    row("110106197805150403", "邓丽华", "FT-SB05", "2013-10-14", "2024-02", "703.53",
        "6217991000011850638", r1=ALREADY_PAID, remark="2024-02-06 柜台缴纳2月"),
    row("110101197002280536", "韩志刚", "DC-RC01", "2008-06-30", "2024-03", "858.27",
        "6214830100016483", sex="M", jan=None, r1=ALREADY_PAID,
        remark="2023-12-28 柜台缴纳2024年1-3月"),
    # Gaps behind them.
    row("110105198708190823", "卢海燕", "CY-ZJ03", "2015-01-19", "2023-12", "619.95",
        "6214830100055069", sex="F", jan=None, r1=SHORT, r2=SHORT),
    row("110106198501070177", "蒋文涛", "FT-SB05", "2012-04-09", "2023-12", "703.53",
        "6221881000063518401", jan=None, r1=OK),
    row("110108197410010353", "曹国庆", "HD-RC04", "2010-10-08", "2023-11", "858.27",
        "6223090000177290536", id_type="", sex="M", birth_date="1974-10-01", jan=None, r1=OK,
        remark="2023年12月起未缴费"),
    row("110221199712120289", "袁梦琪", "HD-RC04", "2023-10-20", "2024-01", "703.53",
        "6214830100080752", sex="F", waiting_until="2024-04-28", r1=SHORT, r2=SHORT),
    # Control for 袁梦琪: in a waiting period and paying normally.
    row("11010219940909073X", "吕思远", "XC-SB02", "2023-09-11", "2024-01", "619.95",
        "6217991000072403913", waiting_until="2024-03-28", r1=OK,
        remark="等待期内, 请勿变更扣款账户"),
    # Documents other than a resident ID card: sex and birth_date given explicitly.
    row("H10293847", "区家豪", "DC-RC01", "2020-06-22", "2024-01", "703.53", "6214830100048627",
        id_type="hkmo", sex="M", birth_date="1989-03-21", r1=OK, remark="港澳居民来往内地通行证"),
    row("08123456", "林佳慧", "CY-ZJ03", "2021-09-13", "2024-01", "619.95", "6223090000255986104",
        id_type="tw", sex="F", birth_date="1993-11-05", r1=OK, remark="台湾居民来往大陆通行证"),
    row("E12345678", "SMITH JOHN", "HD-RC04", "2019-04-01", "2024-01", "858.27", "6214830100067338",
        id_type="passport", sex="M", birth_date="1980-06-15", r1=OK),
]

# Ledger plans for the tricky accounts. The opening-balance row is computed so that the balance
# at the round-1 cut-off is exactly "r1"; "r2" is the ledger balance at the round-2 cut-off
# (before subtracting round 1's debits, which the ledger does not contain). Both are asserted.
# "opening" overrides when and with what reference the first row is posted (default 2023-12-31).
PLANS = {
    ACCT_PAIR_A: dict(r1="1239.89", r2="1239.89", tx=[
        ("2024-01-05 18:22:10", "1000.00", "手机银行转入"),
        ("2024-02-02 12:40:51", "-88.00", "POS消费"),
    ]),
    ACCT_PAIR_B: dict(r1="1323.48", r2="1323.48", tx=[
        ("2024-02-09 09:15:00", "1323.48", "柜面现金存入"),
    ]),
    ACCT_TRIPLE: dict(r1="1861.80", r2="2181.75", tx=[
        ("2024-01-08 16:03:27", "2000.00", "跨行转入"),
        ("2024-02-20 09:12:45", "319.95", "手机银行转入"),
    ]),
    "6214830100044196": dict(r1="703.52", r2="803.52", tx=[        # 查海涛
        ("2024-01-26 20:11:09", "-150.00", "ATM取款"),
        ("2024-02-19 14:05:33", "100.00", "手机银行转入"),
    ]),
    "6217991000026730189": dict(r1="619.94", r2="619.94", tx=[     # 覃美玲
        ("2024-02-06 10:30:00", "600.00", "柜面现金存入"),
    ]),
    "6214830100062826": dict(r1="200.00", r2="858.27", tx=[        # 缪建华
        ("2024-02-20", "658.27", "柜面现金存入"),
    ]),
    "6221881000090345612": dict(r1="12.30", r2="712.30", tx=[      # 翟雪
        ("2024-02-21 23:59:59", "700.00", "手机银行转入"),
    ]),
    "6223090000218743022": dict(r1="303.53", r2="703.52", tx=[     # 朴成浩
        ("2024-02-19 19:40:00", "399.99", "网银转入"),
    ]),
    "6214830100073914": dict(r1="619.95", r2="619.95", tx=[        # 黄晓敏
        ("2024-02-17 23:59:59", "600.00", "手机银行转入"),
    ]),
    "6217991000055271402": dict(r1="3.53", r2="703.53", tx=[       # 孙浩
        ("2024-02-18 00:00:00", "700.00", "手机银行转入"),
    ]),
    "6214830100031243": dict(r1="2351.06", r2="2351.06", tx=[]),   # 何静 (suspended)
    "6221881000044702199": dict(r1="1200.00", r2="1200.00", tx=[   # 罗永强 (suspended)
        ("2024-01-22 11:00:00", "-500.00", "ATM取款"),
    ]),
    "6214830100028538": dict(r1="986.40", r2="986.40", tx=[]),     # 郭淑芬 (terminated)
    "6223090000304127866": dict(r1="1500.00", r2="1500.00",        # 谢雨桐 (new, due)
                                opening=("2024-01-16 10:21:08", "开户存入"), tx=[]),
    "6214830100099174": dict(r1="2000.00", r2="2000.00",           # 冯子轩 (not started)
                             opening=("2024-02-05 15:47:30", "开户存入"), tx=[]),
    "6217991000011850638": dict(r1="1706.47", r2="1706.47", tx=[]),  # 邓丽华 (already paid)
    "6214830100016483": dict(r1="3120.00", r2="3120.00", tx=[]),     # 韩志刚 (already paid)
    "6214830100055069": dict(r1="58.60", r2="58.60", tx=[            # 卢海燕 (Jan+Feb unpaid)
        ("2024-01-20 13:14:15", "-300.00", "POS消费"),
    ]),
    "6221881000063518401": dict(r1="950.00", r2="950.00", tx=[       # 蒋文涛 (Jan unpaid)
        ("2024-02-01 08:05:44", "900.00", "柜面现金存入"),
    ]),
    "6223090000177290536": dict(r1="1012.60", r2="1012.60", tx=[     # 曹国庆 (Dec+Jan unpaid)
        ("2024-02-05 17:30:00", "1000.00", "网银转入"),
    ]),
    "6214830100080752": dict(r1="0.00", r2="0.00", tx=[              # 袁梦琪 (waiting, fails)
        ("2024-01-28 10:00:00", "-296.47", "ATM取款"),
    ]),
    "6217991000072403913": dict(r1="1380.05", r2="1380.05", tx=[     # 吕思远 (waiting, pays)
        ("2024-01-15 09:30:00", "1000.00", "手机银行转入"),
    ]),
    "6214830100048627": dict(r1="2296.47", r2="2296.47", tx=[]),     # 区家豪
    "6223090000255986104": dict(r1="880.05", r2="880.05", tx=[       # 林佳慧
        ("2024-02-16 21:08:12", "500.00", "跨行转入"),
    ]),
    "6214830100067338": dict(r1="5000.00", r2="5000.00", tx=[        # SMITH JOHN
        ("2024-01-31 11:11:11", "-1200.00", "POS消费"),
    ]),
}
NO_ROWS = {"6217991000088062356"}  # 马俊杰: the bank does not know this account


# --------------------------------------------------------------------------------------------
# Helpers: money in integer fen, dates, check digits.
# --------------------------------------------------------------------------------------------
def fen(text):
    sign = -1 if text.startswith("-") else 1
    whole, _, frac = text.lstrip("-").partition(".")
    assert len(frac) == 2 and whole.isdigit() and frac.isdigit(), text
    return sign * (int(whole) * 100 + int(frac))


def yuan(amount):
    sign = "-" if amount < 0 else ""
    return f"{sign}{abs(amount) // 100}.{abs(amount) % 100:02d}"


def when(posted_at):
    if len(posted_at) == 10:
        return dt.datetime.strptime(posted_at, "%Y-%m-%d")
    return dt.datetime.strptime(posted_at, "%Y-%m-%d %H:%M:%S")


def next_month(ym):
    y, m = int(ym[:4]), int(ym[5:7])
    return f"{y + m // 12}-{m % 12 + 1:02d}"


def luhn_ok(number):
    total = 0
    for i, ch in enumerate(reversed(number)):
        d = int(ch) * (2 if i % 2 else 1)
        total += d - 9 if d > 9 else d
    return total % 10 == 0


def luhn_complete(body):
    for last in "0123456789":
        if luhn_ok(body + last):
            return body + last
    raise AssertionError(body)


def ric_complete(body17):
    return body17 + ric.calc_check_digit(body17 + "0")  # stdnum expects a placeholder digit


# --------------------------------------------------------------------------------------------
# Deterministic filler: ordinary active enrollees, paid through 2024-01, enough balance.
# --------------------------------------------------------------------------------------------
SURNAMES = "王李张刘陈杨赵吴周徐朱胡高林郑梁宋唐许彭董潘蔡余杜叶程苏魏丁任沈姚姜崔钟谭陆汪范金石廖贾夏韦方白邹孟熊秦江尹薛段雷侯龙史陶黎贺顾毛郝龚邵万钱严戴莫孔向汤"
GIVEN_M = "伟强磊军洋勇杰涛明超辉刚平鹏飞斌宇浩凯健俊帆鑫波峰亮宁楠成林东晨博文"
GIVEN_F = "芳娜敏静丽艳娟霞秀玲桂英燕萍红婷雪琳颖倩洁莉慧欣怡璐瑶佳梅晶"
AREAS = ["110101", "110102", "110105", "110105", "110106", "110107", "110108", "110108",
         "110111", "110112", "110114", "110115", "130102", "370102", "420106", "510104",
         "410105", "230103"]
REMARKS = ["", "", "", "", "", "", "", "", "已签订委托代扣协议", "需邮寄纸质通知",
           "外区迁入, 档案已转", "联系电话已更新"]
DEPOSIT_REFS = ["手机银行转入", "柜面现金存入", "网银转入", "跨行转入", ""]
WITHDRAW_REFS = ["ATM取款", "POS消费", "快捷支付"]
N_FILLER = 50 - len(TRICKY)


def random_moment(rng, start, end, date_only_share=0.2):
    day = start + dt.timedelta(days=rng.randrange((end - start).days + 1))
    if rng.random() < date_only_share:
        return day.isoformat()
    return f"{day.isoformat()} {rng.randrange(8, 22):02d}:{rng.randrange(60):02d}:{rng.randrange(60):02d}"


def make_filler(rng, taken_ids, taken_names, taken_accounts):
    enrollees, plans = [], {}
    jan_r2_slots = {3, 11}  # two fillers paid January only in round 2
    for i in range(N_FILLER):
        sex = "M" if rng.random() < 0.5 else "F"
        while True:
            name = rng.choice(SURNAMES) + "".join(
                rng.choice(GIVEN_M if sex == "M" else GIVEN_F) for _ in range(rng.choice((1, 2, 2))))
            if name not in taken_names:
                break
        while True:
            first = dt.date(1966 if sex == "M" else 1970, 3, 1)
            birth = first + dt.timedelta(days=rng.randrange((dt.date(2001, 12, 31) - first).days))
            seq = rng.randrange(500) * 2 + (1 if sex == "M" else 0)
            eid = ric_complete(f"{rng.choice(AREAS)}{birth:%Y%m%d}{seq:03d}")
            if eid not in taken_ids and ric.is_valid(eid):  # area code must exist in that year
                break
        bank = rng.choice(("BOB", "BOB", "PSBC"))
        while True:
            prefix = rng.choice(BANK_PREFIXES[bank])
            length = 19 if bank == "PSBC" or rng.random() < 0.4 else 16
            body = prefix + "".join(str(rng.randrange(10)) for _ in range(length - len(prefix) - 1))
            account = luhn_complete(body)
            if account not in taken_accounts:
                break
        taken_ids.add(eid)
        taken_names.add(name)
        taken_accounts.add(account)
        earliest = max(dt.date(2008, 1, 1), dt.date(birth.year + 20, 1, 1))
        enrolled = earliest + dt.timedelta(days=rng.randrange((dt.date(2023, 6, 30) - earliest).days))
        premium = rng.choice(PREMIUMS)
        jan = "R2" if i in jan_r2_slots else "R1"
        e = row(eid, name, rng.choice(sorted(AGENCIES)), enrolled.isoformat(), "2024-01", premium,
                account, id_type=rng.choice(("ric", "ric", "")),
                sex=sex if rng.random() < 0.6 else "",
                birth_date=birth.isoformat() if rng.random() < 0.25 else "",
                remark=rng.choice(REMARKS), jan=jan, r1=OK)
        enrollees.append(e)

        p = fen(premium)
        tx = []
        if jan == "R2":  # short on 2024-01-12, topped up before 2024-01-25
            opening = rng.randrange(1000, p)
            tx.append((random_moment(rng, dt.date(2024, 1, 13), dt.date(2024, 1, 24), 0),
                       2 * p + rng.randrange(0, 200000), rng.choice(DEPOSIT_REFS[:4])))
        else:
            opening = 2 * p + rng.randrange(5000, 400000)
        for _ in range(rng.choice((0, 1, 1, 2))):
            tx.append((random_moment(rng, dt.date(2024, 1, 26), dt.date(2024, 2, 16)),
                       rng.randrange(200, 3000) * 100, rng.choice(DEPOSIT_REFS)))
        balance = opening - p + sum(a for _, a, _ in tx)
        if rng.random() < 0.4 and balance - p > 10000:  # an ordinary card withdrawal
            w = min(rng.randrange(50, 800) * 100, balance - p - 5000)
            tx.append((random_moment(rng, dt.date(2024, 2, 1), dt.date(2024, 2, 9), 0), -w,
                       rng.choice(WITHDRAW_REFS)))
        plans[account] = dict(opening_fen=opening, tx=tx)
    return enrollees, plans


# --------------------------------------------------------------------------------------------
# Build the ledger.
# --------------------------------------------------------------------------------------------
def build(rng):
    taken_ids = {e["enrollee_id"] for e in TRICKY}
    taken_names = {e["name"] for e in TRICKY}
    taken_accounts = {e["account_no"] for e in TRICKY}
    filler, filler_plans = make_filler(rng, taken_ids, taken_names, taken_accounts)
    enrollees = TRICKY + filler

    # January's successful withholding debits, referenced the way mediins numbers them.
    jan_rows = []
    for rnd in ("R1", "R2"):
        payers = sorted((e for e in enrollees if e["_jan"] == rnd), key=lambda e: e["enrollee_id"])
        for n, e in enumerate(payers, 1):
            jan_rows.append((e["account_no"], JAN_POSTED[rnd], -fen(e["monthly_premium"]),
                             f"MI-202401-{rnd}-{n:06d}"))

    ledger = []
    for account, plan in PLANS.items():
        rows = [(account, t, fen(a), r) for t, a, r in plan["tx"]]
        rows += [r for r in jan_rows if r[0] == account]
        before = sum(a for _, t, a, _ in rows if when(t) < R1_CUTOFF)
        opening_at, opening_ref = plan.get("opening", ("2023-12-31", ""))
        ledger.append((account, opening_at, fen(plan["r1"]) - before, opening_ref))
        ledger += rows
    for account, plan in filler_plans.items():
        ledger.append((account, "2023-12-31", plan["opening_fen"], ""))
        ledger += [(account, t, a, r) for t, a, r in plan["tx"]]
        ledger += [r for r in jan_rows if r[0] == account]
    # A few ordinary rows between the two cut-offs on accounts that pay in round 1.
    late = [("2024-02-19 08:45:12", "ATM取款"), ("2024-02-20 17:02:39", "POS消费"),
            ("2024-02-21", "柜面现金存入")]
    for account, (moment, ref) in zip(sorted(filler_plans), late):
        e = next(x for x in filler if x["account_no"] == account)
        if ref == "柜面现金存入":
            amount = 50000
        else:  # leaves at least 50.00 after February's round-1 debit
            spare = balance_at(ledger, account, R1_CUTOFF) - fen(e["monthly_premium"])
            amount = -min(20000, spare - 5000)
            assert amount < 0
        ledger.append((account, moment, amount, ref))
    ledger.sort(key=lambda r: (when(r[1]), r[0], r[3], r[2]))
    return enrollees, ledger


def balance_at(ledger, account, cutoff):
    return sum(a for acc, t, a, _ in ledger if acc == account and when(t) < cutoff)


# --------------------------------------------------------------------------------------------
# Reference model of DESIGN.md section 4, used only to assert the intended outcomes.
# --------------------------------------------------------------------------------------------
def coverage_start(enrolled_on):
    return next_month(enrolled_on[:7])


def skip_reason(e, month):
    if e["status"] != "active":
        return INACTIVE
    if coverage_start(e["enrolled_on"]) > month:
        return NOT_STARTED
    if e["paid_through"] and e["paid_through"] >= month:
        return ALREADY_PAID
    return None


def run_round(attempts, ledger, cutoff, already_debited):
    """attempts: enrollees to debit; already_debited: {account: fen} not yet in the ledger."""
    accounts = {acc for acc, *_ in ledger}
    left = {}
    outcome = {}
    for e in sorted(attempts, key=lambda x: x["enrollee_id"]):
        acc = e["account_no"]
        if acc not in accounts:
            outcome[e["enrollee_id"]] = (NO_ACCOUNT, None)
            continue
        if acc not in left:
            left[acc] = balance_at(ledger, acc, cutoff) - already_debited.get(acc, 0)
        before, p = left[acc], fen(e["monthly_premium"])
        if before >= p:
            left[acc] -= p
            outcome[e["enrollee_id"]] = (OK, before)
        else:
            outcome[e["enrollee_id"]] = (SHORT, before)
    return outcome


def check(enrollees, ledger):
    today = dt.date(2024, 2, 1)
    ids = [e["enrollee_id"] for e in enrollees]
    assert len(ids) == len(set(ids)) == 50, "enrollee_id must be unique"
    shared = {}
    for e in enrollees:
        shared.setdefault(e["account_no"], []).append(e["name"])
        assert e["agency"] in AGENCIES and e["monthly_premium"] in PREMIUMS
        assert luhn_ok(e["account_no"]) and 16 <= len(e["account_no"]) <= 19
        assert e["account_no"].startswith(BANK_PREFIXES[e["bank"]])
        if e["id_type"] in ("", "ric"):
            ric.validate(e["enrollee_id"])
            birth = ric.get_birth_date(e["enrollee_id"])
            sex = "M" if int(e["enrollee_id"][16]) % 2 else "F"
            assert e["sex"] in ("", sex), e
            assert e["birth_date"] in ("", birth.isoformat()), e
        else:
            assert e["sex"] and e["birth_date"], e
            birth = dt.date.fromisoformat(e["birth_date"])
        age = today.year - birth.year - ((today.month, today.day) < (birth.month, birth.day))
        assert 22 <= age <= 58, (e["name"], age)
        if e["waiting_until"]:
            start = dt.date.fromisoformat(coverage_start(e["enrolled_on"]) + "-01")
            assert e["waiting_until"] == (start + dt.timedelta(days=179)).isoformat(), e
    assert sorted(len(v) for v in shared.values() if len(v) > 1) == [2, 2, 3], shared
    assert sum(e["enrollee_id"][-1] == "X" for e in enrollees) >= 2

    ledger_accounts = {acc for acc, *_ in ledger}
    assert NO_ROWS.isdisjoint(ledger_accounts)
    assert all(when(t) < LEDGER_END for _, t, _, _ in ledger)

    # January: every withholding debit in the ledger was coverable when it was made.
    for rnd in ("R1", "R2"):
        for acc, t, a, ref in ledger:
            if ref.startswith(f"MI-202401-{rnd}"):
                assert balance_at(ledger, acc, when(t)) >= -a, (acc, ref)
    for e in enrollees:
        if e["_jan"] == "R2":
            assert balance_at(ledger, e["account_no"], JAN_CUTOFF["R1"]) < fen(e["monthly_premium"])

    # February round 1 and round 2.
    due = [e for e in enrollees if skip_reason(e, RUN_MONTH) is None]
    r1 = run_round(due, ledger, R1_CUTOFF, {})
    debited = {}
    for e in due:
        if r1[e["enrollee_id"]][0] == OK:
            debited[e["account_no"]] = debited.get(e["account_no"], 0) + fen(e["monthly_premium"])
    retry = [e for e in due if r1[e["enrollee_id"]][0] != OK]
    r2 = run_round(retry, ledger, R2_CUTOFF, debited)
    for e in enrollees:
        got1 = skip_reason(e, RUN_MONTH) or r1[e["enrollee_id"]][0]
        got2 = r2[e["enrollee_id"]][0] if e["enrollee_id"] in r2 else None
        assert (got1, got2) == (e["_r1"], e["_r2"]), (e["name"], got1, got2)

    # Balances at the cut-offs as documented in README.md.
    for acc, plan in PLANS.items():
        assert balance_at(ledger, acc, R1_CUTOFF) == fen(plan["r1"]), acc
        assert balance_at(ledger, acc, R2_CUTOFF) == fen(plan["r2"]), acc
    assert r1["110101198407220464"][1] == fen("619.94")      # 单丽 sees 曾志强's debit
    assert r2["110101198407220464"][1] == fen("619.94")      # ... and again in round 2
    assert r1["110105200009140376"][1] == fen("300.00")      # 欧阳晓峰 after two debits
    assert r2["110105200009140376"][1] == fen("619.95")      # exactly his premium
    r2_debited = {}
    for e in retry:
        if r2[e["enrollee_id"]][0] == OK:
            r2_debited[e["account_no"]] = r2_debited.get(e["account_no"], 0) + fen(e["monthly_premium"])
    for acc in (ACCT_PAIR_B, ACCT_TRIPLE, "6214830100062826", "6214830100073914",
                "6217991000055271402"):
        end = balance_at(ledger, acc, R2_CUTOFF) - debited.get(acc, 0) - r2_debited.get(acc, 0)
        assert end == 0, acc  # these accounts are emptied to the fen

    # No account ever goes below zero, counting February's debits at their effective dates.
    events = [(when(t), 0, acc, a) for acc, t, a, _ in ledger]
    events += [(R1_CUTOFF, 1, acc, -a) for acc, a in debited.items()]
    events += [(R2_CUTOFF, 1, acc, -a) for acc, a in r2_debited.items()]
    running = {}
    for _, _, acc, a in sorted(events):
        running[acc] = running.get(acc, 0) + a
        assert running[acc] >= 0, acc
    return r1, r2


# --------------------------------------------------------------------------------------------
def split_ref(ref):
    """(reference, memo): mediins references stay references, bank descriptions become memos."""
    return (ref, "代扣医保费") if ref.startswith("MI-") else ("", ref)


def write_csv(path, header, rows):
    with open(path, "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(header)
        w.writerows(rows)


def main():
    rng = random.Random(20240201)
    enrollees, ledger = build(rng)
    r1, _ = check(enrollees, ledger)
    write_csv(HERE / "enrollees.csv", ENROLLEE_COLUMNS,
              [[e[c] for c in ENROLLEE_COLUMNS] for e in enrollees])
    write_csv(HERE / "ledger.csv", LEDGER_COLUMNS,
              [[acc, t, yuan(a), *split_ref(ref)] for acc, t, a, ref in ledger])
    # The bank's export before round 2: the same rows plus round 1's debits as booked on its
    # effective date, with the references mediins gives them (MI-<YYYYMM>-R1-<n>, n numbering
    # everyone due in enrollee_id order). Round 2 must count them once, with or without them.
    due = sorted((e for e in enrollees if skip_reason(e, RUN_MONTH) is None),
                 key=lambda e: e["enrollee_id"])
    booked = [(e["account_no"], "2024-02-18 06:00:00", -fen(e["monthly_premium"]),
               f"MI-202402-R1-{n:08d}")
              for n, e in enumerate(due, 1) if r1[e["enrollee_id"]][0] == OK]
    ledger2 = sorted(ledger + booked, key=lambda r: (when(r[1]), r[0], r[3], r[2]))
    write_csv(HERE / "ledger-round2.csv", LEDGER_COLUMNS,
              [[acc, t, yuan(a), *split_ref(ref)] for acc, t, a, ref in ledger2])
    print(f"wrote {len(enrollees)} enrollees, {len(ledger)} ledger rows and "
          f"{len(ledger2)} rows for round 2 to {HERE}")


if __name__ == "__main__":
    main()
