"""Reading enrollees.csv and ledger.csv (DESIGN §3): typed columns, exact money, and every problem
on the physical line an operator's editor would jump to."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest
import stdnum.cn.ric

import mediins_cli.inputs.source as source
from mediins_cli.errors import BadInput, format_problems
from mediins_cli.inputs import load_inputs, read_enrollees, read_ledger


def ric(first17: str) -> str:
    """A resident ID with a valid check digit (stdnum wants a placeholder in 18th place)."""
    return first17 + stdnum.cn.ric.calc_check_digit(first17 + "0")


# Hand-worked: weights 7 9 10 5 8 4 2 1 6 3 7 9 10 5 8 4 2 over 11010119900307123 sum to 174;
# 174 % 11 = 9, (12 - 9) % 11 = 3. The 17th digit 3 is odd: a man born 1990-03-07.
MAN = "110101199003071233"
WOMAN = "110101198512310023"  # 17th digit 2 is even; born 1985-12-31
ENDS_IN_X = "11010119900307109X"
UNKNOWN_AREA = ric("99010119900307123")  # checksum right, area 990101 unknown to stdnum
BAD_DAY = ric("11010119900230123")  # checksum right, 1990-02-30 does not exist

COLUMNS = (
    "enrollee_id",
    "id_type",
    "name",
    "sex",
    "birth_date",
    "agency",
    "status",
    "enrolled_on",
    "paid_through",
    "waiting_until",
    "monthly_premium",
    "account_no",
)
DEFAULTS = {
    "enrollee_id": MAN,
    "id_type": "",
    "name": "Zhang San",
    "sex": "",
    "birth_date": "",
    "agency": "A01",
    "status": "active",
    "enrolled_on": "2024-01-05",
    "paid_through": "2024-02",
    "waiting_until": "",
    "monthly_premium": "703.53",
    "account_no": "6214830012345678",
}
HEADER = ",".join(COLUMNS)
LEDGER_HEADER = "account_no,posted_at,amount,reference"


def row(**values: str) -> str:
    cells = {**DEFAULTS, **values}
    return ",".join(cells[c] for c in COLUMNS)


def csv_text(*lines: str) -> str:
    return "\n".join(lines) + "\n"


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Files are shown relative to the working directory: work where the files are."""
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def enrollees(write):
    """Write enrollees.csv and read it: (typed frame or None, problems, encoding used)."""

    def read(text: str, file_encoding: str = "utf-8", encoding: str = "auto"):
        return read_enrollees(write("enrollees.csv", text, file_encoding), encoding)

    return read


@pytest.fixture
def ledger(write):
    def read(text: str, file_encoding: str = "utf-8", encoding: str = "auto"):
        return read_ledger(write("ledger.csv", text, file_encoding), encoding)

    return read


def where(problems: pl.DataFrame) -> list[tuple[int, str, str]]:
    """(line, column, code) of every problem, sorted."""
    return sorted(problems.select("line", "column", "code").iter_rows())


def only_row(frame: pl.DataFrame | None) -> dict:
    assert frame is not None
    assert frame.height == 1
    return frame.row(0, named=True)


GOOD_LEDGER = csv_text(LEDGER_HEADER, "6214830012345678,2024-01-10,1000.00,")


# --------------------------------------------------------------------------- line numbers


def test_a_stray_character_in_an_id_or_a_code_is_said_as_such_on_its_line(enrollees):
    """The enrollee pass does not look for stray characters in the ID and the coded columns
    apart: their own checks flag such a row (enrollees._SELF_CHECKED). The messages are those
    of every other column all the same, one for each such cell."""
    text = csv_text(
        HEADER,
        row(),  # line 2: good
        row(enrollee_id=WOMAN[:10] + "\u200b" + WOMAN[10:]),  # a zero-width space
        row(enrollee_id=WOMAN, id_type="ric\ufeff"),  # a stray BOM
        row(enrollee_id=ENDS_IN_X, sex="M\x07"),  # a bell
        row(enrollee_id=ric("11010119800101001"), status="active\u202e"),  # a bidi override
    )
    frame, problems, _ = enrollees(text)
    stray = "holds a control or invisible character (a NUL, a line break, a stray BOM)"
    said = format_problems(problems)
    for line, column in ((3, "enrollee_id"), (4, "id_type"), (5, "sex"), (6, "status")):
        assert f"enrollees.csv:{line}: {column}: {stray}" in said
    assert not any(s.startswith("enrollees.csv:2:") for s in said)
    assert frame is not None and frame.height == 5  # the rows are typed; the problems stop a run
    assert (problems["severity"] == "error").all()


