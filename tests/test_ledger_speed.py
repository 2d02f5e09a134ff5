"""Issue 9: the cheaper passes over the input files give what the plain ones gave.

The UTF-8 check of an opened file (polars' validation instead of Python's decoder, which
still says where a file breaks) and the ledger's pass with the shaped cells as written
(passed again, stripped, where one is not in shape). Speed is measured by ``make bench``.
"""

from __future__ import annotations

import codecs
import dataclasses
import io
from datetime import datetime
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import mediins_cli.inputs.ledger as ledger_module
import mediins_cli.inputs.source as source
from mediins_cli.errors import BadInput, format_problems
from mediins_cli.inputs import check_ledger, ledger_balances_at
from mediins_cli.inputs.ledger import _POSTED_AT_FORMATS, _ledger_parsed
from mediins_cli.inputs.source import open_source
from mediins_cli.inputs.table import _DATE_RE
from mediins_cli.rounds import account_key

SAMPLE = Path(__file__).resolve().parent.parent / "sample_data"
CUTOFF = datetime(2024, 2, 12)

# --------------------------------------------------------------------------- the UTF-8 check

#: pieces of a file: text of every UTF-8 length, line ends, and bytes that are not UTF-8
#: (a lone continuation, a surrogate, an overlong form, past U+10FFFF, a cut character)
_PIECES = [
    b"a,b",
    b"\n",
    b"\r\n",
    b"\r",
    "é".encode(),
    "张三".encode(),
    "𠀀".encode(),
    b"\xef\xbb\xbf",  # a BOM, valid UTF-8
    b"\xff",
    b"\x80",
    b"\xed\xa0\x80",
    b"\xc0\xaf",
    b"\xf4\x90\x80\x80",
    "张".encode()[:2],
    "𠀀".encode()[:3],
]


def _plain_pass(data: bytes) -> source._Pass | tuple[int, int]:
    """What Python's incremental decoder says of ``data``: the pass, or (line, byte)."""
    try:
        return source._decode_pass(io.BytesIO(data), codecs.getincrementaldecoder("utf-8")(), None)
    except source._DecodeFailure as exc:
        return exc.line, exc.byte


def _checked_pass(data: bytes) -> source._Pass | tuple[int, int]:
    try:
        return source._read_pass(io.BytesIO(data), "utf-8", None)
    except source._DecodeFailure as exc:
        return exc.line, exc.byte


@settings(max_examples=400, deadline=None)
@given(
    pieces=st.lists(st.sampled_from(_PIECES), max_size=30),
    valid_only=st.booleans(),
    chunk=st.integers(1, 9),
)
def test_the_checked_utf8_pass_says_what_the_decoder_says_whatever_the_chunks(
    pieces, valid_only, chunk
):
    if valid_only:  # most draws would otherwise hold a bad byte early on
        pieces = [p for p in pieces if p in _PIECES[:8]]
    data = b"".join(pieces)
    original = source._CHUNK
    source._CHUNK = chunk  # characters and bad bytes cut by the chunks' ends, at every place
    try:
        assert _checked_pass(data) == _plain_pass(data)
        if valid_only:  # checked whole, characters cut by the chunks' ends included
            assert source._utf8_pass(io.BytesIO(data)) is not None
    finally:
        source._CHUNK = original


@settings(max_examples=300, deadline=None)
@given(
    pieces=st.lists(st.sampled_from(_PIECES), max_size=30),
    valid_only=st.booleans(),
    chunk=st.integers(1, 9),
    split=st.integers(0, 40),
)
def test_a_file_checked_in_two_halves_at_once_is_judged_as_in_one_pass(
    tmp_path_factory, pieces, valid_only, chunk, split
):
    """A file of more than source._SPLIT_BYTES is checked in two halves on two threads, cut
    where a character starts: the same verdict and counts as one pass over it (the carriage
    returns are counted only for a file without a line feed, as they are used)."""
    if valid_only:
        pieces = [p for p in pieces if p in _PIECES[:8]]
    data = b"".join(pieces)
    path = tmp_path_factory.mktemp("halves") / "f.csv"
    path.write_bytes(data)
    original = source._CHUNK, source._SPLIT_BYTES
    source._CHUNK, source._SPLIT_BYTES = chunk, split
    try:
        whole = source._utf8_read(io.BytesIO(data).read)
        with open(path, "rb") as fh:
            halves = source._utf8_pass(fh)
    finally:
        source._CHUNK, source._SPLIT_BYTES = original
    if whole is None or halves is None:
        assert whole is halves
        return
    plain = _plain_pass(data)
    assert isinstance(plain, source._Pass)
    if whole.newlines:  # (counted to the chunk holding the first line feed: not used then)
        halves, plain = (
            dataclasses.replace(p, carriage_returns=whole.carriage_returns) for p in (halves, plain)
        )
    assert halves == whole == plain


