"""Hostile input files (DESIGN §3, README "Input files", "Problems found", "Exit statuses").

Every case goes through both `mediins validate` and `mediins deduct --round 1 --month 2024-02`,
each with `--errors`, and both must give the case's exit status (2 for bad input, 0 where the
file is accepted, with or without warnings), begin stderr with the case's first problem at its
`file:line: column`, write an errors CSV holding exactly the case's problem codes, write nothing
at all on bad input (not even the month folder), and never show a full resident ID, account
number or name of the case's files on the terminal.

The small cases are files under ``tests/hostile/<case>/``; the big, binary and special ones are
made here at test time. Whichever file a case does not hold is the sample month's. A case the
product gets wrong is kept with the behaviour the contract asks for and marked
``xfail(strict=True)`` with the defect in its reason.
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
import re
import shutil
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from conftest import SAMPLE
from mediins_cli.inputs import ENROLLEE_COLUMNS, LEDGER_COLUMNS

HOSTILE = Path(__file__).resolve().parent / "hostile"
MONTH = "2024-02"
ROLES = ("enrollees", "ledger")
TIMEOUT = 60  # seconds a command may take before it counts as hanging (a FIFO, a device)
MB10 = 10 * 1024 * 1024


def sample(role: str) -> str:
    return (SAMPLE / f"{role}.csv").read_text(encoding="utf-8")


def sample_lines(role: str) -> list[str]:
    return sample(role).splitlines(keepends=True)


Files = Callable[[Path], dict[str, Path]]


def lazily(role: str, build: Callable[[], str | bytes]) -> Files:
    """A case whose ``role`` file is what ``build`` gives (text as UTF-8), built only when the
    case runs: the big ones never sit in memory at collection."""

    def make(folder: Path) -> dict[str, Path]:
        content = build()
        path = folder / f"{role}.csv"
        path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
        return {role: path}

    return make


def with_line(role: str, number: int, change: Callable[[str], str]) -> Files:
    """The sample file with its physical line ``number`` (1 = header) changed."""

    def build() -> str:
        lines = sample_lines(role)
        lines[number - 1] = change(lines[number - 1])
        return "".join(lines)

    return lazily(role, build)


def cell(index: int, value: str) -> Callable[[str], str]:
    """Set cell ``index`` of an unquoted CSV line (its line end kept)."""

    def change(line: str) -> str:
        body = line.rstrip("\r\n")
        cells = body.split(",")
        cells[index] = value
        return ",".join(cells) + line[len(body) :]

    return change


# --------------------------------------------------------------------------- generated cases


def huge_amounts(amount: str, rows: int) -> str:
    return "account_no,posted_at,amount,reference,memo\n" + (
        f"6214830100062826,2024-02-17,{amount},,\n" * rows
    )


def ten_thousand_columns() -> str:
    lines = sample_lines("enrollees")
    extra = "," + ",".join(f"x{i}" for i in range(10_000))
    return "".join(
        line.rstrip("\n") + (extra if n == 0 else "," * 10_000) + "\n"
        for n, line in enumerate(lines)
    )


def latin1_name() -> bytes:
    """The sample's first rows in UTF-8, then a row another tool appended in Latin-1."""
    row = (
        "110108197602180197,,José,,,HD-RC04,active,2010-02-01,2024-01,,858.27,6214830100062826,BOB,"
    )
    return "".join(sample_lines("enrollees")[:3]).encode() + (row + "\n").encode("latin-1")


def truncated(role: str, through: str) -> Callable[[], str]:
    """The sample file cut short right after the last ``through``, inside its last row, as an
    interrupted export leaves it."""
    return lambda: sample(role)[: sample(role).rindex(through) + len(through)]


def cut_inside_a_quote() -> str:
    lines = sample_lines("enrollees")[:12]  # up to 朴成浩, line 13, whose remark is 朝鲜族
    piao = sample_lines("enrollees")[12]
    return "".join(lines) + piao[: piao.index(",BOB,") + 5] + '"朝鲜'