def test_every_problem_is_reported_on_its_physical_line_past_multiline_fields_and_blank_lines(
    enrollees,
):
    text = csv_text(
        HEADER,
        row(name='"Zhang\nSan"'),  # lines 2-3: a quoted name spanning two lines
        row(enrollee_id="110101199003071234", account_no="6214830012345679"),  # line 4
        "",  # line 5: blank
        row(enrollee_id=WOMAN, enrolled_on="2024/01/05", monthly_premium="703.535"),  # line 6
        row(enrollee_id=ENDS_IN_X, paid_through="2024-13"),  # line 7
    )
    frame, problems, used = enrollees(text)

    assert used == "utf-8"
    assert format_problems(problems) == [
        # a line break inside a name is refused (a multi-line value is for extra columns)
        "enrollees.csv:2: name: holds a control or invisible character "
        "(a NUL, a line break, a stray BOM)",
        "enrollees.csv:4: enrollee_id: check digit is 4, expected 3 (110101********1234)",
        "enrollees.csv:6: enrolled_on: '2024/01/05' is not a date YYYY-MM-DD",
        "enrollees.csv:6: monthly_premium: "
        "'703.535' is not an amount in yuan with at most two decimals",
        "enrollees.csv:7: paid_through: '2024-13' is not a month YYYY-MM",
        "enrollees.csv:2: warning: a quoted value spans lines 2–3; if a quote was left open "
        "by mistake, rows were merged into it",
    ]
    assert where(problems) == [
        (2, "", "MULTILINE_VALUE"),
        (2, "name", "BAD_TEXT"),
        (4, "enrollee_id", "BAD_ID_CHECKSUM"),
        (6, "enrolled_on", "BAD_DATE"),
        (6, "monthly_premium", "BAD_AMOUNT"),
        (7, "paid_through", "BAD_MONTH"),
    ]
    assert set(problems["file"]) == {"enrollees.csv"}
    assert frame is not None
    assert frame["line"].to_list() == [2, 4, 6, 7]
    assert frame["name"][0] == "Zhang\nSan"


def test_line_numbers_without_multiline_fields_count_from_the_header_as_line_1(enrollees):
    text = csv_text(
        HEADER, row(), row(enrollee_id=WOMAN, account_no="6214830012345679"), row(status="gone")
    )
    frame, problems, _ = enrollees(text)
    assert frame is not None
    assert frame["line"].to_list() == [2, 3, 4]
    assert where(problems) == [(4, "enrollee_id", "DUPLICATE_ENROLLEE"), (4, "status", "BAD_VALUE")]


def test_a_ragged_row_with_more_fields_than_the_header_is_reported_with_its_line(enrollees):
    text = csv_text(HEADER, row(), '"a\nb"' + row()[len(MAN) :], row() + ",surplus")
    frame, problems, _ = enrollees(text)
    assert frame is None
    assert format_problems(problems) == [
        f"enrollees.csv:5: {len(COLUMNS) + 1} fields, the header has {len(COLUMNS)}"
    ]
    assert where(problems) == [(5, "", "BAD_ROW")]


# --------------------------------------------------------------------------- resident IDs


def test_the_hand_worked_ids_are_valid_for_stdnum():
    assert ric("11010119900307123") == MAN
    for ident in (MAN, WOMAN, ENDS_IN_X):
        assert stdnum.cn.ric.is_valid(ident), ident


def test_a_valid_resident_id_passes_without_problems(enrollees):
    frame, problems, _ = enrollees(csv_text(HEADER, row()))
    assert problems.height == 0
    assert only_row(frame)["enrollee_id"] == MAN


def test_wrong_check_digit_is_an_error_with_the_id_masked(enrollees, write):
    wrong = "110101199003071234"
    _, problems, _ = enrollees(csv_text(HEADER, row(enrollee_id=wrong)))
    assert format_problems(problems) == [
        "enrollees.csv:2: enrollee_id: check digit is 4, expected 3 (110101********1234)"
    ]
    assert problems["code"].to_list() == ["BAD_ID_CHECKSUM"]
    assert not any(wrong in m for m in problems["message"])

    with pytest.raises(BadInput) as caught:
        load_inputs(Path("enrollees.csv"), write("ledger.csv", GOOD_LEDGER))
    assert "110101********1234" in str(caught.value)
    assert wrong not in str(caught.value)