def test_a_file_that_breaks_in_a_later_chunk_is_named_at_its_line_and_byte(tmp_path):
    path = tmp_path / "ledger.csv"
    good = "6214830012345678,2024-01-10 08:00:00,100.00,摘要\n".encode()
    lines = 2 * source._CHUNK // len(good)
    path.write_bytes(good * lines + "张".encode()[:2] + b",\n")
    with pytest.raises(source.SourceProblem) as raised, open_source(path, "utf-8"):
        pass
    problem = raised.value.problem
    assert (problem.line, problem.code) == (lines + 1, "BAD_ENCODING")
    assert problem.message.startswith("undecodable byte 0xe5: ")


# --------------------------------------------------------------------------- the ledger pass


def _passed(path: Path, references: pl.DataFrame | None = None) -> ledger_module.LedgerPass:
    with open_source(path) as opened:
        return ledger_balances_at(opened, CUTOFF, references)


def _same(one: ledger_module.LedgerPass, other: ledger_module.LedgerPass) -> None:
    assert one.balances.sort("account_key").equals(other.balances.sort("account_key"))
    assert (one.rows, one.first_posted, one.last_posted, one.with_reference) == (
        other.rows,
        other.first_posted,
        other.last_posted,
        other.with_reference,
    )
    assert one.warnings.equals(other.warnings)


def _padded(text: str, every: int = 1) -> str:
    """``text`` with a space and a tab around each cell of every ``every``-th row."""
    header, *rows = text.splitlines()
    return (
        "\n".join(
            [header]
            + [
                ",".join(f" {cell}\t" for cell in row.split(",")) if i % every == every - 1 else row
                for i, row in enumerate(rows)
            ]
        )
        + "\n"
    )


@pytest.mark.parametrize("first_rows", [1000, 3])
def test_a_ledger_with_spaces_around_its_cells_has_the_balances_of_the_plain_one(
    tmp_path, monkeypatch, first_rows
):
    # 3: the first rows are in shape, the spaces come later and the pass is made again
    monkeypatch.setattr(ledger_module, "_FIRST_ROWS", first_rows)
    plain = (SAMPLE / "ledger.csv").read_text(encoding="utf-8")
    references = pl.DataFrame({"reference": ["MI-202401-R1-000015", "MI-202401-R1-000002", "none"]})
    (tmp_path / "padded.csv").write_text(_padded(plain, every=7), encoding="utf-8")
    expected = _passed(SAMPLE / "ledger.csv", references)
    _same(_passed(tmp_path / "padded.csv", references), expected)
    assert expected.with_reference > 0 and expected.balances["booked_fen"].sum() != 0


def test_the_balances_are_those_of_the_ledger_as_check_ledger_reads_it():
    with open_source(SAMPLE / "ledger.csv") as opened:
        typed, problems = check_ledger(opened)
        passed = ledger_balances_at(opened, CUTOFF)
    assert typed is not None and problems.height == 0
    expected = typed.group_by(account_key().alias("account_key")).agg(
        pl.col("amount_fen").filter(pl.col("posted_at") < CUTOFF).sum().alias("balance_fen")
    )
    assert passed.balances.sort("account_key").equals(expected.sort("account_key"))
    # the key is the account's digits behind a "1": leading zeros are kept apart
    assert passed.balances["account_key"].cast(pl.String).str.slice(1).sort().to_list() == sorted(
        typed["account_no"].unique().to_list()
    )
    assert (passed.rows, passed.first_posted, passed.last_posted) == (
        typed.height,
        typed["posted_at"].min(),
        typed["posted_at"].max(),
    )


@pytest.mark.parametrize(
    "late",
    [
        "6214830012345678, 2024-01-10 08:00 ,100.00,",  # in shape once stripped: accepted
        ",,,",  # a blank row: a warning
        "6214830012345678,2024-01-10 25:00,100.00,",  # a bad time: refused
        "62148300123 45678,2024-01-10,100.00,",  # a bad account number: refused
    ],
)
def test_a_row_out_of_shape_after_the_first_rows_is_judged_as_check_ledger_judges_it(
    tmp_path, monkeypatch, late
):
    monkeypatch.setattr(ledger_module, "_FIRST_ROWS", 3)
    lines = (SAMPLE / "ledger.csv").read_text(encoding="utf-8").splitlines()
    path = tmp_path / "ledger.csv"
    path.write_text("\n".join([*lines[:60], late, *lines[60:]]) + "\n", encoding="utf-8")
    with open_source(path) as opened:
        problems = check_ledger(opened)[1]
    if (problems["severity"] == "error").any():
        with pytest.raises(BadInput) as raised:
            _passed(path)
        assert raised.value.frame.equals(problems)
    else:
        passed = _passed(path)
        assert passed.warnings.equals(problems)
        assert passed.rows == 136 + (late != ",,,")


