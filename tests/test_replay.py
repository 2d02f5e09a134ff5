"""Replay of historical months (issue 5 part 3): the shipped history replays clean, and every
kind of change is reported with its file, row and column (or key path)."""

from __future__ import annotations

import hashlib
import itertools
import json
import shutil
from pathlib import Path

import polars as pl
import pytest

from conftest import ROOT
from mediins_cli.errors import BadInput
from mediins_cli.mask import mask_account, mask_id, mask_name
from mediins_cli.replay import (
    Difference,
    ReplayReport,
    chain_enrollees,
    compare_file,
    replay,
)

HISTORY = ROOT / "sample_data" / "history"
MONTHS = [*(f"2024-{m:02d}" for m in range(1, 13)), "2025-01"]  # 2025-01: return mode
INPUTS = ("enrollees.csv", "ledger-round1.csv", "ledger-round2.csv")


@pytest.fixture
def history(tmp_path: Path):
    """A copy of some months of the shipped history (with its replay.toml), to damage."""

    def copy(*months: str) -> Path:
        target = tmp_path / "history"
        target.mkdir()
        shutil.copy2(HISTORY / "replay.toml", target / "replay.toml")
        for month in months:
            shutil.copytree(HISTORY / month, target / month)
        return target

    return copy


def only(report: ReplayReport) -> Difference:
    assert len(report.differences) == 1, [str(d) for d in report.differences]
    return report.differences[0]