def test_no_message_shows_a_full_id_whatever_is_wrong(enrollees):
    idents = ["110101199003071234", MAN + "0", MAN[:-1], BAD_DAY, "11010119900307123A"]
    rows = [row(enrollee_id=i, account_no=f"62148300123456{n:02d}") for n, i in enumerate(idents)]
    _, problems, _ = enrollees(csv_text(HEADER, *rows, row(sex="F")))
    assert problems.height >= len(idents) + 1
    for message in problems["message"]:
        assert not any(ident in message for ident in [*idents, MAN]), message


def test_lowercase_x_check_digit_is_accepted_and_normalised_to_upper_case(enrollees):
    frame, problems, _ = enrollees(csv_text(HEADER, row(enrollee_id=ENDS_IN_X.lower())))
    assert problems.height == 0
    assert only_row(frame)["enrollee_id"] == ENDS_IN_X


@pytest.mark.parametrize(
    ("ident", "length", "masked"),
    [
        (MAN[:-1], 17, "110101********7123"),
        (MAN + "1", 19, "110101********2331"),
        ("11010119900307123A", 18, "110101********123A"),
    ],
)
def test_a_resident_id_of_the_wrong_shape_is_an_error(enrollees, ident, length, masked):
    _, problems, _ = enrollees(csv_text(HEADER, row(enrollee_id=ident)))
    assert format_problems(problems) == [
        f"enrollees.csv:2: enrollee_id: a resident ID is 17 digits and a digit or X; "
        f"got {length} characters ({masked})"
    ]
    assert problems["code"].to_list() == ["BAD_ID"]


def test_an_impossible_birth_date_inside_the_id_is_an_error(enrollees):
    _, problems, _ = enrollees(csv_text(HEADER, row(enrollee_id=BAD_DAY)))
    assert where(problems) == [(2, "enrollee_id", "BAD_ID_DATE")]
    assert problems["message"][0] == (
        f"the birth date in the ID is not a date (110101********{BAD_DAY[-4:]})"
    )


def test_an_area_code_stdnum_does_not_know_is_a_warning_and_loading_succeeds(enrollees, write):
    assert stdnum.cn.ric.calc_check_digit(UNKNOWN_AREA) == UNKNOWN_AREA[-1]
    text = csv_text(HEADER, row(enrollee_id=UNKNOWN_AREA))
    frame, problems, _ = enrollees(text)
    assert where(problems) == [(2, "enrollee_id", "UNKNOWN_AREA")]
    assert problems["severity"].to_list() == ["warning"]
    assert format_problems(problems)[0].startswith("enrollees.csv:2: warning: enrollee_id: ")
    assert only_row(frame)["enrollee_id"] == UNKNOWN_AREA

    loaded = load_inputs(Path("enrollees.csv"), write("ledger.csv", GOOD_LEDGER))
    assert loaded.enrollees["enrollee_id"].to_list() == [UNKNOWN_AREA]
    assert loaded.warnings["code"].to_list() == ["UNKNOWN_AREA"]
    assert loaded.warnings["severity"].to_list() == ["warning"]


# --------------------------------------------------------------------------- sex, birth date


def test_sex_and_birth_date_are_derived_from_the_id_when_empty(enrollees):
    text = csv_text(HEADER, row(), row(enrollee_id=WOMAN, account_no="6214830012345679"))
    frame, problems, _ = enrollees(text)
    assert problems.height == 0
    assert frame is not None
    assert frame["sex"].to_list() == ["M", "F"]
    assert frame["birth_date"].to_list() == [dt.date(1990, 3, 7), dt.date(1985, 12, 31)]
    assert frame.schema["birth_date"] == pl.Date


def test_given_sex_and_birth_date_that_contradict_the_id_are_errors(enrollees):
    text = csv_text(HEADER, row(sex="F", birth_date="1990-03-08"))
    _, problems, _ = enrollees(text)
    assert format_problems(problems) == [
        "enrollees.csv:2: birth_date: is 1990-03-08, which is not the birth date in the ID",
        "enrollees.csv:2: sex: is F but the ID says M",
    ]
    assert set(problems["code"]) == {"ID_MISMATCH"}
    # The masked ID hides the birth date; no message may give it back.
    assert not any("19900307" in m or "1990-03-07" in m for m in problems["message"])


def test_given_sex_and_birth_date_that_agree_with_the_id_are_kept(enrollees):
    frame, problems, _ = enrollees(csv_text(HEADER, row(sex="m", birth_date="1990-03-07")))
    assert problems.height == 0
    assert only_row(frame)["sex"] == "M"


