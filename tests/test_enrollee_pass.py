"""Issue 9: the enrollee file checked in one streaming pass (inputs/enrollees.py).

The pass keeps the typed frame and only the rows with a problem; the checks across rows (a
repeated ID, agency codes that clash, area codes) run on what it gathered. These tests hold it
to what reading the whole file at once gave, on a file the streaming engine reads in many
pieces: every problem on its physical line, in the order of the checks, the rows in the
file's order, each column in one piece. Speed and memory are measured by ``make bench``.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from datetime import date
from pathlib import Path

import polars as pl
import pytest

from conftest import SAMPLE
from mediins_cli import order, rounds
from mediins_cli.frames import one_piece
from mediins_cli.inputs import enrollees, extra_columns, ledger, open_sources, read_enrollees, table
from mediins_cli.inputs.columns import VALUE_ALIASES, spellings
from mediins_cli.inputs.enrollees import _id_check_digit

ROWS = 60_000  # the streaming engine reads a file of this size in several pieces
HEADER = "enrollee_id,name,agency,status,enrolled_on,monthly_premium,account_no,bank,note"


def _resident_ids(area: str, n: int) -> list[str]:
    """``n`` distinct well-formed resident IDs of ``area``, born on 60-odd days of 1960."""
    first = pl.select(
        (
            pl.lit(area)
            + (pl.lit(date(1960, 1, 1)) + pl.duration(days=pl.int_range(n) // 1000)).dt.strftime(
                "%Y%m%d"
            )
            + (pl.int_range(n) % 1000).cast(pl.String).str.zfill(3)
        ).alias("id")
    )
    return first.select(pl.col("id") + _id_check_digit(pl.col("id"))).to_series().to_list()


def _rows(ids: list[str]) -> list[list[str]]:
    return [
        [
            ident,
            "张三",
            f"AG-{i % 50:04d}",
            "active",
            "2020-01-01",
            "600.00",
            f"6225{i:012d}",
            "B",
            "",
        ]
        for i, ident in enumerate(ids)
    ]


def _write(path: Path, rows: list[list[str]], blank_before: int) -> Path:
    lines = [HEADER]
    for i, cells in enumerate(rows):
        if i == blank_before:
            lines.append(",,,,,,,,")
        lines.append(",".join(cells))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


#: a piece of a CSV (table.csv_pieces) small enough that these files come in many
PIECE = 64 << 10


@pytest.mark.parametrize("spanning", [3, 52_000])
@pytest.mark.parametrize("pieces", [False, True])
def test_a_file_read_in_pieces_gives_every_problem_on_its_line_in_the_order_of_the_checks(
    tmp_path, monkeypatch, spanning, pieces
):
    """Read whole or in pieces of 64 KB (cut at line ends until the quoted value, the rest in
    one): the same problems on the same lines, the same frame."""
    if pieces:
        monkeypatch.setattr(table, "PIECE_BYTES", PIECE)
    ids = _resident_ids("110101", ROWS)
    rows = _rows(ids)
    rows[spanning][1] = '"张\n三"'  # a value spanning lines: every later row is one line further
    rows[10][2] = "A/1"
    rows[59_000][2] = "A_1"  # the same file name as A/1
    rows[20][0] = ids[59_500]  # the ID of a row far below, in another piece
    last = ids[30_000][17]
    rows[30_000][0] = ids[30_000][:17] + ("0" if last != "0" else "1")
    rows[40_000][4] = "2024-02-30"
    rows[45_000][5] = "abc"
    rows[55_000][8] = "a\x00b"
    rows[57_000][1] = "名" * 40_000  # longer than a cell holds, and than a name
    rows[58_000][0] = _resident_ids("990000", 1)[0]  # an area code stdnum does not know
    path = _write(tmp_path / "enrollees.csv", rows, blank_before=50_000)

    def line(row: int) -> int:  # the header is line 1; the spanning value takes two lines
        return row + 2 + (row > spanning) + (row >= 50_000)

    frame, problems, _ = read_enrollees(path)

    assert frame is not None
    assert [
        (p["line"], p["column"], p["code"], p["severity"]) for p in problems.iter_rows(named=True)
    ] == [
        (line(spanning), "", "MULTILINE_VALUE", "warning"),
        (line(57_000), "name", "BAD_TEXT", "error"),  # longer than a cell
        (line(spanning), "name", "BAD_TEXT", "error"),  # a line break
        (line(55_000), "note", "BAD_TEXT", "error"),  # a NUL
        (line(30_000), "enrollee_id", "BAD_ID_CHECKSUM", "error"),
        (line(59_500), "enrollee_id", "DUPLICATE_ENROLLEE", "error"),
        (line(57_000), "name", "BAD_TEXT", "error"),  # longer than a name
        (line(40_000), "enrolled_on", "BAD_DATE", "error"),
        (line(45_000), "monthly_premium", "BAD_AMOUNT", "error"),
        (line(59_000), "agency", "AGENCY_CLASH", "error"),
        (line(58_000), "enrollee_id", "UNKNOWN_AREA", "warning"),
    ]
    messages = dict(zip(problems["code"], problems["message"], strict=False))
    assert messages["DUPLICATE_ENROLLEE"].endswith(f"first on line {line(20)}")
    assert f"on line {line(10)}" in messages["AGENCY_CLASH"]
    # the typed frame: every row but the blank one, in the file's order, on its line
    assert frame["line"].to_list() == [line(r) for r in range(ROWS)]
    assert frame["enrollee_id"].to_list() == [r[0] for r in rows]
    assert set(frame.n_chunks("all")) == {1}


@pytest.mark.parametrize("crlf", [False, True])
def test_a_good_file_read_in_pieces_has_no_problem_and_keeps_its_order(tmp_path, monkeypatch, crlf):
    rows = _rows(_resident_ids("110101", ROWS))
    path = _write(tmp_path / "enrollees.csv", rows, -1)
    if crlf:
        path.write_bytes(path.read_bytes().replace(b"\n", b"\r\n"))
    whole, _, _ = read_enrollees(path)
    monkeypatch.setattr(table, "PIECE_BYTES", PIECE)
    with open_sources({"enrollees": path}) as sources:  # cut where a piece ends, header first
        cut = list(table.csv_pieces(sources["enrollees"]))
    data = path.read_bytes()
    header = data[: data.index(b"\n") + 1]
    assert len(cut) > 50 and all(p is not None and p.startswith(header) for p in cut)
    assert header + b"".join(p[len(header) :] for p in cut if p is not None) == data
    frame, problems, _ = read_enrollees(path)
    assert whole is not None and frame is not None and frame.equals(whole)
    assert problems.height == 0
    assert frame is not None and frame["enrollee_id"].to_list() == [r[0] for r in rows]
    assert frame["line"].to_list() == list(range(2, ROWS + 2))
    assert frame.columns[-1] == "line"  # the pass's own columns are gone
    assert set(frame.n_chunks("all")) == {1}


def test_a_fault_of_the_checks_is_raised_not_said_to_be_the_files(tmp_path, monkeypatch):
    """The pass reads and checks at once: when it fails on a file polars reads well, the
    failure is the program's, and must not be reported as a malformed CSV."""
    path = _write(tmp_path / "enrollees.csv", _rows(_resident_ids("110101", 10)), -1)
    typed = enrollees._typed

    def failing(columns: list[str], keys: Collection[str] = ()) -> list[pl.Expr]:
        return [*typed(columns, keys), pl.col("name").str.to_integer().alias("__fails")]

    monkeypatch.setattr(enrollees, "_typed", failing)
    with pytest.raises(pl.exceptions.PolarsError):
        read_enrollees(path)


