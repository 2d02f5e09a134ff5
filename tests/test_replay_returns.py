"""Replay in return mode (DESIGN §11): a history month holding the bank's return files
(``returns-round1/``, ``returns-round2/``) instead of ledgers runs as instruct 1, deduct
--returns 1, instruct 2, deduct --returns 2, and the instructions are compared like the rounds."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import polars as pl
import pytest

from conftest import ROOT, SAMPLE
from mediins_cli.errors import BadInput
from mediins_cli.mask import mask_id
from mediins_cli.replay import Difference, ReplayReport, compare_file, replay

HISTORY = SAMPLE / "history"
MONTH = "2025-01"  # the shipped history's month in return mode (bank format generic)
FOLDERS = ("instructions-1", "round-1", "instructions-2", "round-2")


@pytest.fixture
def history(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A copy of some months of the shipped history (with its replay.toml), to damage, at the
    place it has in the repository as seen from the working directory: a manifest names the
    return files as the run was given them (relative to the working directory), and the
    shipped ones were made from the repository's root."""
    monkeypatch.chdir(tmp_path)

    def copy(*months: str) -> Path:
        target = tmp_path / "sample_data" / "history"
        target.mkdir(parents=True)
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


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --------------------------------------------------------------------------- the shipped month


def test_the_return_month_is_replayed_as_instructions_and_rounds(history, tmp_path: Path) -> None:
    root = history("2024-12", MONTH)
    expected = root / MONTH / "expected"
    assert sorted(p.name for p in expected.iterdir()) == sorted(FOLDERS)
    assert not list((root / MONTH).glob("ledger*"))

    report = replay(root, tmp_path / "scratch", chain=True)

    assert report.ok, "\n".join(str(d) for d in report.differences)
    assert report.months == ["2024-12", MONTH]
    files = sum(len(digests(root / m / "expected")) for m in ("2024-12", MONTH))
    assert report.files_compared == files  # the instruction files and manifests among them
    ran = tmp_path / "scratch" / MONTH
    assert (ran / "instructions-1" / "instruct.log").is_file()  # written, not compared
    summary = json.loads((ran / "round-1" / "summary.json").read_text("utf-8"))
    assert summary["mode"] == "returns" and summary["bank"]["format"] == "generic"
    assert summary["retry_permanent"]["by_reason"] == {"NAME_MISMATCH": 1}