def cr_inside_a_value() -> str:
    """Line 2 holds a carriage return inside an unquoted extra value, lines 3–4 a quoted
    value spanning two lines, line 5 an impossible date: the date's line must be 5."""
    lines = sample_lines("enrollees")
    shan, zeng, piao = lines[1], lines[2], lines[12]
    return "".join(
        [
            lines[0],
            shan.replace("与曾志强共用账户", "与曾志强\r共用账户"),
            piao.replace(",朝鲜族", ',"朝鲜族\n户籍吉林延边"'),
            cell(7, "2024-02-30")(zeng),
        ]
    )


def a_folder(folder: Path) -> dict[str, Path]:
    path = folder / "enrollees.csv"
    path.mkdir()
    return {"enrollees": path}


def a_fifo(folder: Path) -> dict[str, Path]:
    path = folder / "enrollees.csv"
    os.mkfifo(path)
    return {"enrollees": path}


def dev_null(folder: Path) -> dict[str, Path]:
    return {"ledger": Path("/dev/null")}


# --------------------------------------------------------------------------- output checks


def output_rows(run_dir: Path) -> dict[str, list[dict[str, str]]]:
    """Every row CSV of round 1, agencies' lists included, by file name."""
    paths = [run_dir / n for n in ("success.csv", "failure.csv", "retry.csv", "skipped.csv")]
    paths += sorted((run_dir / "agencies").glob("*.csv"))
    found = {}
    for path in paths:
        with path.open(encoding="utf-8", newline="") as fh:
            found[str(path.relative_to(run_dir))] = list(csv.DictReader(fh))
    return found


def formulas_get_a_leading_quote(run_dir: Path, case_dir: Path) -> None:
    """DESIGN §8: text cells a spreadsheet would execute start with ' in every CSV, in names
    and extra columns alike; amounts (-5.00 balances) are never altered."""
    with (case_dir / "enrollees.csv").open(encoding="utf-8", newline="") as fh:
        given = {r["enrollee_id"]: r for r in csv.DictReader(fh)}
    files = output_rows(run_dir)
    assert "agencies/A01.csv" in files  # the three who cannot pay, to be reminded
    seen: set[str] = set()
    for name, rows in files.items():
        for row in rows:
            person = given[row["enrollee_id"]]
            assert row["name"] == "'" + person["name"].strip(), (name, row)
            assert row["remark"] == "'" + person["remark"], (name, row)  # the tab kept
            for column in ("amount", "balance_at_cutoff", "balance_available"):
                if column in row:
                    assert row[column] in ("100.00", "-5.00"), (name, column, row[column])
            if "balance_at_cutoff" in row:
                assert row["balance_at_cutoff"] == "-5.00"
            seen.add(row["enrollee_id"])
    assert seen == set(given)
    assert len(files["success.csv"]) == 2 and len(files["failure.csv"]) == 3


def carried_through(column: str, value: str) -> Callable[[Path, Path], None]:
    """README: unknown extra columns are carried through untouched, into every row file."""

    def check(run_dir: Path, case_dir: Path) -> None:
        rows = [r for rs in output_rows(run_dir).values() for r in rs]
        assert rows
        assert {r.get(column) for r in rows} == {value}

    return check


# --------------------------------------------------------------------------- the cases


@dataclass(frozen=True)
class Case:
    name: str
    status: int  # exit status of both commands: 2 refused, 0 accepted
    first: tuple[str, int, str | None] | None  # file, line (0: the file), column (None: any)
    # of stderr's first line; None: nothing on stderr
    codes: frozenset[str]  # exactly the codes of the --errors file
    also: tuple[tuple[str, int, str, str], ...] = ()  # more (file, line, column, code) rows
    said: tuple[str, ...] = ()  # on stderr
    unsaid: tuple[str, ...] = ()  # on neither stdout nor stderr (beyond IDs, accounts, names)
    files: Files | None = None  # None: the files of tests/hostile/<name>/
    options: tuple[str, ...] = ()
    after: Callable[[Path, Path], None] | None = None  # on an accepted round's run directory
    defect: str | None = None  # xfail(strict): what the product does wrong


def codes(*names: str) -> frozenset[str]:
    return frozenset(names)


E, L = "enrollees.csv", "ledger.csv"