def test_a_file_polars_cannot_parse_is_still_named_by_its_line(tmp_path):
    path = tmp_path / "enrollees.csv"
    rows = [",".join(r) for r in _rows(_resident_ids("110101", 5))]
    rows[2] = rows[2].replace("张三", '"张三')  # a quote opened and never closed
    path.write_text("\n".join([HEADER, *rows]) + "\n", encoding="utf-8")
    frame, problems, _ = read_enrollees(path)
    assert frame is None
    assert problems.select("line", "code").rows() == [(4, "BAD_QUOTE")]


def test_a_file_polars_cannot_parse_read_again_and_again_never_breaks_its_engine(tmp_path, capfd):
    """polars' streaming engine (2.0 and 2.1 both) cancels a pass over a file it cannot parse;
    when that pass held a count of all its rows (``select(pl.len())``), the count's task now
    and then panicked ("joined on cancelled task"), and after a few such panics the process's
    next streaming pass hung for good. CI hung so: the hostile case of a lone carriage return
    in the sample month, then every command after it. The pass no longer counts that way. A
    panic is a matter of chance (about one reading in 100 of this file, fewer on a busy
    machine), so the file is read 600 times, several seconds. With such a count back, 300
    readings failed or hung (the suite's timeout then ends it, with every thread's stack) in 5
    of 10 runs; without it, no panic was seen in 6,000 readings."""
    lines = (SAMPLE / "enrollees.csv").read_text(encoding="utf-8").split("\n")
    lines[3] += "\r" + lines.pop(4)  # a carriage return alone ends line 4: too many fields
    path = tmp_path / "enrollees.csv"
    path.write_text("\n".join(lines), encoding="utf-8")
    for _ in range(600):
        frame, problems, _ = read_enrollees(path)
        assert frame is None and set(problems["code"]) == {"BAD_LINE_ENDINGS"}
    assert "panicked" not in capfd.readouterr().err
    frame, problems, _ = read_enrollees(SAMPLE / "enrollees.csv")  # and a good file still reads
    assert frame is not None and frame.height > 40
    assert not (problems["severity"] == "error").any()