def test_a_new_tool_version_replays_both_modes_clean(
    history, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Round 2's manifest hashes round 1's, a round's hashes its instructions': manifests that
    hold the tool version. They are left out of the comparison (each is compared itself)."""
    monkeypatch.setattr("mediins_cli.runs.__version__", "9.9.9")
    monkeypatch.setattr("mediins_cli.bank.run.__version__", "9.9.9")
    report = replay(history("2024-12", MONTH), tmp_path / "scratch")
    assert report.ok, "\n".join(str(d) for d in report.differences)
    manifest = json.loads((tmp_path / "scratch" / MONTH / "round-2" / "manifest.json").read_text())
    assert manifest["tool"]["version"] == "9.9.9"


# --------------------------------------------------------------------------- the month's folders


def test_a_missing_returns_folder_is_bad_input(history, tmp_path: Path) -> None:
    root = history(MONTH)
    missing = root / MONTH / "returns-round2"
    shutil.rmtree(missing)
    with pytest.raises(BadInput, match=r"returns-round2") as caught:
        replay(root, tmp_path / "scratch")
    message = str(caught.value)
    assert str(missing) in message
    assert "the bank's return files of round 2" in message and "return mode" in message
    assert "ledger-round" not in message  # a return month needs no ledger
    assert not (tmp_path / "scratch").exists()  # nothing ran


def test_an_empty_returns_folder_or_ledgers_beside_returns_are_bad_input(
    history, tmp_path: Path
) -> None:
    root = history(MONTH)
    for path in (root / MONTH / "returns-round1").iterdir():
        path.unlink()
    (root / MONTH / "returns-round1" / ".hidden.csv").write_text("not read\n")
    (root / MONTH / "ledger-round1.csv").write_text("account_no,posted_at,amount\n")
    with pytest.raises(BadInput) as caught:
        replay(root, tmp_path / "scratch")
    message = str(caught.value)
    assert "returns-round1: no return file in it" in message
    assert "ledger-round1.csv: a month holds ledgers or the bank's return files, not both" in (
        message
    )
    assert not (tmp_path / "scratch").exists()


def test_missing_expected_instructions_are_named(history, tmp_path: Path) -> None:
    root = history(MONTH)
    shutil.rmtree(root / MONTH / "expected" / "instructions-2")
    with pytest.raises(BadInput, match=r"expected/instructions-2: missing: expected outputs"):
        replay(root, tmp_path / "scratch")


# --------------------------------------------------------------------------- differences


def edit_instruction(path: Path) -> tuple[str, str]:
    """Change the amount of the first instruction of a generic (CSV) file: its enrollee_id
    and the amount it had."""
    frame = pl.read_csv(path, infer_schema=False)
    ident, amount = frame["enrollee_id"][0], frame["amount"][0]
    edited = frame.with_columns(
        pl.when(pl.col("enrollee_id") == ident)
        .then(pl.lit("1.00"))
        .otherwise(pl.col("amount"))
        .alias("amount")
    )
    path.write_bytes(edited.write_csv().encode("utf-8"))
    return ident, amount


def test_a_changed_expected_instruction_file_is_a_difference(history, tmp_path: Path) -> None:
    root = history(MONTH)
    ident, amount = edit_instruction(root / MONTH / "expected" / "instructions-1" / "PSBC.csv")

    report = replay(root, tmp_path / "scratch")

    diff = only(report)
    assert (diff.month, diff.round, diff.file, diff.kind) == (
        MONTH,
        1,
        "instructions-1/PSBC.csv",
        "changed",
    )
    assert diff.details == [
        f"row enrollee_id={mask_id(ident)}: amount: expected 1.00, got {amount}"
    ]
    assert str(diff).startswith(f"{MONTH} round 1: instructions-1/PSBC.csv: changed\n")
    assert ident not in str(diff)


def test_update_rewrites_the_instructions_and_never_the_inputs(history, tmp_path: Path) -> None:
    root = history(MONTH)
    expected = root / MONTH / "expected"
    edit_instruction(expected / "instructions-1" / "BOB.csv")
    (expected / "instructions-1" / "stale.txt").write_text("from an older version\n")
    shutil.rmtree(expected / "instructions-2")
    inputs = {
        p: p.read_bytes()
        for p in (root / MONTH).rglob("*")
        if p.is_file() and "expected" not in p.parts
    }
    assert len(inputs) == 4  # enrollees.csv and three return files

    report = replay(root, tmp_path / "first", update=True)

    assert report.ok and report.differences == []
    assert report.updated == [expected / "instructions-1", expected / "instructions-2"]
    assert report.notes == [
        f"{MONTH} round 1: rewrote expected: instructions-1/BOB.csv (changed), "
        "instructions-1/stale.txt (missing)",
        f"{MONTH} round 2: expected instructions created",
    ]
    assert {p: p.read_bytes() for p in inputs} == inputs
    assert digests(expected) == digests(HISTORY / MONTH / "expected")
    assert not (expected / "instructions-1" / "instruct.log").exists()  # logs are not kept
    assert replay(root, tmp_path / "second").ok


def test_update_keeps_the_manifests_that_hash_a_rewritten_one_true(history, tmp_path: Path) -> None:
    """Other bytes in a return file (a message) change round 1's manifest (the file's SHA-256);
    round 2's manifests hash it. The replay reports round 1's manifest only; --update rewrites
    the manifests that hash it too, so the golden files stay coherent."""
    root = history(MONTH)
    answers = root / MONTH / "returns-round1" / "PSBC.csv"
    answers.write_bytes(
        answers.read_bytes().replace("余额不足".encode(), "余额不足，请存款".encode())
    )

    diff = only(replay(root, tmp_path / "plain"))
    assert (diff.round, diff.file) == (1, "manifest.json")
    shipped = HISTORY / MONTH / "returns-round1" / "PSBC.csv"
    assert diff.details == [
        f'inputs.returns[1].sha256: expected "{sha(shipped)}", got "{sha(answers)}"'
    ]

    report = replay(root, tmp_path / "update", update=True)

    assert report.notes == [
        f"{MONTH} round 1: rewrote expected: manifest.json (changed)",
        f"{MONTH} round 2: rewrote expected: instructions-2/manifest.json (it hashes a manifest "
        "rewritten before it)",
        f"{MONTH} round 2: rewrote expected: manifest.json (it hashes a manifest rewritten "
        "before it)",
    ]
    expected = root / MONTH / "expected"
    round_two = json.loads((expected / "round-2" / "manifest.json").read_text("utf-8"))
    instructions = json.loads((expected / "instructions-2" / "manifest.json").read_text("utf-8"))
    assert round_two["inputs"]["round_1"] == sha(expected / "round-1" / "manifest.json")
    assert instructions["inputs"]["round_1"] == sha(expected / "round-1" / "manifest.json")
    assert round_two["inputs"]["instructions"] == sha(expected / "instructions-2" / "manifest.json")
    again = replay(root, tmp_path / "again", update=True)
    assert again.ok and again.updated == [] and again.notes == []


# --------------------------------------------------------------------------- the bank format


def settings_problem(root: Path, text: str, tmp_path: Path) -> str:
    (root / "replay.toml").write_text(text, encoding="utf-8")
    with pytest.raises(BadInput) as caught:
        replay(root, tmp_path / "scratch")
    return str(caught.value)


def test_the_bank_format_setting_is_validated(history, tmp_path: Path) -> None:
    root = history(MONTH)
    assert "bank_format: a bank format id or path" in settings_problem(
        root, "bank_format = 3\n", tmp_path
    )
    assert "bank_format: no bank format 'nosuch'" in settings_problem(
        root, 'bank_format = "nosuch"\n', tmp_path
    )
    assert "unknown key (known: rules, calendar, bank_format)" in settings_problem(
        root, 'bank = "generic"\n', tmp_path
    )
    (root / "broken.toml").write_text('id = "broken"\n', encoding="utf-8")
    problem = settings_problem(root, 'bank_format = "broken.toml"\n', tmp_path)
    assert "broken.toml" in problem and "encoding" in problem  # the format's own problems
    assert not (tmp_path / "scratch").exists()


def test_a_bank_format_path_is_relative_to_the_history(history, tmp_path: Path) -> None:
    root = history(MONTH)
    (root / ".formats").mkdir()  # any other folder would have to be a month
    shutil.copy2(ROOT / "rules" / "banks" / "generic.toml", root / ".formats" / "generic.toml")
    (root / "replay.toml").write_text(
        'rules = "beijing-2007"\ncalendar = "official"\nbank_format = ".formats/generic.toml"\n',
        encoding="utf-8",
    )
    report = replay(root, tmp_path / "scratch")
    assert report.ok, "\n".join(str(d) for d in report.differences)


# --------------------------------------------------------------------------- the pipe format


def test_the_sample_returns_replay_in_the_pipe_format(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The sample month's return files (sample_data/returns/, pipe-gb18030-fen) as a history:
    --update writes what its README works out; a replay from another folder finds no
    difference (the return files' folders are not compared); an edited .txt instruction file
    is reported by line, its content not shown."""
    root = tmp_path / "history"
    month = root / "2024-02"
    month.mkdir(parents=True)
    shutil.copy2(SAMPLE / "enrollees.csv", month / "enrollees.csv")
    for n in (1, 2):
        shutil.copytree(SAMPLE / "returns" / f"round{n}", month / f"returns-round{n}")
    (root / "replay.toml").write_text('bank_format = "pipe-gb18030-fen"\n', encoding="utf-8")

    created = replay(root, tmp_path / "first", update=True)

    assert created.notes == [
        "2024-02 round 1: expected instructions created",
        "2024-02 round 1: expected outputs created",
        "2024-02 round 2: expected instructions created",
        "2024-02 round 2: expected outputs created",
    ]
    expected = month / "expected"
    assert sorted(p.name for p in (expected / "instructions-1").iterdir()) == [
        "BOB.txt",
        "PSBC.txt",
        "manifest.json",
    ]
    one = json.loads((expected / "round-1" / "summary.json").read_text("utf-8"))
    two = json.loads((expected / "round-2" / "summary.json").read_text("utf-8"))
    assert (one["succeeded"]["enrollees"], one["succeeded"]["amount"]) == (28, "19946.22")
    assert (one["failed"]["enrollees"], one["failed"]["amount"]) == (16, "10980.90")
    assert set(one["failed"]["by_reason"]) == {
        "INSUFFICIENT_FUNDS",
        "BANK_ERROR",
        "ACCOUNT_CLOSED",
        "ACCOUNT_FROZEN",
        "NAME_MISMATCH",
        "NO_AGREEMENT",
        "NO_ACCOUNT",
    }
    assert (two["succeeded"]["enrollees"], two["succeeded"]["amount"]) == (6, "4208.76")
    assert two["month_total"]["unpaid"]["amount"] == "6772.14"

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert replay(root, tmp_path / "second").ok

    path = expected / "instructions-1" / "BOB.txt"
    lines = path.read_bytes().split(b"\n")
    lines[1] = lines[1].replace(b"|2024-02|", b"|2024-03|")
    path.write_bytes(b"\n".join(lines))
    diff = only(replay(root, tmp_path / "third"))
    assert (diff.file, diff.kind) == ("instructions-1/BOB.txt", "changed")
    assert diff.details == ["lines 2 differ (not shown: may hold personal data)"]