def test_chinese_sex_values_are_accepted(enrollees):
    text = csv_text(
        HEADER,
        row(sex="男"),
        row(enrollee_id=WOMAN, sex="女", account_no="6214830012345679"),
        row(enrollee_id=ENDS_IN_X, sex="X", account_no="6214830012345670"),
    )
    frame, problems, _ = enrollees(text)
    assert format_problems(problems) == ["enrollees.csv:4: sex: 'X' is not M or F (男/女)"]
    assert frame is not None
    assert frame["sex"].to_list()[:2] == ["M", "F"]


# --------------------------------------------------------------------------- other documents


@pytest.mark.parametrize(
    ("id_type", "ident", "code"),
    [
        ("hkmo", "H1234567890", "hkmo"),
        ("passport", "E12345678", "passport"),
        ("护照", "e12345678", "passport"),
        ("港澳通行证", "C12345678", "hkmo"),
        ("TW", "12345678", "tw"),
    ],
)
def test_documents_other_than_a_resident_id_skip_the_checksum(enrollees, id_type, ident, code):
    frame, problems, _ = enrollees(csv_text(HEADER, row(id_type=id_type, enrollee_id=ident)))
    assert problems.height == 0
    got = only_row(frame)
    assert got["id_type"] == code
    assert got["enrollee_id"] == ident.upper()
    assert got["sex"] is None
    assert got["birth_date"] is None


def test_an_unknown_id_type_is_an_error(enrollees):
    _, problems, _ = enrollees(csv_text(HEADER, row(id_type="driving licence")))
    assert where(problems) == [(2, "id_type", "BAD_VALUE")]


# --------------------------------------------------------------------------- duplicates


def test_a_duplicate_enrollee_is_an_error_on_the_second_line_naming_the_first(enrollees):
    text = csv_text(
        HEADER,
        row(enrollee_id=WOMAN),
        row(),
        row(enrollee_id=WOMAN.lower(), name="Again", account_no="6214830012345679"),
    )
    _, problems, _ = enrollees(text)
    assert format_problems(problems) == [
        "enrollees.csv:4: enrollee_id: duplicate enrollee (110101********0023), first on line 2"
    ]
    assert where(problems) == [(4, "enrollee_id", "DUPLICATE_ENROLLEE")]


# --------------------------------------------------------------------------- money


def test_premiums_are_exact_integer_fen(enrollees):
    text = csv_text(
        HEADER,
        row(monthly_premium="703.53"),
        row(enrollee_id=WOMAN, monthly_premium="703.5"),
        row(enrollee_id=ENDS_IN_X, monthly_premium="703"),
    )
    frame, problems, _ = enrollees(text)
    assert problems.height == 0
    assert frame is not None
    assert frame["premium_fen"].to_list() == [70353, 70350, 70300]
    assert frame.schema["premium_fen"] == pl.Int64
    assert "monthly_premium" not in frame.columns
    assert not any(dtype.is_float() for dtype in frame.dtypes)


@pytest.mark.parametrize(
    ("cell", "message"),
    [
        ("703.535", "'703.535' is not an amount in yuan with at most two decimals"),
        ("1e3", "'1e3' is not an amount in yuan with at most two decimals"),
        ('"1,000.00"', "'1,000.00' is not an amount in yuan with at most two decimals"),
        ("¥703", "'¥703' is not an amount in yuan with at most two decimals"),
        ("0", "'0' must be more than 0"),
        ("0.00", "'0.00' must be more than 0"),
        ("-703.53", "'-703.53' must be more than 0"),
    ],
)
def test_a_malformed_or_non_positive_premium_is_an_error(enrollees, cell, message):
    _, problems, _ = enrollees(csv_text(HEADER, row(monthly_premium=cell)))
    assert format_problems(problems) == [f"enrollees.csv:2: monthly_premium: {message}"]
    assert problems["code"].to_list() == ["BAD_AMOUNT"]


def test_ledger_amounts_are_signed_integer_fen(ledger):
    text = csv_text(
        LEDGER_HEADER,
        "6214830012345678,2024-01-01,1000,",
        "6214830012345678,2024-01-02,-0.05,",
        "6214830012345678,2024-01-03,+12.3,",
        "6214830012345678,2024-01-04,-703.53,R1",
    )
    frame, problems, _ = ledger(text)
    assert problems.height == 0
    assert frame is not None
    assert frame["amount_fen"].to_list() == [100000, -5, 1230, -70353]
    assert frame.schema["amount_fen"] == pl.Int64
    assert not any(dtype.is_float() for dtype in frame.dtypes)