CASES = [
    # ---- quotes
    Case("quote_unbalanced_enrollees", 2, (E, 3, ""), codes("BAD_QUOTE"),
         said=("enrollees.csv:3: a quote opened on this line is never closed",)),
    Case("quote_unbalanced_ledger", 2, (L, 3, ""), codes("BAD_QUOTE"),
         said=("closes on line 4 and is followed by more text",)),
    Case("quote_closed_then_text", 2, (E, 3, ""), codes("BAD_QUOTE"),
         said=("text after a closing quote",)),
    Case("quote_inside_value", 2, (L, 3, ""), codes("BAD_QUOTE"),
         said=("a quote inside an unquoted value",)),
    # ---- formulas: accepted, escaped in every output
    Case("formula_cells", 0, None, codes(), after=formulas_get_a_leading_quote),
    # ---- resident IDs and documents
    Case("area_codes_unknown", 0, (E, 2, "enrollee_id"), codes("UNKNOWN_AREA"),
         also=tuple((E, n, "enrollee_id", "UNKNOWN_AREA") for n in range(3, 7)),
         said=tuple(f"area code {a}" for a in ("320571", "370171", "410173", "110120", "310199"))),
    Case("id_checksum", 2, (E, 2, "enrollee_id"), codes("BAD_ID_CHECKSUM"),
         said=("check digit is 5, expected 4 (110101********0465)",)),
    Case("duplicate_enrollees", 2, (E, 4, "enrollee_id"), codes("DUPLICATE_ENROLLEE"),
         said=("duplicate enrollee (110101********123X), first on line 2",)),
    Case("passport_starting_with_dash", 2, (E, 3, "enrollee_id"), codes("BAD_ID"),
         said=("a document number is 5–24 letters or digits, starting with one",)),
    # ---- agencies: file names under agencies/
    Case("agency_too_long", 2, (E, 2, "agency"), codes("BAD_AGENCY"),
         also=((E, 3, "agency", "BAD_AGENCY"),), said=("is 65 characters", "is 86 characters")),
    # 64 characters of 4 bytes (𠀀): within 64 characters, beyond what a file name holds
    Case("agency_over_255_bytes", 2, (E, 3, "agency"), codes("BAD_AGENCY"),
         said=("is 256 bytes in UTF-8; an agency code names a file of agencies/, at most 240",)),
    Case("agency_clash", 2, (E, 3, "agency"), codes("AGENCY_CLASH"),
         also=((E, 5, "agency", "AGENCY_CLASH"),),
         said=("'DC_01' and 'DC/01' on line 2 give the same file name agencies/DC_01.csv",
               "'AB' and 'ab' on line 4")),
    # ---- dates and codes, shown or masked by what their column holds
    Case("date_in_chinese", 2, (E, 2, "enrolled_on"), codes("BAD_DATE"),
         said=("'2024年3月1日' is not a date YYYY-MM-DD",)),
    Case("personal_data_in_code_columns", 2, (E, 2, "enrolled_on"), codes("BAD_DATE", "BAD_VALUE"),
         also=((E, 3, "status", "BAD_VALUE"),),
         said=("'S**' is not a date", "'****' is not one of active"),
         unsaid=("SMITH JOHN", "E12345678")),
    Case("dates_impossible", 2, (E, 2, "enrolled_on"), codes("BAD_DATE"),
         also=((E, 3, "waiting_until", "BAD_DATE"),), said=("'2024-02-30' is not a date",)),
    Case("dates_impossible_ledger", 2, (L, 3, "posted_at"), codes("BAD_DATE"),
         also=((L, 4, "posted_at", "BAD_DATE"),)),
    Case("posted_at_year_0", 2, (L, 3, "posted_at"), codes("BAD_DATE"),
         said=("'0000-01-01' is not YYYY-MM-DD",)),
    # ---- empty files
    Case("header_only_enrollees", 2, (E, 0, ""), codes("NO_ROWS")),
    Case("header_only_ledger", 2, (L, 0, ""), codes("NO_ROWS")),
    Case("empty_enrollees", 2, (E, 1, ""), codes("EMPTY_FILE")),
    Case("empty_ledger", 2, (L, 1, ""), codes("EMPTY_FILE")),
    Case("blank_line_before_header", 2, (L, 1, ""), codes("EMPTY_FILE")),
    # the first row taken for the header: what it holds is masked in the messages
    Case("headerless_ledger", 2, (L, 1, None), codes("MISSING_COLUMN", "DUPLICATE_COLUMN"),
         said=("6214********2826: column 4 repeats column 1",)),
    # ---- encodings
    Case("latin1_name", 2, (E, 4, ""), codes("BAD_ENCODING"),
         files=lazily("enrollees", latin1_name), said=("neither UTF-8 nor GB18030",)),
    Case("utf16_enrollees", 2, (E, 1, ""), codes("BAD_ENCODING"),
         files=lazily("enrollees", lambda: sample("enrollees").encode("utf-16"))),
    Case("utf16_ledger", 2, (L, 1, ""), codes("BAD_ENCODING"),
         files=lazily("ledger", lambda: sample("ledger").encode("utf-16"))),
    Case("gb18030_read_as_utf8", 2, (E, 2, ""), codes("BAD_ENCODING"),
         files=lazily("enrollees", lambda: sample("enrollees").encode("gb18030")),
         options=("--encoding", "utf-8"), said=("not UTF-8 (try --encoding gb18030)",)),
    Case("bom_mid_file", 2, (E, 4, "enrollee_id"), codes("BAD_TEXT", "BAD_ID"),
         files=with_line("enrollees", 4, lambda line: "\ufeff" + line)),
    # ---- truncated exports
    Case("no_final_newline", 0, None, codes(),
         files=lazily("enrollees", lambda: sample("enrollees").rstrip("\n"))),
    Case("truncated_mid_row_enrollees", 2, (E, 51, "account_no"), codes("EMPTY", "BAD_VALUE"),
         also=((E, 51, "status", "BAD_VALUE"),),
         files=lazily("enrollees", truncated("enrollees", ",FT-SB05,ac"))),
    Case("truncated_mid_row_ledger", 2, (L, 137, "amount"), codes("EMPTY", "BAD_DATE"),
         also=((L, 137, "posted_at", "BAD_DATE"),),
         files=lazily("ledger", truncated("ledger", ",2024-02-2"))),
    Case("truncated_inside_a_quote", 2, (E, 13, ""), codes("BAD_QUOTE"),
         files=lazily("enrollees", cut_inside_a_quote)),
    # ---- line breaks, NULs and carriage returns
    Case("newline_in_name", 2, (E, 3, "name"), codes("BAD_TEXT", "MULTILINE_VALUE"),
         also=((E, 3, "", "MULTILINE_VALUE"),)),
    Case("newline_in_extra_column", 0, (E, 3, ""), codes("MULTILINE_VALUE"),
         said=("a quoted value spans lines 3–4",)),
    Case("nul_in_name", 2, (E, 4, "name"), codes("BAD_TEXT"),
         files=with_line("enrollees", 4, lambda line: line.replace("解文博", "解\x00文博"))),
    Case("nul_in_extra_column", 2, (E, 5, "remark"), codes("BAD_TEXT"),
         files=with_line("enrollees", 5, lambda line: line.replace("共用", "共\x00用")),
         said=("remark: holds a NUL byte",)),
    Case("cr_line_endings_enrollees", 2, (E, 1, ""), codes("BAD_LINE_ENDINGS"),
         files=lazily("enrollees", lambda: sample("enrollees").replace("\n", "\r"))),
    Case("cr_line_endings_ledger", 2, (L, 1, ""), codes("BAD_LINE_ENDINGS"),
         files=lazily("ledger", lambda: sample("ledger").replace("\n", "\r"))),
    Case("lone_cr_mid_file", 2, (E, 4, ""), codes("BAD_LINE_ENDINGS"),
         files=with_line("enrollees", 4, lambda line: line.replace("\n", "\r")),
         said=("a carriage return alone (an old Mac line end?) joins this line to the next",)),
    Case("cr_inside_value_shifts_lines", 2, (E, 5, "enrolled_on"),
         codes("BAD_DATE", "MULTILINE_VALUE"), also=((E, 3, "", "MULTILINE_VALUE"),),
         files=lazily("enrollees", cr_inside_a_value)),
    # ---- big cells, many columns
    Case("huge_name_10mb", 2, (E, 3, "name"), codes("BAD_TEXT"),
         files=with_line("enrollees", 3, lambda line: line.replace("曾志强", "曾" * (MB10 // 3))),
         said=("name: is longer than 100 characters",)),
    Case("huge_extra_column_10mb", 2, (E, 3, "remark"), codes("BAD_TEXT"),
         files=with_line("enrollees", 3, cell(13, "x" * MB10)),
         said=(f"remark: is {MB10} characters long; at most 32767",)),
    Case("extra_column_32767_chars", 0, None, codes(),
         files=with_line("enrollees", 3, cell(13, "x" * 32_767))),
    Case("extra_column_32768_chars", 2, (E, 3, "remark"), codes("BAD_TEXT"),
         files=with_line("enrollees", 3, cell(13, "x" * 32_768))),
    Case("columns_10000", 2, (E, 1, ""), codes("TOO_MANY_COLUMNS"),
         files=lazily("enrollees", ten_thousand_columns), said=("10014 columns; at most 256",)),
    Case("fields_10000_in_a_row", 2, (L, 4, ""), codes("BAD_ROW"),
         files=with_line("ledger", 4, lambda line: line.rstrip("\n") + "," * 10_000 + "\n"),
         said=("10005 fields, the header has 5",)),
    # ---- extra columns named like the outputs' or the engine's own
    # a name mediins gives a column of its own would clash or be overwritten: refused, as
    # `line` is (README "Problems found": RESERVED_COLUMN)
    Case("extra_column_named_amount", 2, (E, 1, "amount"), codes("RESERVED_COLUMN"),
         said=("'amount' is a column mediins makes itself",)),
    Case("extra_column_named_outcome", 2, (E, 1, "outcome"), codes("RESERVED_COLUMN")),
    Case("extra_column_dunder", 2, (E, 1, "__batch"), codes("RESERVED_COLUMN"),
         said=("names starting with __ too",)),
    Case("ledger_extra_column_amount_fen", 2, (L, 1, "amount_fen"), codes("RESERVED_COLUMN")),
    # ---- amounts: exact yuan, bounded so money never wraps
    Case("amounts_malformed", 2, (L, 4, "amount"), codes("BAD_AMOUNT"),
         also=tuple((L, n, "amount", "BAD_AMOUNT") for n in (5, 6, 7)),
         said=("'12.345' is not an amount", "'1e3' is not an amount", "'1,000.00' is not"),
         unsaid=("'-5.00'",)),
    Case("amount_thousands_unquoted", 2, (L, 3, ""), codes("BAD_ROW"),
         said=("6 fields, the header has 5",)),
    Case("premium_malformed", 2, (E, 2, "monthly_premium"), codes("BAD_AMOUNT"),
         also=((E, 3, "monthly_premium", "BAD_AMOUNT"),),
         said=("'-5.00' must be more than 0", "'619.955' is not an amount")),
    Case("amount_beyond_10e10", 2, (L, 3, "amount"), codes("BAD_AMOUNT"),
         said=("is beyond ±10000000000.00 yuan",)),
    Case("amounts_that_would_wrap", 2, (L, 2, "amount"), codes("BAD_AMOUNT", "ACCOUNT_TOO_LARGE"),
         also=((L, 94, "amount", "BAD_AMOUNT"), (L, 2, "amount", "ACCOUNT_TOO_LARGE")),
         files=lazily("ledger", lambda: huge_amounts("-999999999999999.99", 93))),
    Case("account_sum_beyond_10e12", 2, (L, 102, "amount"), codes("ACCOUNT_TOO_LARGE"),
         files=lazily("ledger", lambda: huge_amounts("9999999999.99", 101)),
         said=("account 6214********2826: its deposits or its withdrawals pass",)),
    # ---- duplicates
    Case("duplicate_references", 2, (L, 5, "reference"), codes("DUPLICATE_REFERENCE"),
         said=("'MI-202401-R1-000022' already on line 3",)),
    # ---- not files
    Case("folder_as_enrollees", 2, (E, 0, ""), codes("NO_FILE"), files=a_folder,
         said=("not a regular file",)),
    Case("fifo_as_enrollees", 2, (E, 0, ""), codes("NO_FILE"), files=a_fifo),
    Case("dev_null_as_ledger", 2, ("/dev/null", 0, ""), codes("NO_FILE"), files=dev_null),
]  # fmt: skip


# --------------------------------------------------------------------------- what a run shows

#: Header names (aliases included) of the columns that hold an ID, a name or an account.
_PERSONAL_COLUMNS = {
    name
    for c in (*ENROLLEE_COLUMNS, *LEDGER_COLUMNS)
    if c.name in ("enrollee_id", "name", "account_no")
    for name in (c.name, *c.aliases)
}
_ID = re.compile(r"(?<![0-9])[0-9]{17}[0-9Xx](?![0-9])")
_ACCOUNT = re.compile(r"(?<![0-9])[0-9]{16,19}(?![0-9])")
_NUMBER = re.compile(r"[+-]?[0-9][0-9.]*|[0-9]{4}-[0-9]{2}(-[0-9]{2})?( [0-9:]+)?")


def _decoded(data: bytes) -> str:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16", errors="replace")
    for encoding in ("utf-8", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            pass
    return data.decode("latin-1")


def personal_values(path: Path) -> set[str]:
    """The full resident IDs, account numbers and names a file holds (read leniently, since
    the file is hostile): the cells of its ID, name and account columns, and anything shaped
    like an ID or a 16–19 digit account anywhere in it."""
    if not path.is_file():
        return set()
    text = _decoded(path.read_bytes()).replace("\x00", "")
    lines = text.splitlines()
    found = {m.group().upper() for m in _ID.finditer(text)} | set(_ID.findall(text))
    found |= set(_ACCOUNT.findall(text))
    if not lines:
        return found
    try:
        parsed = list(csv.reader(io.StringIO(text)))[1:]
    except csv.Error:
        parsed = []
    naive = [line.split(",") for line in lines[1:]]  # where quotes went wrong
    header = [h.strip().lstrip("\ufeff") for h in lines[0].split(",")]
    positions = [i for i, h in enumerate(header) if h in _PERSONAL_COLUMNS]
    for rows, shifted in ((parsed, False), (naive, True)):
        for row in rows:
            for i in positions:
                value = row[i].strip().strip('"').strip() if i < len(row) else ""
                # a naive reading may shift an amount or a date into the column: not personal
                if len(value) >= 2 and not (shifted and _NUMBER.fullmatch(value)):
                    found |= {value, value.upper()}
    return found


def _invoke(run, args: list[Any], folder: Path):
    """Run the command in a thread with a timeout: reading a FIFO or a device must never hang."""
    result: list[Any] = []

    def target() -> None:
        try:
            result.append(run(*args))
        except BaseException as exc:  # the runner re-raises what the command did not handle
            result.append(exc)

    worker = threading.Thread(target=target, daemon=True)
    worker.start()
    worker.join(TIMEOUT)
    if worker.is_alive():  # release a reader blocked on a FIFO, then fail
        for fifo in folder.iterdir():
            if fifo.is_fifo():
                with contextlib.suppress(OSError):
                    os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        pytest.fail(f"{args[0]} did not finish within {TIMEOUT} s")
    if isinstance(result[0], BaseException):
        raise result[0]
    return result[0]


def _prefix(case: Case) -> str:
    assert case.first is not None
    file, line, column = case.first
    parts = [f"{file}:{line}" if line else file]
    if case.status == 0:
        parts.append("warning")
    if column:
        parts.append(column)
    return ": ".join(parts) + ": "


def _errors(path: Path) -> list[dict[str, str]]:
    assert path.is_file(), "the --errors file was not written"
    with path.open(encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        assert reader.fieldnames == ["file", "line", "column", "code", "message", "severity"]
        return list(reader)


def _params() -> list[Any]:
    return [
        pytest.param(
            case,
            id=case.name,
            marks=[pytest.mark.xfail(strict=True, reason=f"defect: {case.defect}")]
            if case.defect
            else [],
        )
        for case in CASES
    ]


@pytest.mark.parametrize("case", _params())
def test_hostile_case(run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, case: Case):
    folder = tmp_path / "case"
    folder.mkdir()
    monkeypatch.chdir(folder)  # files are shown relative to the working directory
    given = HOSTILE / case.name
    if case.files is None:
        assert given.is_dir(), f"no folder tests/hostile/{case.name}"
        made = {}
        for role in ROLES:
            if (given / f"{role}.csv").exists():
                made[role] = folder / f"{role}.csv"
                shutil.copyfile(given / f"{role}.csv", made[role])
    else:
        assert not given.exists(), f"tests/hostile/{case.name} is generated here, not a folder"
        made = case.files(folder)
    assert made, "a case holds at least one hostile file"
    paths = {}
    for role in ROLES:  # the other file of the pair is the sample month's, valid
        paths[role] = made.get(role) or Path(shutil.copyfile(SAMPLE / f"{role}.csv", f"{role}.csv"))
    hidden = set().union(*(personal_values(p) for p in paths.values()))
    files = ["--enrollees", paths["enrollees"], "--ledger", paths["ledger"], *case.options]
    out = folder / "out"
    commands = {
        "validate": ["validate", *files, "--errors", folder / "errors-validate.csv"],
        "deduct": [
            *("deduct", "--round", "1", "--month", MONTH, *files),
            *("--out", out, "--errors", folder / "errors-deduct.csv"),
        ],
    }
    for command, args in commands.items():
        result = _invoke(run, args, folder)
        said = result.stdout + result.stderr
        assert result.exit_code == case.status, (command, result.stderr)
        stderr = result.stderr.splitlines()
        if case.first is None:
            assert stderr == [], (command, stderr)
        else:
            assert stderr and stderr[0].startswith(_prefix(case)), (command, stderr[:3])
        for text in case.said:
            assert text in " ".join(result.stderr.split()), (command, text)
        problems = _errors(folder / f"errors-{command}.csv")
        assert {p["code"] for p in problems} == case.codes, (command, problems[:5])
        wanted = [(*case.first, None)] if case.first else []
        for file, line, column, code in [*wanted, *case.also]:
            assert any(
                p["file"] == file
                and p["line"] == str(line)
                and (column is None or p["column"] == column)
                and (code is None or p["code"] == code)
                for p in problems
            ), (command, file, line, column, code, problems[:5])
        assert any(p["severity"] == "error" for p in problems) == (case.status == 2)
        written = " ".join(p["column"] + " " + p["message"] for p in problems)
        for text in (*hidden, *case.unsaid):
            assert text not in said, (command, "on the terminal", text[:40])
            assert text not in written, (command, "in --errors", text[:40])
    if case.status == 2:
        assert not out.exists(), sorted(str(p) for p in out.rglob("*"))
    else:
        run_dir = out / MONTH / "round-1"
        assert (run_dir / "manifest.json").is_file()
        if case.after is not None:
            case.after(run_dir, folder)


def test_every_folder_of_the_corpus_is_a_case_and_every_case_is_run():
    names = [c.name for c in CASES]
    assert len(names) == len(set(names))
    folders = {p.name for p in HOSTILE.iterdir() if p.is_dir()}
    assert folders == {c.name for c in CASES if c.files is None}
    for folder in folders:
        assert {p.name for p in (HOSTILE / folder).iterdir()} <= {"enrollees.csv", "ledger.csv"}


def test_the_leak_check_knows_every_id_account_and_name_of_the_sample():
    with (SAMPLE / "enrollees.csv").open(encoding="utf-8", newline="") as fh:
        people = list(csv.DictReader(fh))
    wanted = {p[c] for p in people for c in ("enrollee_id", "name", "account_no")}
    assert len(wanted) > 100
    assert wanted <= personal_values(SAMPLE / "enrollees.csv")
    with (SAMPLE / "ledger.csv").open(encoding="utf-8", newline="") as fh:
        accounts = {r["account_no"] for r in csv.DictReader(fh)}
    assert accounts <= personal_values(SAMPLE / "ledger.csv")