# --------------------------------------------------------------------------- comparison details


def test_manifests_compare_other_manifests_hashes_and_return_folders_not() -> None:
    manifest = {
        "tool": {"name": "mediins", "version": "0.1.0"},
        "inputs": {
            "round_1": "aa",
            "instructions": "bb",
            "returns": [{"file": "A.csv", "sha256": "cc"}],
        },
        "files": {"returns": ["sample_data/history/2025-01/returns-round2/A.csv"]},
    }
    elsewhere = {
        "tool": {"name": "mediins", "version": "0.2.0"},
        "inputs": {
            "round_1": "dd",
            "instructions": "ee",
            "returns": [{"file": "A.csv", "sha256": "cc"}],
        },
        "files": {"returns": ["/tmp/replay/history/2025-01/returns-round2/A.csv"]},
    }
    as_bytes = [json.dumps(m).encode() for m in (manifest, elsewhere)]
    assert compare_file("manifest.json", *as_bytes) is None
    assert compare_file("instructions-2/manifest.json", *as_bytes) is None
    other = json.loads(as_bytes[1])
    other["inputs"]["returns"][0]["sha256"] = "ff"
    other["files"]["returns"] = ["B.csv"]
    assert compare_file("manifest.json", as_bytes[0], json.dumps(other).encode()) == [
        'files.returns[0]: expected "A.csv", got "B.csv"',
        'inputs.returns[0].sha256: expected "cc", got "ff"',
    ]