@pytest.mark.parametrize("cell", ["1.005", "1e3", "", "- 5", "5.", ".5"])
def test_a_malformed_or_missing_ledger_amount_is_an_error(ledger, cell):
    frame, problems, _ = ledger(csv_text(LEDGER_HEADER, f"6214830012345678,2024-01-01,{cell},"))
    assert where(problems) == [(2, "amount", "EMPTY" if cell == "" else "BAD_AMOUNT")]
    assert frame is not None
    assert frame["amount_fen"].to_list() == [None]


# --------------------------------------------------------------------------- dates


@pytest.mark.parametrize(
    "cell", ["2023-02-30", "2024/01/05", "2024-1-5", "20240105", "2024-01-05x"]
)
def test_a_malformed_or_impossible_date_is_an_error(enrollees, cell):
    frame, problems, _ = enrollees(csv_text(HEADER, row(enrolled_on=cell, waiting_until=cell)))
    assert format_problems(problems) == [
        f"enrollees.csv:2: enrolled_on: '{cell}' is not a date YYYY-MM-DD",
        f"enrollees.csv:2: waiting_until: '{cell}' is not a date YYYY-MM-DD",
    ]
    assert only_row(frame)["enrolled_on"] is None


@pytest.mark.parametrize("cell", ["2024-13", "2024-1", "2024-00", "2024-02-01", "202402"])
def test_a_malformed_paid_through_month_is_an_error(enrollees, cell):
    _, problems, _ = enrollees(csv_text(HEADER, row(paid_through=cell)))
    assert format_problems(problems) == [
        f"enrollees.csv:2: paid_through: '{cell}' is not a month YYYY-MM"
    ]


def test_dates_and_months_are_typed(enrollees):
    text = csv_text(
        HEADER,
        row(enrolled_on="2024-02-29", paid_through="2024-12", waiting_until="2024-08-27"),
        row(enrollee_id=WOMAN, paid_through=""),
    )
    frame, problems, _ = enrollees(text)
    assert problems.height == 0
    assert frame is not None
    assert frame["enrolled_on"].to_list() == [dt.date(2024, 2, 29), dt.date(2024, 1, 5)]
    assert frame["paid_through"].to_list() == [dt.date(2024, 12, 1), None]
    assert frame["waiting_until"].to_list() == [dt.date(2024, 8, 27), None]
    for column in ("enrolled_on", "paid_through", "waiting_until", "birth_date"):
        assert frame.schema[column] == pl.Date


def test_posted_at_accepts_a_date_a_minute_or_a_second_and_a_date_alone_is_midnight(ledger):
    text = csv_text(
        LEDGER_HEADER,
        "6214830012345678,2024-01-05,1.00,",
        "6214830012345678,2024-01-05 09:30,1.00,",
        "6214830012345678,2024-01-05 23:59:59,1.00,",
    )
    frame, problems, _ = ledger(text)
    assert problems.height == 0
    assert frame is not None
    assert frame["posted_at"].to_list() == [
        dt.datetime(2024, 1, 5, 0, 0),
        dt.datetime(2024, 1, 5, 9, 30),
        dt.datetime(2024, 1, 5, 23, 59, 59),
    ]
    assert frame.schema["posted_at"] == pl.Datetime("us")


@pytest.mark.parametrize(
    "cell",
    ["2024-01-05T09:30", "2024/01/05", "2024-02-30", "2024-01-05 24:00", "2024-01-05 9:30"],
)
def test_a_malformed_posted_at_is_an_error(ledger, cell):
    _, problems, _ = ledger(csv_text(LEDGER_HEADER, f"6214830012345678,{cell},1.00,"))
    assert format_problems(problems) == [
        f"ledger.csv:2: posted_at: '{cell}' is not YYYY-MM-DD or YYYY-MM-DD HH:MM[:SS]"
    ]


# --------------------------------------------------------------------------- header


def test_chinese_header_aliases_and_status_values_are_accepted(enrollees):
    text = csv_text(
        "身份证号,姓名,经办机构,参保状态,参保日期,月缴费额,账号",
        f"{MAN},张三,A01,正常参保,2024-01-05,703.53,6214830012345678",
        f"{WOMAN},李四,A01,暂停,2024-01-05,703.53,6214830012345679",
        f"{ENDS_IN_X},王五,A01,终止,2024-01-05,703.53,6214830012345670",
    )
    frame, problems, _ = enrollees(text)
    assert problems.height == 0
    assert frame is not None
    assert frame["status"].to_list() == ["active", "suspended", "terminated"]
    assert frame["name"].to_list() == ["张三", "李四", "王五"]
    assert frame["account_no"][0] == "6214830012345678"
    assert {"enrollee_id", "name", "agency", "status", "account_no"} <= set(frame.columns)


