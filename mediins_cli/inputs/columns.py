"""The columns of ``enrollees.csv`` and ``ledger.csv``: names, Chinese aliases, coded values."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import polars as pl


@dataclass(frozen=True)
class Column:
    name: str
    required: bool
    aliases: tuple[str, ...]
    meaning: str


ENROLLEE_COLUMNS = (
    Column(
        "enrollee_id",
        True,
        ("身份证号", "身份证号码", "公民身份号码", "证件号码", "证件号"),
        "document number; an 18-character resident ID unless id_type says otherwise",
    ),
    Column("id_type", False, ("证件类型",), "ric (default), hkmo, tw, passport, foreign"),
    Column("name", True, ("姓名",), "name"),
    Column("sex", False, ("性别",), "M/F (男/女); derived from a resident ID when empty"),
    Column("birth_date", False, ("出生日期",), "YYYY-MM-DD; derived from a resident ID when empty"),
    Column(
        "agency",
        True,
        ("代理机构", "社会保险代理处", "代办机构", "经办机构"),
        "code of the agency serving the enrollee",
    ),
    Column("status", True, ("参保状态",), "active, suspended, terminated (正常参保/暂停/终止)"),
    Column(
        "enrolled_on",
        True,
        ("参保日期", "参保办理日期", "办理日期"),
        "YYYY-MM-DD the (re-)enrollment was completed",
    ),
    Column(
        "paid_through",
        False,
        ("缴费至", "已缴至", "缴至年月"),
        "YYYY-MM of the last month fully paid; empty = never",
    ),
    Column(
        "waiting_until",
        False,
        ("等待期至", "等待期截止"),
        "YYYY-MM-DD last day of the current waiting period",
    ),
    Column(
        "prior_coverage_end",
        False,
        ("原参保终止日期", "停止领取失业金日期", "原医保停保日期"),
        "YYYY-MM-DD the earlier coverage (an employer's scheme, another region, unemployment "
        "benefit) ended; with a pack's transfer window it spares a new waiting period",
    ),
    Column(
        "retirement_date",
        False,
        ("退休日期", "法定退休日期"),
        "YYYY-MM-DD the master system's retirement date; else the pack's age from birth_date",
    ),
    Column(
        "monthly_premium", True, ("月缴费额", "应缴金额", "缴费金额"), "yuan, at most two decimals"
    ),
    Column(
        "account_no",
        True,
        ("账号", "帐号", "银行账号", "扣款账号", "卡号"),
        "bank account or card to debit (digits)",
    ),
    Column("bank", False, ("银行", "开户银行"), "bank code"),
)

LEDGER_COLUMNS = (
    Column(
        "account_no", True, ("账号", "帐号", "银行账号", "卡号"), "bank account or card (digits)"
    ),
    Column(
        "posted_at",
        True,
        ("交易时间", "记账时间", "入账时间"),
        "YYYY-MM-DD or YYYY-MM-DD HH:MM[:SS], local time",
    ),
    Column(
        "amount", True, ("金额", "交易金额"), "signed yuan: deposits +, withdrawals and debits -"
    ),
    Column("reference", False, ("参考号", "业务参考号", "流水号"), "reference of a mediins debit"),
)

ID_TYPES = ("ric", "hkmo", "tw", "passport", "foreign")
STATUSES = ("active", "suspended", "terminated")

#: Chinese (and case) spellings of coded values, mapped to the codes.
VALUE_ALIASES: dict[str, dict[str, str]] = {
    "sex": {"m": "M", "f": "F", "男": "M", "女": "F"},
    "status": {
        "active": "active",
        "正常": "active",
        "正常参保": "active",
        "参保": "active",
        "suspended": "suspended",
        "暂停": "suspended",
        "暂停参保": "suspended",
        "中止": "suspended",
        "暂停(中止)参保": "suspended",
        "暂停（中止）参保": "suspended",
        "terminated": "terminated",
        "终止": "terminated",
        "终止参保": "terminated",
    },
    "id_type": {
        "ric": "ric",
        "身份证": "ric",
        "居民身份证": "ric",
        "hkmo": "hkmo",
        "港澳居民来往内地通行证": "hkmo",
        "港澳通行证": "hkmo",
        "港澳居民居住证": "hkmo",
        "tw": "tw",
        "台湾居民来往大陆通行证": "tw",
        "台胞证": "tw",
        "台湾居民居住证": "tw",
        "passport": "passport",
        "护照": "passport",
        "外国护照": "passport",
        "foreign": "foreign",
        "外国人永久居留证": "foreign",
        "外国人永久居留身份证": "foreign",
    },
}

#: characters besides a letter's capital whose lower case is that letter (the Kelvin sign's
#: is k); a test runs every code point through polars' lower case to show none is missing
_OTHER_CAPITALS = {"k": "\u212a"}


def spellings(aliases: dict[str, str]) -> dict[str, str]:
    """``aliases`` under every spelling whose lower case is one of its keys (``RIC``, ``Ric``,
    …): looked up as a cell is written, a coded column is never lower-cased row by row (10 M
    enrollees, three coded columns: about 1 s of CPU). A key of n letters has 2^n spellings;
    the longest, ``terminated``, 1,024."""
    found = {}
    for key, code in aliases.items():
        options = [
            sorted(
                {
                    ch,
                    *(ch.upper() if ch.upper().lower() == ch else ""),
                    *_OTHER_CAPITALS.get(ch, ""),
                }
            )
            for ch in key
        ]
        found.update(dict.fromkeys(("".join(chars) for chars in itertools.product(*options)), code))
    return found


ENCODINGS = {
    "auto": "auto",
    "utf-8": "utf-8",
    "utf8": "utf-8",
    "utf-8-sig": "utf-8",
    "gb18030": "gb18030",
    "gbk": "gb18030",
    "gb2312": "gb18030",
    "cp936": "gb18030",
}

#: What each known column holds, which decides how a value of it is shown in a message
#: (:func:`mediins_cli.mask.shown_expr`). Extra columns hold anything: ``personal``.
HOLDS = {
    "enrollee_id": "id",
    "account_no": "account",
    "name": "name",
    "birth_date": "personal",  # with a masked ID, a birth date would give the ID away
    "id_type": "code",
    "sex": "code",
    "status": "code",
    "enrolled_on": "date",
    "paid_through": "date",
    "waiting_until": "date",
    "prior_coverage_end": "date",
    "retirement_date": "date",
    "posted_at": "date",
    "monthly_premium": "amount",
    "amount": "amount",
    "agency": "agency",
    "bank": "label",
    "reference": "label",
}

#: Names mediins gives columns of its own, on the enrollee frame or in the row files that carry
#: extra columns (and ``line``): a file's column of one of these names, or of a name starting
#: with ``__``, would clash with them or be overwritten, so it is refused (RESERVED_COLUMN).
ENGINE_COLUMNS = frozenset(
    {
        "line",
        "premium_fen",
        "amount",
        "amount_fen",
        "outcome",
        "reason",
        "reference",
        "skip_reason",
        "deducted_on",
        "retry_on",
        "deposit_by",
        "paid_on",
        "balance_fen",
        "booked_fen",
        "balance_at_cutoff",
        "balance_available",
        "balance_at_cutoff_fen",
        "balance_available_fen",
    }
)

#: Known columns whose own check refuses any character out of place (digits, a date, an
#: amount): no separate look for control or invisible characters is needed in them.
SHAPED_COLUMNS = frozenset(
    {"account_no", "posted_at", "amount", "monthly_premium", "enrolled_on", "paid_through"}
    | {"waiting_until", "birth_date", "prior_coverage_end", "retirement_date"}
)

#: Limits that keep a hostile file from becoming a hostile output (DESIGN §3).
MAX_COLUMNS = 256
MAX_CELL_CHARS = 32_767  # the most a spreadsheet cell holds: a longer one would be cut
MAX_AGENCY_CHARS = 64  # an agency code becomes a file name …
MAX_AGENCY_BYTES = 240  # … which holds 255 bytes, with room for ".xlsx"
MAX_NAME_CHARS = 100


def agency_file_stem(agency: pl.Expr) -> pl.Expr:
    """The file name an agency code gets under ``agencies/`` (without ``.csv``): letters,
    digits, CJK, ``-``, ``_`` and ``.`` kept, anything else ``_``, no leading dot, never empty.
    Validation and the writer both use this, so a clash is found before anything is written."""
    stem = agency.cast(pl.String).str.replace_all(r"[^\w.\-]", "_").str.strip_chars_start(".")
    return pl.when(stem == "").then(pl.lit("_")).otherwise(stem)