def test_text_files_are_compared_by_line_number_only() -> None:
    want = "1|MI-1|6214830100007326|曾志强|61995\n2|MI-2|6214830100007327|单丽|61995\n"
    have = "1|MI-1|6214830100007326|曾志强|61995\n2|MI-2|6214830100009999|单丽|61995\n3|x\n"
    details = compare_file("BOB.txt", want.encode("gb18030"), have.encode("gb18030"))
    assert details == [
        "2 lines expected, 3 in this replay",
        "lines 2, 3 differ (not shown: may hold personal data)",
    ]
    assert compare_file("BOB.txt", b"a\n", b"a\r\n") == ["bytes differ (line endings)"]


def test_the_command_names_an_instruction_file_that_differs(run, history) -> None:
    root = history(MONTH)
    ident, _ = edit_instruction(root / MONTH / "expected" / "instructions-2" / "PSBC.csv")

    result = run("replay", root, "--json")

    assert result.exit_code == 1
    data = json.loads(result.stdout)
    assert data["ok"] is False and data["months"] == [MONTH]
    assert [(d["month"], d["round"], d["file"], d["kind"]) for d in data["differences"]] == [
        (MONTH, 2, "instructions-2/PSBC.csv", "changed")
    ]
    assert ident not in result.stdout and mask_id(ident) in result.stdout