def test_english_headers_with_surrounding_spaces_and_any_case_are_accepted(enrollees):
    text = csv_text(
        " Enrollee_ID , name ,agency , STATUS,enrolled_on,monthly_premium , account_no",
        f"{MAN},Zhang San,A01,Active,2024-01-05,703.53,6214830012345678",
    )
    frame, problems, _ = enrollees(text)
    assert problems.height == 0
    got = only_row(frame)
    assert got["enrollee_id"] == MAN
    assert got["status"] == "active"
    assert got["premium_fen"] == 70353


def test_a_missing_required_column_is_reported_on_line_1_naming_it(enrollees):
    text = csv_text(
        "enrollee_id,name,agency,status,enrolled_on,monthly_premium", f"{MAN},Z,A01,active,x,y"
    )
    frame, problems, _ = enrollees(text)
    assert frame is None
    assert format_problems(problems) == [
        "enrollees.csv:1: account_no: required column is missing "
        "(also accepted: 账号 / 帐号 / 银行账号 / 扣款账号 / 卡号)"
    ]
    assert where(problems) == [(1, "account_no", "MISSING_COLUMN")]


def test_a_column_given_twice_under_an_alias_is_reported(enrollees):
    text = csv_text(
        "enrollee_id,name,agency,status,enrolled_on,monthly_premium,account_no,姓名",
        row(),
    )
    frame, problems, _ = enrollees(text)
    assert frame is None
    assert format_problems(problems) == ["enrollees.csv:1: name: column 8 (姓名) repeats column 2"]
    assert where(problems) == [(1, "name", "DUPLICATE_COLUMN")]


def test_unknown_extra_columns_are_carried_through_untouched(enrollees):
    text = csv_text(
        HEADER + ",备注,Remark",
        row() + ",  外地户籍 ,007",
        row(enrollee_id=WOMAN, account_no="6214830012345679") + ",,x",
    )
    frame, problems, _ = enrollees(text)
    assert problems.height == 0
    assert frame is not None
    assert frame["备注"].to_list() == ["  外地户籍 ", None]
    assert frame["Remark"].to_list() == ["007", "x"]
    assert frame.schema["Remark"] == pl.String
    assert frame.columns[-3:] == ["备注", "Remark", "line"]


def test_a_file_with_only_a_header_is_refused_as_no_rows_but_still_typed(enrollees, ledger):
    """DESIGN §3 pre-flight: an export with no rows is a failed export, not an empty month."""
    frame, problems, _ = enrollees(csv_text(HEADER))
    assert format_problems(problems) == [
        "enrollees.csv: the file has a header and no rows: no enrollees"
    ]
    assert where(problems) == [(0, "", "NO_ROWS")]
    assert frame is not None
    assert frame.height == 0
    assert frame.schema["premium_fen"] == pl.Int64
    _, problems, _ = ledger(csv_text(LEDGER_HEADER, "", " , , , "))
    assert where(problems) == [(0, "", "NO_ROWS")]


def test_an_empty_file_is_reported_on_line_1(enrollees):
    frame, problems, _ = enrollees("")
    assert frame is None
    assert where(problems) == [(1, "", "EMPTY_FILE")]


# --------------------------------------------------------------------------- encodings

GB_TEXT = csv_text(
    HEADER,
    row(),
    row(enrollee_id=WOMAN, name="张䶮", account_no="6214830012345679"),  # line 3
    row(enrollee_id=ENDS_IN_X, name="𠀀𠀀", status="暂停", account_no="6214830012345670"),
)


def test_a_utf8_file_with_a_bom_is_read(enrollees):
    frame, problems, used = enrollees("\ufeff" + csv_text(HEADER, row(name="张三")))
    assert problems.height == 0
    assert used == "utf-8"
    got = only_row(frame)
    assert got["enrollee_id"] == MAN
    assert got["name"] == "张三"


def test_characters_only_gb18030_has_round_trip_in_utf8(enrollees):
    frame, problems, used = enrollees(GB_TEXT)
    assert problems.height == 0
    assert used == "utf-8"
    assert frame is not None
    assert frame["name"].to_list() == ["Zhang San", "张䶮", "𠀀𠀀"]


