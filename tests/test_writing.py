"""Writing a round's files cheaply (issue 9) changes no byte: the formulas a file may hold are
found once in the frames its cells come from (:class:`outputs.Probed`) instead of by a pass over
each file, the least and greatest cell settle most columns (:func:`outputs.formula_columns`),
and a CSV file is hashed and encoded as polars writes it. Each shortcut is checked here against
the long way round."""

from __future__ import annotations

import errno
import hashlib
import os
import random
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from test_trust import person as trusted_person
from test_trust import write_csv

from mediins_cli import outputs

FORMULAS = ['=HYPERLINK("http://x","y")', "=1+1", "+1+1", "@SUM(A1)", "\t=1+1", "-2+3", "\r-1"]


# --------------------------------------------------------------------------- formula_columns


def _searched(frame: pl.DataFrame) -> frozenset[str]:
    """The long way: every text cell searched."""
    text = [c for c, dtype in frame.schema.items() if dtype == pl.String]
    found = frame.select(pl.col(c).str.contains(outputs._FORMULA).any() for c in text).row(0)
    return frozenset(c for c, hit in zip(text, found, strict=True) if hit)


def test_the_least_and_greatest_cell_settle_a_column_as_a_search_of_every_cell_would():
    cells = [
        "曾志强", "Zhang", "0123", "9", "A", "~x", "", " =1", "'=1", "?", "<", ">", "!", ",",
        "\x08b", "\x0eb", "*", ".", "/", "€", "\U0002a6a5", *FORMULAS,
    ]  # fmt: skip
    rng = random.Random(9)
    columns: dict[str, list[str | None]] = {}
    for n in range(400):
        size = rng.randint(1, 6)
        values: list[str | None] = [rng.choice(cells) for _ in range(size)]
        values += [None] * rng.randint(0, 2)
        columns[f"c{n}"] = rng.sample(values, len(values))
    columns["nulls"] = [None, None]
    frame = pl.DataFrame(
        {name: pl.Series(v + [None] * (8 - len(v)), dtype=pl.String) for name, v in columns.items()}
    ).with_columns(amount=pl.lit(-5))
    assert outputs.formula_columns(frame) == _searched(frame)
    hits = outputs.formula_columns(frame)
    assert 0 < len(hits) < len(columns) - 1
    assert outputs.formula_columns(frame, ["c0", "nulls", "amount"]) == _searched(
        frame.select("c0", "nulls", "amount")
    )


def test_a_column_known_to_hold_formulas_is_neutralised_as_one_found_here():
    frame = pl.DataFrame({"name": ["张三", *FORMULAS], "amount": ["1.00", *(["-5.00"] * 7)]})
    found = outputs.neutralise(frame)
    assert outputs.neutralise(frame, frozenset({"name"})).equals(found)
    assert outputs.neutralise(frame.lazy(), {"name"}).collect().equals(found)
    assert found["name"].to_list()[1:] == [f"'{f}" for f in FORMULAS]
    assert found["amount"].to_list()[1:] == ["-5.00"] * 7


def test_a_column_of_categories_is_searched_and_neutralised_as_text():
    """The enrollee file's codes (agency, bank, …) are held as categories: a formula among
    them is found and quoted, and the cells are written as the same text."""
    text = pl.DataFrame({"agency": ["A01", *FORMULAS, None], "bank": ["ICBC"] * 9})
    coded = text.with_columns(pl.all().cast(pl.Categorical))
    assert outputs.formula_columns(coded) == outputs.formula_columns(text) == {"agency"}
    assert outputs.formula_columns(coded, ["bank"]) == frozenset()
    for formulas in (None, frozenset({"agency"})):
        found = outputs.neutralise(coded, formulas)
        assert found.write_csv() == outputs.neutralise(text).write_csv()
        assert found["agency"].to_list()[1:-1] == [f"'{f}" for f in FORMULAS]
    plan = outputs.neutralise(coded.lazy()).collect()
    assert plan.write_csv() == outputs.neutralise(text).write_csv()


# --------------------------------------------------------------------------- the sink

#: each encoding a CSV file may be written in
EVERY_FORMAT = pytest.mark.parametrize(
    "fmt",
    [
        outputs.OutputFormat(),
        outputs.OutputFormat(excel=True),
        outputs.OutputFormat(encoding="gb18030"),
    ],
    ids=["utf-8", "excel", "gb18030"],
)


