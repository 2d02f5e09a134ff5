"""Machine output on failure (DESIGN §13, issue 12 item 6): with ``--json``, bad input (exit 2),
a refusal (exit 3) and an unexpected error (exit 1) still print exactly one JSON object on
stdout, masked as the text on stderr is; without ``--json`` stdout stays empty. Every command
that has ``--json`` is tried, and Typer's own usage errors too."""

from __future__ import annotations

import ast
import errno
import json
from pathlib import Path

import pytest

from conftest import ROOT, SAMPLE
from mediins_cli.cli import app

ID = "110101198407220464"  # the first enrollee of sample_data
ACCOUNT = "6214830100007326"  # their (shared) account
MONTH = ["--month", "2024-02"]


def failed(result, status: str, exit_code: int) -> dict:
    """The one JSON object a failure printed, checked: status, exit code, problems, masking."""
    assert result.exit_code == exit_code, result.stderr
    data = json.loads(result.stdout)  # one object, nothing else on stdout
    assert isinstance(data, dict)
    assert data["ok"] is False
    assert data["status"] == status
    assert data["exit_code"] == exit_code
    assert isinstance(data["message"], str) and data["message"]
    assert isinstance(data["problems"], list)
    for problem in data["problems"]:
        assert {"file", "line", "column", "code", "message", "severity"} <= problem.keys()
    for shown in (result.stdout, result.stderr):
        assert ID not in shown and ACCOUNT not in shown
    return data


@pytest.fixture
def duplicated(tmp_path: Path) -> Path:
    """The sample enrollee file with its first enrollee twice: bad input that names an ID."""
    lines = (SAMPLE / "enrollees.csv").read_text(encoding="utf-8").splitlines()
    assert lines[1].startswith(ID)
    path = tmp_path / "enrollees.csv"
    path.write_text("\n".join([*lines, lines[1]]) + "\n", encoding="utf-8")
    return path


# --------------------------------------------------------------------------- bad input


def test_calendar_bad_month(run):
    data = failed(run("calendar", "--month", "2024-13", "--json"), "bad_input", 2)
    assert "--month" in data["message"]
    assert data["errors"] == 1 and data["warnings"] == 0


def test_rules_list_broken_pack(run, tmp_path):
    (tmp_path / "broken.toml").write_text("[pack]\nid = 1\n", encoding="utf-8")
    result = run("rules", "list", "--json", env={"MEDIINS_RULES_DIR": str(tmp_path)})
    data = failed(result, "bad_input", 2)
    assert data["errors"] == len(data["problems"]) > 1
    assert all(p["file"].endswith("broken.toml") for p in data["problems"])


def test_rules_show_unknown_pack(run):
    data = failed(run("rules", "show", "nosuch", "--json"), "bad_input", 2)
    assert "no rule pack 'nosuch'" in data["message"]


def test_rules_banks_unknown_format(run):
    data = failed(run("rules", "banks", "nosuch", "--json"), "bad_input", 2)
    assert "no bank format 'nosuch'" in data["message"]


def test_sample_bad_month(run, tmp_path):
    result = run("sample", "--enrollees", "5", "--month", "2024-00", "--out", tmp_path, "--json")
    failed(result, "bad_input", 2)


def test_validate_names_the_row_masked(run, duplicated):
    result = run("validate", "--enrollees", duplicated, "--ledger", SAMPLE / "ledger.csv", "--json")
    data = failed(result, "bad_input", 2)
    assert data["errors"] >= 1
    first = data["problems"][0]
    assert first["file"].endswith("enrollees.csv") and first["line"] > 1
    assert first["column"] == "enrollee_id"
    assert "110101********0464" in json.dumps(data, ensure_ascii=False)
    # the same problems as on stderr, the same masking
    assert first["message"] in result.stderr


def test_deduct_bad_input_masked(run, duplicated, tmp_path):
    result = run(
        "deduct", "--round", "1", *MONTH, "--enrollees", duplicated,
        "--ledger", SAMPLE / "ledger.csv", "--out", tmp_path / "out", "--json",
    )  # fmt: skip
    data = failed(result, "bad_input", 2)
    assert any(p["column"] == "enrollee_id" for p in data["problems"])


def test_replay_missing_history(run, tmp_path):
    data = failed(run("replay", tmp_path / "nope", "--json"), "bad_input", 2)
    assert data["problems"][0]["code"] == "NO_FILE"


def test_status_bad_month(run, tmp_path):
    if "status" not in {c.name or c.callback.__name__ for c in app.registered_commands}:
        pytest.skip("no status command in this tree")
    failed(run("status", "--out", tmp_path, "--month", "2024-13", "--json"), "bad_input", 2)