@pytest.mark.parametrize("encoding", ["auto", "gb18030", "GBK"])
def test_a_gb18030_file_is_detected_or_read_as_told_with_rare_characters_intact(
    enrollees, encoding
):
    for rare in ("䶮", "𠀀"):  # not in GBK: only GB18030 can carry them
        with pytest.raises(UnicodeEncodeError):
            rare.encode("gbk")
    frame, problems, used = enrollees(GB_TEXT, file_encoding="gb18030", encoding=encoding)
    assert problems.height == 0
    assert used == "gb18030"
    assert frame is not None
    assert frame["name"].to_list() == ["Zhang San", "张䶮", "𠀀𠀀"]
    assert frame["status"].to_list() == ["active", "active", "suspended"]


def test_a_gb18030_file_read_as_utf8_fails_on_the_line_of_the_first_chinese_byte(enrollees):
    frame, problems, _ = enrollees(GB_TEXT, file_encoding="gb18030", encoding="utf-8")
    assert frame is None
    assert format_problems(problems) == [
        "enrollees.csv:3: undecodable byte 0xd5: not UTF-8 (try --encoding gb18030)"
    ]
    assert where(problems) == [(3, "", "BAD_ENCODING")]


def test_a_gb18030_chinese_header_is_read_in_auto_mode(enrollees):
    text = csv_text(
        "身份证号,姓名,经办机构,参保状态,参保日期,月缴费额,账号",
        f"{MAN},张三,东城代理处,正常参保,2024-01-05,703.53,6214830012345678",
    )
    frame, problems, used = enrollees(text, file_encoding="gb18030")
    assert problems.height == 0
    assert used == "gb18030"
    got = only_row(frame)
    assert (got["name"], got["agency"], got["status"]) == ("张三", "东城代理处", "active")


def test_a_byte_invalid_in_both_encodings_fails_in_auto_mode_naming_its_line(tmp_path):
    path = tmp_path / "enrollees.csv"
    path.write_bytes(csv_text(HEADER, row()).encode() + b"\xff\xff,\n")
    frame, problems, _ = read_enrollees(path, "auto")
    assert frame is None
    assert format_problems(problems) == [
        "enrollees.csv:3: undecodable byte 0xff: neither UTF-8 nor GB18030"
    ]
    assert where(problems) == [(3, "", "BAD_ENCODING")]


def test_a_bad_byte_in_a_gb18030_file_is_named_where_it_is_not_at_the_first_chinese(tmp_path):
    # UTF-8 breaks on line 2 (a GB18030 name), GB18030 only on line 3: the later line is the
    # one to fix, and 0xd5 on line 2 is not "neither UTF-8 nor GB18030".
    text = csv_text(HEADER, row(name="张三")).encode("gb18030") + b"\xff\xff,\n"
    path = tmp_path / "enrollees.csv"
    path.write_bytes(text)
    frame, problems, _ = read_enrollees(path, "auto")
    assert frame is None
    assert format_problems(problems) == [
        "enrollees.csv:3: undecodable byte 0xff: neither UTF-8 nor GB18030"
    ]


@pytest.mark.parametrize(
    ("encoding", "text"),
    [("utf-8", "abcdef张"), ("gb18030", "abcdefg张"), ("gb18030", "abcde𠀀")],
)
def test_a_bad_byte_just_after_a_character_split_across_read_chunks_is_located_exactly(
    tmp_path, monkeypatch, encoding, text
):
    # With 8-byte chunks the last character of ``text`` straddles the first chunk boundary, so
    # the decoder holds its first bytes back; the bad byte right after it, then a newline, must
    # still be reported as itself and on line 1.
    encoded = text.encode(encoding)
    assert len(encoded) > 8 > len(text[:-1].encode(encoding))
    monkeypatch.setattr(source, "_CHUNK", 8)
    path = tmp_path / "enrollees.csv"
    path.write_bytes(encoded + b"\xff\nmore\n")
    frame, problems, _ = read_enrollees(path, encoding)
    assert frame is None
    assert where(problems) == [(1, "", "BAD_ENCODING")]
    assert problems["message"][0].startswith("undecodable byte 0xff: ")


@pytest.mark.parametrize("encoding", ["utf-8", "gb18030"])
def test_a_truncated_character_at_the_end_of_the_file_names_its_byte(tmp_path, encoding):
    path = tmp_path / "enrollees.csv"
    path.write_bytes(csv_text(HEADER).encode() + "张".encode(encoding)[:1])
    frame, problems, _ = read_enrollees(path, encoding)
    assert frame is None
    first = "张".encode(encoding)[0]
    assert format_problems(problems)[0].startswith(
        f"enrollees.csv:2: undecodable byte 0x{first:02x}: "
    )