@pytest.mark.parametrize("nul", [False, True])
def test_a_nul_in_an_extra_column_is_found_though_a_file_without_one_is_not_searched(
    tmp_path, monkeypatch, nul
):
    """The pass searches no cell for a NUL when the file has none (Source.nul_free)."""
    monkeypatch.setattr(ledger_module, "_FIRST_ROWS", 3)
    lines = (SAMPLE / "ledger.csv").read_text(encoding="utf-8").splitlines()
    assert lines[0].endswith(",memo")  # the sample's own extra column
    lines[89] = lines[89].rsplit(",", 1)[0] + ("," + "备\x00注" if nul else ",备注")  # line 90
    path = tmp_path / "ledger.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with open_source(path) as opened:
        assert opened.nul_free is not nul
        problems = check_ledger(opened)[1]
    if nul:
        assert [p.split("ledger.csv:")[1] for p in format_problems(problems)] == [
            "90: memo: holds a NUL byte"
        ]
        with pytest.raises(BadInput) as raised:
            _passed(path)
        assert raised.value.frame.equals(problems)
    else:
        assert problems.height == 0
        assert _passed(path).rows == len(lines) - 1


def test_times_parsed_without_a_cache_are_the_times_parsed_with_one():
    (long_re, long_fmt), (short_re, short_fmt) = _POSTED_AT_FORMATS
    text = pl.col("posted_at")
    cached = (  # the parse as it was, cache on
        pl.when(text.str.contains(_DATE_RE))
        .then(text.str.to_date("%Y-%m-%d", strict=False).cast(pl.Datetime("us")))
        .when(text.str.contains(long_re))
        .then(text.str.to_datetime(long_fmt, strict=False, time_unit="us"))
        .when(text.str.contains(short_re))
        .then(text.str.to_datetime(short_fmt, strict=False, time_unit="us"))
    )
    cells = [
        "2024-02-29",
        "2023-02-29",
        "2024-01-31 23:59:60",  # a leap second: the next midnight
        "2024-12-31 23:59:60",
        "2024-01-01 24:00:00",
        "2024-01-01 12:60",
        "2024-01-01 07:18",
        "2024-1-01 07:18:00",
        "1899-12-31",
        "2999-12-31 23:59:59",
        "2024-13-01",
        "2024-01-01T07:18:00",
        None,
    ] * 3  # repeated, as a cache would find them
    frame = pl.DataFrame({"posted_at": cells, "amount": "1.00"})
    parsed = frame.select(_ledger_parsed(frame.columns)[0]).to_series()
    assert parsed.equals(frame.select(cached.alias("__posted")).to_series())
    assert parsed[2] == datetime(2024, 2, 1) and parsed[1] is None and parsed[4] is None


_ACCOUNT_CELLS = [
    "123456",
    "12345",
    "0" * 32,
    "9" * 32,
    "9" * 33,
    "9" * 37,
    "9" * 38,
    "",
    " 123456",
    "123456 ",
    "12 3456",
    "+123456",
    "-123456",
    "1_23456",
    "１２３４５６",  # full-width digits
    "٣٤٥٦٧٨",  # Arabic-Indic digits
    "123456\n",
    "12345.6",
    "1e5000",
    "0x1234",
    "123456\u200b",
    "123456\x00",
    None,
]


@given(st.lists(st.one_of(st.text(), st.text("0123456789+-_. "), st.none()), max_size=40))
@settings(max_examples=300, deadline=None)
def test_the_account_shape_told_by_the_key_is_the_pattern(cells):
    """The ledger's pass tells an account number's shape from its key (in_account_shape), not
    by the pattern; the two agree on any text."""
    frame = pl.DataFrame(
        {"account_no": [*_ACCOUNT_CELLS, *cells]}, schema={"account_no": pl.String}
    )
    got = frame.select(
        pattern=pl.col("account_no").str.contains(ledger_module.ACCOUNT_SHAPE).fill_null(False),
        keyed=ledger_module.in_account_shape(pl.col("account_no"), account_key()),
    )
    assert got["keyed"].to_list() == got["pattern"].to_list()