# --------------------------------------------------------------------------- refusals


def test_deduct_refusal_says_the_command_again(run, tmp_path):
    out = tmp_path / "my out"
    args = ["deduct", "--round", "1", *MONTH, "--enrollees", SAMPLE / "enrollees.csv"]
    assert run(*args, "--ledger", SAMPLE / "ledger.csv", "--out", out).exit_code == 0
    again = [*args, "--ledger", SAMPLE / "ledger-round2.csv", "--out", out, "--json"]
    data = failed(run(*again), "refused", 3)
    assert "already ran" in data["message"] and data["problems"] == []
    # the refused command as given (its --out included), with --force
    assert data["command"].startswith("mediins deduct --round 1")
    assert data["command"].endswith(f"--out '{out}' --json --force")


def test_instruct_round_two_before_round_one(run, tmp_path):
    out = tmp_path / "bank"
    result = run(
        "instruct", "--round", "2", *MONTH, "--enrollees", SAMPLE / "enrollees.csv",
        "--out", out, "--json",
    )  # fmt: skip
    data = failed(result, "refused", 3)
    assert f"`mediins deduct --round 1 --month 2024-02 --out {out}`" in data["message"]


# --------------------------------------------------------------------------- unexpected


def test_unexpected_error_is_masked_as_on_stderr(run, monkeypatch):
    def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError(f"row of {ID} 单丽 broke on {ACCOUNT}")

    monkeypatch.setattr("mediins_cli.cli.load_pack", broken)
    result = run("calendar", *MONTH, "--json")
    data = failed(result, "error", 1)
    assert data["message"].startswith("unexpected error: RuntimeError: ")
    assert "单丽" not in result.stdout + result.stderr
    assert data["message"] in result.stderr  # the same line, masked the same way


def test_disk_full_is_an_error_in_json(run, monkeypatch, tmp_path):
    def full(*_args: object, **_kwargs: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "x"))

    monkeypatch.setattr("mediins_cli.sample.write_sample", full)
    result = run("sample", "--enrollees", "5", *MONTH, "--out", tmp_path, "--json")
    data = failed(result, "error", 1)
    assert data["message"].startswith("No space left on device")
    assert "nothing partial was left" in data["message"]


# --------------------------------------------------------------------------- usage errors


@pytest.mark.parametrize(
    "args",
    [
        ["deduct", "--round", "3", "--json"],  # a value not among the choices
        ["calendar", "--json", "--no-such-option"],
        ["rules", "show", "--json"],  # a missing argument
        ["nosuch", "--json"],  # an unknown command
    ],
)
def test_usage_errors_print_json_too(run, args):
    data = failed(run(*args), "bad_input", 2)
    assert data["problems"][0]["code"] == "USAGE"
    assert data["errors"] == 1


def test_usage_error_masks_what_was_typed(run):
    data = failed(run("deduct", "--round", ID, "--json"), "bad_input", 2)
    assert "--round" in data["message"]


def test_without_json_stdout_stays_empty(run):
    for args in (["calendar", "--month", "2024-13"], ["deduct", "--round", "3"]):
        result = run(*args)
        assert result.exit_code == 2 and result.stdout == "" and result.stderr


def test_json_after_a_double_dash_is_not_the_option(run):
    result = run("rules", "show", "--", "--json")
    assert result.exit_code == 2 and result.stdout == ""


# --------------------------------------------------------------------------- every command


def test_every_command_with_json_passes_it_to_guard():
    """A command that has ``--json`` hands it to ``_guard``, or its failures print no JSON."""
    tree = ast.parse((ROOT / "mediins_cli" / "cli.py").read_text(encoding="utf-8"))
    missing = []
    for node in tree.body:
        if not isinstance(node, ast.FunctionDef) or not any(
            isinstance(d, ast.Call)
            and isinstance(d.func, ast.Attribute)
            and d.func.attr == "command"
            for d in node.decorator_list
        ):
            continue  # not a command
        if "json_output" not in {a.arg for a in node.args.args}:
            continue
        calls = [
            c
            for c in ast.walk(node)
            if isinstance(c, ast.Call) and isinstance(c.func, ast.Name) and c.func.id == "_guard"
        ]
        passed = [
            c
            for c in calls
            if any(
                k.arg == "json_output"
                and isinstance(k.value, ast.Name)
                and k.value.id == "json_output"
                for k in c.keywords
            )
        ]
        if not passed:
            missing.append(node.name)
    assert missing == []