def test_one_piece_joins_each_column_and_empties_the_frame_it_was_given():
    pieces = pl.concat([pl.DataFrame({"a": [i, i + 1], "b": [str(i), None]}) for i in range(5)])
    expected = pieces.clone()
    assert max(pieces.n_chunks("all")) == 5
    joined = one_piece(pieces)
    assert joined.equals(expected) and joined.schema == expected.schema
    assert set(joined.n_chunks("all")) == {1}
    assert pieces.width == 0


def test_a_coded_value_is_found_under_every_spelling_polars_lowercases_to_it():
    """The coded columns are looked up among their spellings (columns.spellings), not lower-
    cased row by row: every character whose lower case, by polars, is a character of a key is
    among that character's spellings, and no character lowers to more than one of them."""
    points = [chr(c) for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF]
    lowered = pl.Series(points).str.to_lowercase().to_list()
    keys = {k for aliases in VALUE_ALIASES.values() for k in aliases}
    chars = {ch for k in keys for ch in k}
    preimages: dict[str, set[str]] = {}
    for point, low in zip(points, lowered, strict=True):
        if low in chars:
            preimages.setdefault(low, set()).add(point)
    for ch in chars:  # each character's spellings, as spellings() gives a one-letter key
        assert preimages[ch] <= set(spellings({ch: "code"})), ch
    longer = {low for low in lowered if len(low) > 1 and any(c in chars for c in low)}
    assert not any(low in key for low in longer for key in keys)


@pytest.mark.parametrize("column", sorted(VALUE_ALIASES))
def test_the_spellings_code_a_cell_as_lower_casing_it_did(column):
    aliases = VALUE_ALIASES[column]
    cells = [
        *spellings(aliases),
        *(k.upper() for k in aliases),
        *(" " + k for k in aliases),
        "H\u212aMO",  # the Kelvin sign for a K
        "HİMO",
        "ACTİVE",
        "Ric ",
        "unknown",
        "",
        None,
    ]
    frame = pl.DataFrame({column: cells}, schema={column: pl.String})
    raw = pl.col(column)
    lowered = raw.str.to_lowercase().replace_strict(aliases, default=raw, return_dtype=pl.String)
    got = frame.select(lowered.alias("lowered"), table._coded([column], column).alias("looked"))
    assert got["looked"].to_list() == got["lowered"].to_list()
    assert set(got["looked"].drop_nulls()) >= set(aliases.values())


@pytest.mark.parametrize(
    ("column", "padded"),
    [
        (0, " {} "),  # the ID
        (3, "{}\u3000"),  # the status, with an ideographic space
        (4, "\t{}"),  # the date enrolled
        (5, "{}\u00a0"),  # the premium, with a no-break space
        (6, " {}"),  # the account number
        (3, '"{}"'),  # quoted: read as it is
    ],
)
def test_a_cell_with_a_space_around_it_in_a_later_piece_is_read_as_the_plain_file(
    tmp_path, monkeypatch, column, padded
):
    """The pass reads the shaped columns as written (enrollees._AS_WRITTEN), not stripped; a
    piece where some row is out of shape is read again stripped, and so is the rest of the
    file. The result is the plain file's, but for the lines."""
    monkeypatch.setattr(table, "PIECE_BYTES", PIECE)
    rows = _rows(_resident_ids("110101", ROWS))
    plain, _, _ = read_enrollees(_write(tmp_path / "plain.csv", rows, -1))
    for row in (40_000, 40_001, 55_000):
        rows[row][column] = padded.format(rows[row][column])
    reads: list[bool] = []
    check_piece = enrollees._check_piece

    def counted(*args, **kwargs):
        reads.append(bool(args[5] if len(args) > 5 else kwargs.get("as_written")))
        return check_piece(*args, **kwargs)

    monkeypatch.setattr(enrollees, "_check_piece", counted)
    frame, problems, _ = read_enrollees(_write(tmp_path / "enrollees.csv", rows, -1))
    assert problems.height == 0
    assert frame is not None and plain is not None and frame.equals(plain)
    if column == 3 and padded.startswith('"'):  # nothing to strip: read once, as written
        assert all(reads)
        return
    again = reads.index(False)  # the piece holding row 40,000, read again stripped
    assert 0 < again < len(reads) - 1 and all(reads[:again]) and reads[again - 1]
    assert not any(reads[again + 1 :])
    with open_sources({"enrollees": tmp_path / "enrollees.csv"}) as sources:
        assert len(reads) == len(list(table.csv_pieces(sources["enrollees"]))) + 1


