"""Bank file formats as data: ``rules/banks/<id>.toml`` (DESIGN §11).

A format says how one bank's batch files look: the encoding, the delimiter, a header row or
columns by position, amounts in yuan or in fen, the columns of an instruction file (送盘) and of
a return file (回盘), and the table from the bank's result values to mediins's result codes.
Formats are validated on load like rule packs: every problem names the file and the key.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mediins_cli.errors import Problem
from mediins_cli.i18n import N_, _
from mediins_cli.resources import display_path, rules_dir
from mediins_cli.rules import load_file, load_folder, read_toml

DEFAULT_FORMAT = "generic"

# Result codes (DESIGN §11): OK, two the next round retries, and the permanent ones.
OK = "OK"
INSUFFICIENT_FUNDS = "INSUFFICIENT_FUNDS"
BANK_ERROR = "BANK_ERROR"
ACCOUNT_CLOSED = "ACCOUNT_CLOSED"
ACCOUNT_FROZEN = "ACCOUNT_FROZEN"
NAME_MISMATCH = "NAME_MISMATCH"
NO_AGREEMENT = "NO_AGREEMENT"
NO_ACCOUNT = "NO_ACCOUNT"
RESULT_CODES = (
    OK,
    INSUFFICIENT_FUNDS,
    BANK_ERROR,
    ACCOUNT_CLOSED,
    ACCOUNT_FROZEN,
    NAME_MISMATCH,
    NO_AGREEMENT,
    NO_ACCOUNT,
)
#: failures round 2 attempts again (in return mode; the ledger mode retries NO_ACCOUNT too)
RETRYABLE = (INSUFFICIENT_FUNDS, BANK_ERROR)
PERMANENT = (ACCOUNT_CLOSED, ACCOUNT_FROZEN, NAME_MISMATCH, NO_AGREEMENT, NO_ACCOUNT)
#: what the agency does about a failure (the agency lists of round 1 in return mode): a
#: permanent one must be corrected in the master system before next month's round 1
TO_DO = {
    INSUFFICIENT_FUNDS: N_("deposit the premium by the deposit-by date, before round 2"),
    BANK_ERROR: N_("nothing to correct: the bank could not process it, round 2 tries again"),
    ACCOUNT_CLOSED: N_("account closed: record a new account in the master system"),
    ACCOUNT_FROZEN: N_("account frozen or stopped: have it released, or record another account"),
    NAME_MISMATCH: N_("the account's holder is not this name: correct the account or the name"),
    NO_AGREEMENT: N_("no withholding agreement: the enrollee signs one at the bank (代扣签约)"),
    NO_ACCOUNT: N_("no such account at the bank: correct the account number"),
}

INSTRUCTION_COLUMNS = (
    "seq",
    "reference",
    "account_no",
    "account_name",
    "amount",
    "enrollee_id",
    "agency",
    "month",
    "purpose",
)
RETURN_COLUMNS = ("reference", "account_no", "amount", "result", "message", "settled_on", "ignore")
#: what a return file must have for its answers to be checked
REQUIRED_RETURN = ("reference", "account_no", "amount", "result")
ENCODINGS = ("utf-8", "gb18030")
AMOUNT_UNITS = ("yuan", "fen")
#: characters mediins's own values and column names hold (references, months, dates, yuan,
#: account_no): no delimiter
_IN_VALUES = "-.:_"
_KEYS = ("id", "name", "encoding", "delimiter", "header", "amount_unit")
_SECTIONS = ("instruction", "return", "results")


@dataclass(frozen=True)
class BankFormat:
    """One bank's batch-file format (see the module docstring)."""

    id: str
    name: str
    encoding: str  # "utf-8" | "gb18030"
    delimiter: str
    header: bool
    amount_unit: str  # "yuan" | "fen"
    instruction: tuple[str, ...]
    returns: tuple[str, ...]
    results: dict[str, str]  # the bank's value → a result code
    path: str
    sha256: str

    @property
    def extension(self) -> str:
        """``csv`` for comma-delimited files, else ``txt`` (DESIGN §11)."""
        return "csv" if self.delimiter == "," else "txt"

    @property
    def quoted(self) -> bool:
        """Values are quoted as CSV quotes them only in comma-delimited files; the fixed
        columns of other delimiters carry no quoting at all (nor may a value hold the
        delimiter: it would move every later column)."""
        return self.delimiter == ","

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "sha256": self.sha256}


def format_path(ref: str) -> Path:
    """A format reference is an id in ``rules/banks/`` or a path to a ``<id>.toml``."""
    if ref.endswith(".toml") or "/" in ref:
        return Path(ref)
    return banks_dir() / f"{ref}.toml"


def banks_dir() -> Path:
    return rules_dir() / "banks"


def load_format(ref: str = DEFAULT_FORMAT, given_as: str = "--bank-format") -> BankFormat:
    """Load and validate a format; an unusable one raises :class:`BadInput` with every problem.
    ``given_as``: how the operator named it, for the message (``""``: an argument)."""
    path = format_path(ref)
    missing = _("no bank format {ref}").format(ref=repr(ref))
    message = f"{given_as}: {missing}" if given_as else missing
    return load_file(path, banks_dir(), parse_format, message)