def test_an_unknown_encoding_name_is_a_problem_for_the_whole_file(enrollees):
    frame, problems, _ = enrollees(csv_text(HEADER, row()), encoding="latin-1")
    assert frame is None
    assert where(problems) == [(0, "", "BAD_ENCODING")]


# --------------------------------------------------------------------------- ledger


def test_a_duplicate_reference_is_an_error_naming_the_first_line_and_empty_ones_are_fine(ledger):
    text = csv_text(
        LEDGER_HEADER,
        "6214830012345678,2024-01-01,1000.00,",
        "6214830012345678,2024-01-12,-703.53,MD-2024-01-1-0001",
        "6214830012345678,2024-01-13,5.00,",
        "6214830012345678,2024-01-14,5.00,",
        "6214830012345679,2024-01-25,-703.53,MD-2024-01-1-0001",
    )
    frame, problems, _ = ledger(text)
    assert format_problems(problems) == [
        "ledger.csv:6: reference: 'MD-2024-01-1-0001' already on line 3"
    ]
    assert where(problems) == [(6, "reference", "DUPLICATE_REFERENCE")]
    assert frame is not None
    assert frame["reference"].to_list() == [
        None,
        "MD-2024-01-1-0001",
        None,
        None,
        "MD-2024-01-1-0001",
    ]


def test_ledger_chinese_headers_and_a_missing_reference_column_are_accepted(ledger):
    frame, problems, _ = ledger(csv_text("账号,交易时间,金额", "6214830012345678,2024-01-01,12.34"))
    assert problems.height == 0
    got = only_row(frame)
    assert got["amount_fen"] == 1234
    assert got["reference"] is None


def test_a_bad_ledger_account_number_is_an_error_with_the_account_masked(ledger):
    _, problems, _ = ledger(csv_text(LEDGER_HEADER, "6214-8300-1234-5678,2024-01-01,1.00,"))
    assert format_problems(problems) == [
        "ledger.csv:2: account_no: an account number is 6–32 digits (6214********5678)"
    ]


# --------------------------------------------------------------------------- load_inputs


def test_load_inputs_raises_bad_input_with_the_problems_of_both_files_at_once(write):
    e = write(
        "enrollees.csv",
        csv_text(HEADER, row(), row(enrollee_id="110101199003071234", monthly_premium="1e3")),
    )
    ledger_path = write(
        "ledger.csv", csv_text(LEDGER_HEADER, "6214830012345678,2024-13-01,1.00,", "x,,,")
    )
    with pytest.raises(BadInput) as caught:
        load_inputs(e, ledger_path)
    error = caught.value
    assert error.frame.columns == ["file", "line", "column", "code", "message", "severity"]
    assert sorted(error.frame.select("file", "line", "column", "code").iter_rows()) == [
        ("enrollees.csv", 3, "enrollee_id", "BAD_ID_CHECKSUM"),
        ("enrollees.csv", 3, "monthly_premium", "BAD_AMOUNT"),
        ("ledger.csv", 2, "posted_at", "BAD_DATE"),
        ("ledger.csv", 3, "account_no", "BAD_ACCOUNT"),
        ("ledger.csv", 3, "amount", "EMPTY"),
        ("ledger.csv", 3, "posted_at", "EMPTY"),
    ]
    assert error.errors == 6
    assert "enrollees.csv:3: enrollee_id: check digit is 4" in str(error)
    assert "ledger.csv:2: posted_at: '2024-13-01'" in str(error)


def test_load_inputs_reports_an_unusable_ledger_together_with_enrollee_problems(write):
    e = write("enrollees.csv", csv_text(HEADER, row(status="dormant")))
    ledger_path = write("ledger.csv", csv_text("account_no,amount", "6214830012345678,1.00"))
    with pytest.raises(BadInput) as caught:
        load_inputs(e, ledger_path)
    assert sorted(caught.value.frame.select("file", "line", "column", "code").iter_rows()) == [
        ("enrollees.csv", 2, "status", "BAD_VALUE"),
        ("ledger.csv", 1, "posted_at", "MISSING_COLUMN"),
    ]


def test_load_inputs_returns_both_typed_files_and_the_encodings_used(write):
    e = write("enrollees.csv", GB_TEXT, "gb18030")
    ledger_path = write("ledger.csv", GOOD_LEDGER)
    loaded = load_inputs(e, ledger_path)
    assert loaded.enrollees.height == 3
    assert loaded.ledger["amount_fen"].to_list() == [100000]
    assert loaded.warnings.height == 0
    assert loaded.encodings == {"enrollees.csv": "gb18030", "ledger.csv": "utf-8"}