def _big(rows: int = 600_000) -> pl.DataFrame:
    """Enough rows that polars hands a file over in many blocks, a Chinese name astride some
    of their edges."""
    return pl.DataFrame(
        {
            "enrollee_id": [f"{i:018d}" for i in range(rows)],
            "name": ["曾志强", "欧阳娜", "=1+1", "李𠀀"] * (rows // 4),
            "amount": ["-5.00", "1.00", "700.01"] * (rows // 3),
        }
    )


@EVERY_FORMAT
@pytest.mark.parametrize("table", ["small frame", "large frame", "plan"])
def test_a_csv_file_is_the_text_polars_writes_hashed_as_written(tmp_path, fmt, table):
    frame = _big(3_000 if table == "small frame" else 600_000)
    assert (frame.estimated_size() <= outputs.SMALL_TABLE) == (table == "small frame")
    path = tmp_path / "out.csv"
    written = fmt.write_csv(frame.lazy() if table == "plan" else frame, path)
    text = outputs.neutralise(frame).write_csv()
    if fmt.encoding == "gb18030":
        expected = text.encode("gb18030")
    else:
        expected = ("\ufeff" if fmt.excel else "").encode() + text.encode()
    data = path.read_bytes()
    assert data == expected
    assert written == outputs.Written(hashlib.sha256(data).hexdigest(), len(data))


def _lists(extra: list[str | None]) -> pl.DataFrame:
    """Agency lists in one frame, each agency's rows together: names of any kind, formulas, an
    empty file name never (every list has a row), quoting where a cell needs it."""
    names = ["曾志强", "欧阳娜", "=1+1", "李𠀀", 'say "hi"', "a,b", None, "+1+1"]
    n = len(extra)
    return pl.DataFrame(
        {
            "enrollee_id": [f"{i:018d}" for i in range(n)],
            "name": [names[i % len(names)] for i in range(n)],
            "agency": pl.Series([f"AG-{i * 7 // n}" for i in range(n)], dtype=pl.Categorical),
            "note": extra,
            "__file": [f"agencies/AG-{i * 7 // n}.csv" for i in range(n)],
        }
    )


@EVERY_FORMAT
@pytest.mark.parametrize("breaks", [False, True], ids=["one line a row", "a line break in a cell"])
def test_lists_cut_from_one_text_are_the_files_each_written_by_itself_gives(tmp_path, fmt, breaks):
    notes: list[str | None] = ["", None, "=2*3", "备注", "x"] * 41
    if breaks:  # a quoted cell holds a line end: the text is no longer cut at line ends
        notes[37], notes[150] = "two\nlines", "cr\r\nlf"
    lists = _lists(notes)
    formulas = outputs.formula_columns(lists.drop("__file"))
    assert formulas == {"name", "note"}
    one, apart = outputs.Staging(tmp_path / "one"), outputs.Staging(tmp_path / "apart")
    one.write_split(outputs.Split(lists, "__file", formulas), fmt)
    for (name,), rows in lists.partition_by("__file", maintain_order=True, as_dict=True).items():
        apart.write_csv(str(name), outputs.Probed(rows.drop("__file"), formulas), fmt)
    assert list(one.written) == list(apart.written) and len(one.written) == 7
    for name, written in apart.written.items():
        data = (tmp_path / "apart" / name).read_bytes()
        assert (tmp_path / "one" / name).read_bytes() == data, name
        assert (
            one.written[name]
            == written
            == outputs.Written(hashlib.sha256(data).hexdigest(), len(data))
        )
    assert (b"'=2*3" in data) and (b"'=1+1" in (tmp_path / "one/agencies/AG-0.csv").read_bytes())


def test_a_full_disk_under_the_lists_is_said_with_the_list(tmp_path, monkeypatch):
    real_open, real_fdopen = open, os.fdopen

    def full(fd: int, mode: str) -> Any:  # the file takes nothing: the disk is full
        os.close(fd)
        return real_open("/dev/full", mode)

    lists = _lists(["x"] * 20)
    staging = outputs.Staging(tmp_path)
    monkeypatch.setattr(outputs.os, "fdopen", full)
    with pytest.raises(OSError) as caught:
        staging.write_split(outputs.Split(lists, "__file", frozenset()), outputs.OutputFormat())
    monkeypatch.setattr(outputs.os, "fdopen", real_fdopen)
    assert caught.value.errno == errno.ENOSPC
    assert caught.value.filename == str(tmp_path / "agencies/AG-0.csv")
    assert staging.written == {}  # nothing is said to be written


def test_a_list_whose_rows_are_apart_is_refused_not_cut_wrong(tmp_path):
    lists = _lists(["x"] * 20)
    shuffled = lists.sort("enrollee_id", descending=True).sort("name")
    with pytest.raises(ValueError, match="not together"):
        list(outputs.split_csv(outputs.Split(shuffled, "__file", frozenset())))


@pytest.mark.parametrize("rows", [3_000, 600_000])
def test_a_full_disk_is_said_with_its_errno_and_the_file(tmp_path, monkeypatch, rows):
    real_open = open

    def full(_path, _mode, **how):  # a file that takes nothing: the disk is full
        return real_open("/dev/full", "wb", **how)

    monkeypatch.setattr(outputs, "open", full, raising=False)
    with pytest.raises(OSError) as caught:
        outputs.OutputFormat().write_csv(_big(rows).lazy(), tmp_path / "out.csv")
    assert caught.value.errno == errno.ENOSPC
    assert caught.value.filename == str(tmp_path / "out.csv")


# --------------------------------------------------------------------------- a round's files


def person(i: int, name: str = "张三", **cells: str) -> dict[str, str]:
    """test_trust's enrollee row with an id_type column, which some rows here set."""
    return trusted_person(i, name, **{"id_type": "ric", **cells})


def ledger(path: Path, people: list[dict[str, str]]) -> Path:
    """A deposit for each: 150.00 for every other one, -5.00 (cannot pay) for the rest."""
    lines = [
        f"{p['account_no']},2024-02-10,{'150.00' if i % 2 else '-5.00'}"
        for i, p in enumerate(people)
    ]
    path.write_text("\n".join(["account_no,posted_at,amount", *lines, ""]), encoding="utf-8")
    return path


def deduct(run, out: Path, enrollees: Path, ledger: Path, round_: int, *more: str) -> None:
    args = ["--round", str(round_), "--month", "2024-02", "--enrollees", enrollees]
    result = run("deduct", *args, "--ledger", ledger, "--out", out, *more)
    assert result.exit_code == 0, result.stderr


def test_ids_and_account_numbers_are_never_formulas_validation_refuses_them(run, tmp_path):
    """roundfiles.VALIDATED: IDs and account numbers are not searched for formulas, because
    validation lets none through that starts like one."""
    people = [person(0)]
    for i, bad in enumerate(["=1+1", "+1234567", "-1234567", "@SUM(A1)", "=12345678"], start=1):
        people.append(person(i, id_type="passport", enrollee_id=bad))
        people.append(person(20 + i, account_no=bad))
    enrollees = write_csv(tmp_path / "enrollees.csv", people)
    deposits = ledger(tmp_path / "ledger.csv", people[:1])
    errors = tmp_path / "errors.csv"
    result = run("validate", "--enrollees", enrollees, "--ledger", deposits, "--errors", errors)
    assert result.exit_code == 2, result.stderr
    problems = pl.read_csv(errors, infer_schema=False).filter(pl.col("severity") == "error")
    flagged = set(problems.filter(pl.col("column").is_in(["enrollee_id", "account_no"]))["line"])
    assert flagged == {str(line) for line in range(3, 3 + len(people) - 1)}


@pytest.mark.parametrize("more", [(), ("--lang", "zh", "--excel"), ("--out-encoding", "gb18030")])
def test_the_files_are_the_bytes_every_file_searched_by_itself_gives(
    run, tmp_path, monkeypatch, more
):
    """Formulas in names, agencies, an extra column and an extra column's name, in both
    rounds' files (some pay, some fail twice)."""
    people = [
        {**person(i, name=f, agency="=A01" if i % 3 == 0 else "A01"), "remark": f, "=x": "+1"}
        for i, f in enumerate(FORMULAS * 3)
    ]
    enrollees = write_csv(tmp_path / "enrollees.csv", people)
    deposits = ledger(tmp_path / "ledger.csv", people)

    def both_rounds(out: Path) -> dict[str, bytes]:
        deduct(run, out, enrollees, deposits, 1, *more)
        deduct(run, out, enrollees, deposits, 2, *more)
        return {
            str(p.relative_to(out)): p.read_bytes()
            for p in sorted(out.rglob("*"))
            if p.is_file() and p.name not in ("run.log", ".lock")
        }

    fast = both_rounds(tmp_path / "fast")
    original = outputs.OutputFormat.write_csv

    def searched_by_itself(self, frame, path):  # the long way: no Probed shortcut
        return original(self, frame.table if isinstance(frame, outputs.Probed) else frame, path)

    monkeypatch.setattr(outputs.OutputFormat, "write_csv", searched_by_itself)
    slow = both_rounds(tmp_path / "slow")
    assert fast.keys() == slow.keys()
    assert [k for k in fast if fast[k] != slow[k]] == []
    quoted = [k for k, v in fast.items() if k.endswith(".csv") and b"'=" in v]
    assert len(quoted) >= 6  # formulas were there to neutralise, in both rounds' files