def load_all_formats() -> list[BankFormat]:
    """Every format in ``rules/banks/``; one broken file fails the call, listing every problem."""
    return load_folder(banks_dir(), parse_format)


def parse_format(path: Path) -> tuple[BankFormat | None, list[Problem]]:
    """Parse and validate one format file; every problem is returned, none raised."""
    shown = display_path(path)
    problems: list[Problem] = []

    def bad(key: str, message: str) -> None:
        problems.append(Problem(shown, 0, key, "BAD_BANK_FORMAT", message))

    read = read_toml(path, bad)
    if read is None:
        return None, problems
    content, data = read

    for key in sorted(set(data) - set(_KEYS) - set(_SECTIONS)):
        bad(key, _("unknown key (expected {keys})").format(keys=", ".join(_KEYS + _SECTIONS)))
    for key in _KEYS + _SECTIONS:
        if key not in data and key != "name":  # every key but name (DESIGN §11)
            bad(key, _("missing (a table)") if key in _SECTIONS else _("missing"))
    if problems:
        return None, problems

    def text(key: str, choices: tuple[str, ...] | None = None) -> str:
        value = data[key]
        if not isinstance(value, str) or not value.strip():
            bad(key, _("expected a non-empty string"))
            return ""
        if choices is not None and value not in choices:
            bad(
                key,
                _("expected one of {choices}, not {value}").format(
                    choices=", ".join(choices), value=repr(value)
                ),
            )
        return value

    fid = text("id")
    name = text("name") if "name" in data else fid
    if fid and fid != path.stem:
        bad("id", _("expected {stem}, the file's name without .toml").format(stem=repr(path.stem)))
    encoding, unit = text("encoding", ENCODINGS), text("amount_unit", AMOUNT_UNITS)
    delimiter = data["delimiter"]
    if not isinstance(delimiter, str) or len(delimiter) != 1 or delimiter in '"\r\n':
        bad("delimiter", _("expected one character, not a quote or a line end"))
    elif delimiter.isalnum() or delimiter in _IN_VALUES:
        # references (MI-202402-R1-…), months, dates, amounts in yuan and a header hold these
        bad(
            "delimiter",
            _(
                "{delimiter} is in the values mediins writes: not a letter, digit, or any of "
                "{characters}"
            ).format(delimiter=repr(delimiter), characters=repr(_IN_VALUES)),
        )
    header = data["header"]
    if not isinstance(header, bool):
        bad(
            "header",
            _("expected true (a header row of the column names) or false (by position)"),
        )

    def columns(section: str, allowed: tuple[str, ...], required: tuple[str, ...]) -> list[str]:
        table = data[section]
        key = f"{section}.columns"
        if not isinstance(table, dict):
            bad(section, _("expected a table with columns"))
            return []
        for extra in sorted(set(table) - {"columns"}):
            bad(f"{section}.{extra}", _("unknown key (expected columns)"))
        cols = table.get("columns")
        if not isinstance(cols, list) or not cols or not all(isinstance(c, str) for c in cols):
            bad(
                key,
                _("expected a list of column names from {names}").format(names=", ".join(allowed)),
            )
            return []
        for c in cols:
            if c not in allowed:
                bad(
                    key,
                    _("{column} is not one of {names}").format(
                        column=repr(c), names=", ".join(allowed)
                    ),
                )
        named = [c for c in cols if c != "ignore"]
        for c in sorted({c for c in named if named.count(c) > 1}):
            bad(key, _("{column} is listed twice").format(column=repr(c)))
        for c in required:
            if c not in cols:
                bad(key, _("{column} is required").format(column=repr(c)))
        return list(cols)

    instruction = columns("instruction", INSTRUCTION_COLUMNS, ("reference", "account_no", "amount"))
    returns = columns("return", RETURN_COLUMNS, REQUIRED_RETURN)
    if header is True and "ignore" in returns:
        bad("return.columns", _("'ignore' is for columns by position (header = false)"))
    results: dict[str, str] = {}
    table = data["results"]
    if not isinstance(table, dict) or not table:
        bad("results", _("expected a table: the bank's result value = a result code"))
    else:
        for value, code in table.items():
            if not isinstance(code, str) or code not in RESULT_CODES:
                bad(
                    f"results.{value}",
                    _("expected one of {codes}").format(codes=", ".join(RESULT_CODES)),
                )
            elif not value.strip():
                bad("results", _("an empty result value"))
            else:
                results[value] = code
        if OK not in results.values():
            bad("results", _("no value means OK: the format could never report a debit"))
    if problems:
        return None, problems
    return BankFormat(
        id=fid,
        name=name,
        encoding=encoding,
        delimiter=delimiter,
        header=header,
        amount_unit=unit,
        instruction=tuple(instruction),
        returns=tuple(returns),
        results=results,
        path=shown,
        sha256=hashlib.sha256(content).hexdigest(),
    ), problems
