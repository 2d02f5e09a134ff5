"""`mediins replay` at the command line: the shipped history replays clean, a deliberate change
is shown by file, row and column with exit status 1, --update makes it clean again."""

from __future__ import annotations

import json
import shutil

from conftest import SAMPLE

HISTORY = SAMPLE / "history"


def test_the_shipped_history_replays_clean(run):
    result = run("replay", HISTORY)
    assert result.exit_code == 0, result.stdout + result.stderr
    assert "replayed 13 months (2024-01 … 2025-01)" in result.stdout
    assert "no differences" in result.stdout
    data = json.loads(run("replay", HISTORY, "--chain", "--json").stdout)
    assert data["ok"] is True and len(data["months"]) == 13 and data["files_compared"] > 150


def test_a_deliberate_change_is_shown_by_file_row_and_column_and_fails(run, tmp_path):
    history = tmp_path / "history"
    shutil.copytree(HISTORY, history, ignore=shutil.ignore_patterns("*.py", "*.md"))
    success = history / "2024-06" / "expected" / "round-1" / "success.csv"
    lines = success.read_text(encoding="utf-8").splitlines()
    fields = lines[1].split(",")
    ident, before = fields[0], fields[4]
    fields[4] = "1.00"
    lines[1] = ",".join(fields)
    success.write_text("\n".join(lines) + "\n", encoding="utf-8")

    result = run("replay", history)
    assert result.exit_code == 1
    out = " ".join(result.stdout.split())
    masked = f"{ident[:6]}********{ident[-4:]}"
    assert "2024-06 round 1: success.csv: changed" in out
    assert f"row enrollee_id={masked}: amount: expected 1.00, got {before}" in out
    assert ident not in result.stdout  # masked
    assert "1 differ" in out

    fixed = run("replay", history, "--update")
    assert fixed.exit_code == 0
    assert run("replay", history).exit_code == 0


def test_replay_of_a_folder_without_months_is_exit_2(run, tmp_path):
    result = run("replay", tmp_path)
    assert result.exit_code == 2
