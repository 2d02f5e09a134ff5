"""What an operator types is echoed masked: an ID or account number pasted into the wrong option,
or a folder named after one, never appears in full on the terminal (issue 12; the brief's rule
on personal data, bad input included)."""

from __future__ import annotations

from conftest import SAMPLE

ID = "110101199001011234"


def test_a_month_typed_as_an_id_is_refused_masked(run):
    result = run("calendar", "--month", ID)
    assert result.exit_code == 2
    assert ID not in result.stdout + result.stderr
    assert "1101********1234" in result.stderr  # enough to find the mistake


def test_a_date_typed_as_an_id_is_refused_masked(run, tmp_path):
    result = run(
        "deduct", "--round", "auto", "--date", ID,
        "--enrollees", SAMPLE / "enrollees.csv", "--ledger", SAMPLE / "ledger.csv",
        "--out", tmp_path / "out",
    )  # fmt: skip
    assert result.exit_code == 2
    assert ID not in result.stdout + result.stderr
    assert "is not a date" in result.stderr


def test_a_folder_that_cannot_be_made_is_named_masked(run, tmp_path):
    blocker = tmp_path / ID
    blocker.write_text("a file where the output folder should go")
    result = run(
        "deduct", "--round", "1", "--month", "2024-02",
        "--enrollees", SAMPLE / "enrollees.csv", "--ledger", SAMPLE / "ledger.csv",
        "--out", blocker / "out", "--json",
    )  # fmt: skip
    assert result.exit_code == 1
    assert ID not in result.stdout + result.stderr
    assert "nothing partial was left" in result.stderr