#: account numbers of every kind: in shape (6–32 ASCII digits, leading zeros too) or not (a
#: sign, a space, a point, an exponent, other scripts' digits, too short or too long)
_ACCOUNTS = {
    "622588000001": True,
    "000123": True,
    "1" * 32: True,
    "12345": False,
    "1" * 33: False,
    "+1234567": False,
    "-1234567": False,
    "1234 567": False,
    "1234567.0": False,
    "1.23457E+15": False,
    "１２３４５６７": False,  # full-width digits
    "١٢٣٤٥٦٧": False,  # Arabic-Indic digits
    "12_345_678": False,
    "0x1234567": False,
}


@pytest.mark.parametrize("pieces", [False, True])
def test_an_account_number_is_told_in_shape_by_its_key_as_the_pattern_tells_it(
    tmp_path, monkeypatch, pieces
):
    """The enrollee check tells an account number's shape from the integer key it makes
    (ledger.in_account_shape), not by the pattern: BAD_ACCOUNT (or EXCEL_NUMBER) falls on
    exactly the rows whose account the pattern refuses, read whole or in pieces."""
    if pieces:
        monkeypatch.setattr(table, "PIECE_BYTES", 256)
    accounts = list(_ACCOUNTS)
    rows = _rows(_resident_ids("110101", len(accounts) * 3))
    for i, row in enumerate(rows):
        row[6] = accounts[i % len(accounts)]
    path = _write(tmp_path / "enrollees.csv", rows, -1)
    _, problems, _ = read_enrollees(path)
    flagged = set(
        problems.filter(pl.col("column") == "account_no", pl.col("severity") == "error")["line"]
    )
    pattern = ledger.ACCOUNT_SHAPE
    assert all(
        (re.fullmatch(pattern[1:-1], a, re.ASCII) is not None) == ok for a, ok in _ACCOUNTS.items()
    )
    expected = {i + 2 for i, row in enumerate(rows) if not _ACCOUNTS[row[6]]}
    assert flagged == expected


def test_the_check_gives_round_one_the_keys_when_asked(tmp_path):
    """``keys``: the typed frame keeps those asked for of the keys the pass made (in one
    order), as round 1 names and makes them (rounds.ACCOUNT_KEY, rounds.account_key;
    order.ID_KEY, order.id_key); without it, the frame has no such column and no column of
    mediins' own is taken for one of the file's."""
    rows = _rows(_resident_ids("110101", 500))
    rows[7][6] = "000123"  # a leading zero is kept apart from the number without
    rows[8][6] = "123"  # out of shape: an error, but the key is made all the same
    rows[9][0] = rows[9][0][:17] + "x"  # upper-cased first, as the key orders it
    rows[10][0] = "1101011990010112"  # no resident ID's shape: no key
    path = _write(tmp_path / "enrollees.csv", rows, -1)
    with open_sources({"enrollees": path}, "auto") as sources:
        plain, _ = enrollees.check_enrollees(sources["enrollees"])
        keyed, _ = enrollees.check_enrollees(
            sources["enrollees"], keys=(order.ID_KEY, rounds.ACCOUNT_KEY)
        )
        ids_only, _ = enrollees.check_enrollees(sources["enrollees"], keys=(order.ID_KEY,))
        with pytest.raises(ValueError, match="no such key"):
            enrollees.check_enrollees(sources["enrollees"], keys=("__account_no",))
    assert plain is not None and keyed is not None
    assert rounds.ACCOUNT_KEY not in plain.columns and order.ID_KEY not in plain.columns
    assert keyed.columns == [*plain.columns, rounds.ACCOUNT_KEY, order.ID_KEY]
    assert keyed.drop(rounds.ACCOUNT_KEY, order.ID_KEY).equals(plain)
    assert ids_only is not None and ids_only.equals(keyed.drop(rounds.ACCOUNT_KEY))
    made = plain.select(
        rounds.account_key().alias(rounds.ACCOUNT_KEY), order.id_key().alias(order.ID_KEY)
    )
    assert keyed.select(made.columns).equals(made)
    assert keyed[rounds.ACCOUNT_KEY][7] != keyed[rounds.ACCOUNT_KEY][8]
    ids = keyed[order.ID_KEY]
    assert ids.null_count() == 1 and ids[10] is None and ids[9] % 11 == 10  # X: 10
    # the keys order the IDs as their text does
    shaped = keyed.filter(pl.col(order.ID_KEY).is_not_null())
    assert shaped.sort(order.ID_KEY)["enrollee_id"].equals(
        shaped.sort("enrollee_id")["enrollee_id"]
    )
    assert extra_columns(keyed) == extra_columns(plain) == ["note"]