def digests(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


# --------------------------------------------------------------------------- the shipped history


@pytest.mark.parametrize("chain", [False, True], ids=["stored", "chained"])
def test_shipped_history_replays_without_differences(tmp_path: Path, chain: bool) -> None:
    report = replay(HISTORY, tmp_path / "scratch", chain=chain)
    assert report.ok, "\n".join(str(d) for d in report.differences)
    assert report.months == MONTHS
    # round 1 writes at least 6 files, round 2 at least 7, every month; instructions 2 or more
    assert report.files_compared >= 13 * 13 + 2 * 2
    assert report.updated == []
    if chain:
        assert report.notes == ["2024-01: the chain starts with the stored enrollees.csv"]
        # the chain wrote each later month's enrollee file, identical to the stored one
        for month in MONTHS[1:]:
            chained = tmp_path / "scratch" / month / "enrollees.csv"
            assert chained.read_bytes() == (HISTORY / month / "enrollees.csv").read_bytes()


def test_shipped_history_covers_the_year_and_its_holidays() -> None:
    assert sorted(p.name for p in HISTORY.iterdir() if p.is_dir()) == MONTHS
    jan = json.loads((HISTORY / "2025-01/expected/round-2/summary.json").read_text("utf-8"))
    assert jan["dates"]["effective"] == "2025-01-26"  # Spring Festival, make-up Sunday
    assert jan["mode"] == "returns"
    feb = json.loads((HISTORY / "2024-02/expected/round-1/summary.json").read_text("utf-8"))
    oct_ = json.loads((HISTORY / "2024-10/expected/round-1/summary.json").read_text("utf-8"))
    assert feb["dates"]["effective"] == "2024-02-18"  # Spring Festival, make-up Sunday
    assert oct_["dates"]["effective"] == "2024-10-12"  # make-up Saturday


def test_stored_enrollee_files_are_the_chain_of_the_tools_updates(tmp_path: Path) -> None:
    """What the generator promises: a stored file carried by the previous month's updates
    comes out unchanged (the state in it is what mediins told the master system)."""
    report = replay(HISTORY, tmp_path / "scratch")
    assert report.ok
    for before, month in itertools.pairwise(MONTHS):
        updates = tmp_path / "scratch" / before / "round-2" / "updates.csv"
        stored = HISTORY / month / "enrollees.csv"
        assert chain_enrollees(stored, updates) == stored.read_bytes(), month


# --------------------------------------------------------------------------- deliberate changes


def test_changed_amount_is_reported_with_file_row_and_column(history, tmp_path: Path) -> None:
    root = history("2024-03")
    path = root / "2024-03/expected/round-1/success.csv"
    frame = pl.read_csv(path, infer_schema=False)
    row = frame.row(2, named=True)
    edited = frame.with_columns(
        pl.when(pl.col("enrollee_id") == row["enrollee_id"])
        .then(pl.lit("619.96"))
        .otherwise(pl.col("amount"))
        .alias("amount")
    )
    path.write_bytes(edited.write_csv().encode("utf-8"))

    report = replay(root, tmp_path / "scratch")

    assert not report.ok
    diff = only(report)
    assert (diff.month, diff.round, diff.file, diff.kind) == (
        "2024-03",
        1,
        "success.csv",
        "changed",
    )
    assert diff.details == [
        f"row enrollee_id={mask_id(row['enrollee_id'])}: amount: expected 619.96, "
        f"got {row['amount']}"
    ]
    assert row["enrollee_id"] not in str(diff)  # the full ID number never shows
    assert str(diff).startswith("2024-03 round 1: success.csv: changed\n  row enrollee_id=")


def test_changed_summary_value_is_reported_by_key_path(history, tmp_path: Path) -> None:
    root = history("2024-05")
    path = root / "2024-05/expected/round-2/summary.json"
    summary = json.loads(path.read_text("utf-8"))
    original = summary["failed"]["amount"]
    summary["failed"]["amount"] = "1.00"
    path.write_text(json.dumps(summary, ensure_ascii=False, indent=2, sort_keys=True) + "\n")

    diff = only(replay(root, tmp_path / "scratch"))

    assert (diff.month, diff.round, diff.file, diff.kind) == (
        "2024-05",
        2,
        "summary.json",
        "changed",
    )
    assert diff.details == [f'failed.amount: expected "1.00", got "{original}"']


def test_missing_and_unexpected_files_are_reported(history, tmp_path: Path) -> None:
    root = history("2024-11")
    expected = root / "2024-11/expected/round-1"
    (expected / "agencies/DC-RC01.csv").unlink()  # the replay writes it: unexpected
    (expected / "notes.txt").write_text("a file mediins never wrote\n")  # not written: missing
    (expected / "run.log").write_text("logs carry times and are never compared\n")

    report = replay(root, tmp_path / "scratch")

    kinds = {(d.month, d.round, d.file, d.kind) for d in report.differences}
    assert kinds == {
        ("2024-11", 1, "agencies/DC-RC01.csv", "unexpected"),
        ("2024-11", 1, "notes.txt", "missing"),
    }


def test_update_rewrites_only_what_differs_and_never_touches_inputs(
    history, tmp_path: Path
) -> None:
    root = history("2024-09", "2024-10")
    expected = root / "2024-10/expected/round-2"
    (expected / "breaks.csv").write_text("enrollee_id\n")
    (expected / "resumptions.csv").unlink()
    (expected / "stale.csv").write_text("from an older version\n")
    inputs = {
        p: p.read_bytes() for month in ("2024-09", "2024-10") for p in (root / month).glob("*.csv")
    }
    assert len(inputs) == 6
    untouched = digests(root / "2024-09/expected")

    report = replay(root, tmp_path / "first", update=True)

    assert report.ok and report.differences == []
    assert report.updated == [expected]
    assert report.notes == [
        "2024-10 round 2: rewrote expected: breaks.csv (changed), resumptions.csv (unexpected), "
        "stale.csv (missing)"
    ]
    assert {p: p.read_bytes() for p in inputs} == inputs  # the month inputs, byte for byte
    assert digests(root / "2024-09/expected") == untouched
    assert not (expected / "stale.csv").exists()
    assert sorted(p.name for p in expected.parent.iterdir()) == ["round-1", "round-2"]
    assert digests(expected) == digests(HISTORY / "2024-10/expected/round-2")

    again = replay(root, tmp_path / "second")
    assert again.ok and again.months == ["2024-09", "2024-10"]


def test_chain_takes_the_state_from_the_updates_not_the_stored_file(
    history, tmp_path: Path
) -> None:
    """曹国庆 was due in April (continuity lost), so May's paid_through comes from April's
    updates.csv: an edited stored value changes a replay from the stored file, not the chain."""
    root = history("2024-04", "2024-05")
    stored = root / "2024-05/enrollees.csv"
    frame = pl.read_csv(stored, infer_schema=False)
    assert frame.filter(pl.col("name") == "曹国庆")["paid_through"].item() == "2024-02"
    stored.write_bytes(
        frame.with_columns(
            pl.when(pl.col("name") == "曹国庆")
            .then(pl.lit("2024-05"))
            .otherwise(pl.col("paid_through"))
            .alias("paid_through")
        )
        .write_csv()
        .encode("utf-8")
    )

    plain = replay(root, tmp_path / "plain")
    chained = replay(root, tmp_path / "chained", chain=True)

    assert {d.month for d in plain.differences} == {"2024-05"}
    skipped = next(d for d in plain.differences if d.file == "skipped.csv" and d.round == 1)
    assert any("only in this replay" in line for line in skipped.details)
    assert chained.ok, "\n".join(str(d) for d in chained.differences)


def test_chain_reports_an_edited_paid_through_it_does_not_carry(history, tmp_path: Path) -> None:
    """韩志刚 paid at the counter through 2024-06 and is skipped, so no updates.csv carries
    him: an edited stored paid_through makes him due in March, and the chain reports it."""
    root = history("2024-02", "2024-03")
    stored = root / "2024-03/enrollees.csv"
    text = stored.read_text("utf-8")
    line = next(row for row in text.splitlines() if ",韩志刚," in row)
    assert ",2024-06," in line
    stored.write_text(text.replace(line, line.replace(",2024-06,", ",2024-02,")), "utf-8")
    person = line.split(",")[0]
    account = line.split(",")[11]

    report = replay(root, tmp_path / "scratch", chain=True)

    assert not report.ok
    assert {d.month for d in report.differences} == {"2024-03"}
    skipped = next(d for d in report.differences if d.file == "skipped.csv")
    assert f"row enrollee_id={mask_id(person)}: only in expected" in skipped.details
    success = next(d for d in report.differences if d.file == "success.csv" and d.round == 1)
    assert success.details[-1].startswith("… and ")  # references renumber after him
    manifest = next(d for d in report.differences if d.file == "manifest.json" and d.round == 1)
    assert any(line.startswith("inputs.enrollees: expected") for line in manifest.details)
    assert account not in "\n".join(str(d) for d in report.differences)


def test_a_gap_in_the_months_is_not_chained_and_says_so(history, tmp_path: Path) -> None:
    root = history("2024-02", "2024-04")
    report = replay(root, tmp_path / "scratch", chain=True)
    assert report.notes == [
        "2024-02: the chain starts with the stored enrollees.csv",
        "2024-04: not chained (the month before in the history is 2024-02, not 2024-03): "
        "used the stored enrollees.csv",
    ]
    assert report.ok


# --------------------------------------------------------------------------- refusals


def test_a_scratch_folder_that_is_not_empty_is_refused(tmp_path: Path) -> None:
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    (scratch / "keep.txt").write_text("mine")
    with pytest.raises(BadInput, match="not empty"):
        replay(HISTORY, scratch)
    assert [p.name for p in scratch.iterdir()] == ["keep.txt"]


def test_a_month_without_its_round_two_ledger_is_bad_input(history, tmp_path: Path) -> None:
    root = history("2024-06", "2024-07")
    missing = root / "2024-07/ledger-round2.csv"
    missing.unlink()
    with pytest.raises(BadInput, match=r"ledger-round2\.csv") as caught:
        replay(root, tmp_path / "scratch")
    assert str(missing) in str(caught.value)
    assert not (tmp_path / "scratch").exists()  # nothing ran


def test_folders_that_are_not_months_and_empty_histories_are_bad_input(
    history, tmp_path: Path
) -> None:
    root = history("2024-01")
    (root / "2024-13").mkdir()
    with pytest.raises(BadInput, match="2024-13: a history folder must be named YYYY-MM"):
        replay(root, tmp_path / "a")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(BadInput, match="no month folders"):
        replay(empty, tmp_path / "b")


# --------------------------------------------------------------------------- comparison details


def csv_bytes(rows: list[dict[str, str]]) -> bytes:
    return pl.DataFrame(rows).write_csv().encode("utf-8")


PERSON = {
    "enrollee_id": "11010119820318123X",
    "name": "曾志强",
    "account_no": "6214830100007326",
    "amount": "619.95",
    "remark": "电话 13800138000",
}


def test_csv_details_mask_people_and_hide_extra_columns() -> None:
    other = {**PERSON, "account_no": "6214830100009999", "name": "曾志刚", "remark": "x"}
    details = compare_file("success.csv", csv_bytes([PERSON]), csv_bytes([other]))
    assert details == [
        f"row enrollee_id={mask_id(PERSON['enrollee_id'])}: "
        f"name: expected {mask_name('曾志强')}, got {mask_name('曾志刚')}; "
        f"account_no: expected {mask_account(PERSON['account_no'])}, "
        f"got {mask_account(other['account_no'])}; "
        "remark: values differ (not shown: may hold personal data)"
    ]
    assert "13800138000" not in "\n".join(details)


def test_csv_details_headers_rows_order_and_cap() -> None:
    rows = [{**PERSON, "enrollee_id": f"1101011980010100{n:02d}"} for n in range(30)]
    ids = [mask_id(r["enrollee_id"]) for r in rows]
    assert compare_file("a.csv", csv_bytes(rows), csv_bytes(rows)) is None
    # header
    renamed = [{("sum" if k == "amount" else k): v for k, v in r.items()} for r in rows[:1]]
    assert compare_file("a.csv", csv_bytes(rows[:1]), csv_bytes(renamed)) == [
        "columns: expected [enrollee_id, name, account_no, amount, remark], "
        "got [enrollee_id, name, account_no, sum, remark]"
    ]
    # rows only in one side; the cap
    details = compare_file("a.csv", csv_bytes(rows[:25]), csv_bytes(rows[5:]))
    assert details is not None
    assert details == [f"row enrollee_id={i}: only in expected" for i in ids[:5]] + [
        f"row enrollee_id={i}: only in this replay" for i in ids[25:]
    ]
    many = compare_file(
        "a.csv", csv_bytes(rows), csv_bytes([{**r, "amount": "1.00"} for r in rows])
    )
    assert many is not None and len(many) == 21 and many[-1] == "… and 10 more"
    # same rows in another order
    assert compare_file("a.csv", csv_bytes(rows), csv_bytes(rows[::-1])) == [
        f"same rows in another order: row 1 is enrollee_id={ids[0]} in expected, "
        f"enrollee_id={ids[29]} in this replay"
    ]
    # without enrollee_id: by row number
    plain = [{"agency": "DC", "amount": "1.00"}, {"agency": "HD", "amount": "2.00"}]
    changed = [plain[0], {"agency": "HD", "amount": "2.01"}]
    assert compare_file("x.csv", csv_bytes(plain), csv_bytes(changed)) == [
        "row 2: amount: expected 2.00, got 2.01"
    ]


def test_manifest_ignores_the_tool_version_and_nothing_else() -> None:
    manifest = {"tool": {"name": "mediins", "version": "0.1.0"}, "inputs": {"ledger": "ab"}}
    newer = {"tool": {"name": "mediins", "version": "9.9.9"}, "inputs": {"ledger": "ab"}}
    as_bytes = [json.dumps(m).encode() for m in (manifest, newer)]
    assert compare_file("manifest.json", *as_bytes) is None
    assert compare_file("summary.json", *as_bytes) == [
        'tool.version: expected "0.1.0", got "9.9.9"'
    ]
    other = {**newer, "inputs": {"ledger": "cd"}, "outputs": {"agencies/A.csv": {"bytes": 1}}}
    assert compare_file("manifest.json", as_bytes[0], json.dumps(other).encode()) == [
        'inputs.ledger: expected "ab", got "cd"',
        'outputs: only in this replay ({"agencies/A.csv": {"bytes": 1}})',
    ]
    assert compare_file("x.bin", b"a", b"b") == ["bytes differ"]


def test_chain_enrollees_replaces_two_columns_of_updated_rows_only(tmp_path: Path) -> None:
    stored = tmp_path / "enrollees.csv"
    stored.write_text(
        "身份证号,name,缴费至,waiting_until,remark\n"
        '11010119820318123x,曾志强,2024-01,,"外区迁入, 档案已转"\n'
        "110101198407220464,单丽,2024-01,2024-05-28,\n",
        encoding="utf-8",
    )
    updates = tmp_path / "updates.csv"
    updates.write_text(
        "enrollee_id,paid_through,waiting_until,paid_through_before,waiting_until_before,event\n"
        "11010119820318123X,2024-02,2024-08-16,2024-01,,RESUMED_NEW_ENROLLMENT\n",
        encoding="utf-8",
    )
    chained = chain_enrollees(stored, updates)
    assert chained.decode("utf-8") == (
        "身份证号,name,缴费至,waiting_until,remark\n"
        '11010119820318123x,曾志强,2024-02,2024-08-16,"外区迁入, 档案已转"\n'
        "110101198407220464,单丽,2024-01,2024-05-28,\n"
    )
    stored.write_bytes(chained)
    assert chain_enrollees(stored, updates) == chained  # a fixed point
