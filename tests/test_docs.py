"""The README stays true: every command is documented, and its examples run as shown."""

from __future__ import annotations

import re
import shlex

from conftest import ROOT

README = (ROOT / "README.md").read_text(encoding="utf-8")
EXAMPLES = re.findall(r"^\$ (mediins .+)$", README, flags=re.MULTILINE)


def _commands() -> list[str]:
    """Every command the program has, as typed: ``mediins calendar``, ``mediins rules show``."""
    import typer.main

    from mediins_cli.cli import app

    group = typer.main.get_command(app)
    out = []
    for name, command in group.commands.items():  # type: ignore[attr-defined]
        subs = getattr(command, "commands", None)
        out += [f"mediins {name} {sub}" for sub in subs] if subs else [f"mediins {name}"]
    return out


def test_every_command_there_is_has_an_example():
    """A new command (status, report, …) fails here until the README shows it."""
    commands = _commands()
    assert {"mediins status", "mediins report", "mediins rules show"} <= set(commands)
    for command in commands:
        assert any(e.startswith(command + " ") or e == command for e in EXAMPLES), command


def test_every_command_is_documented_with_an_example():
    for command in (
        "mediins calendar",
        "mediins rules list",
        "mediins rules show",
        "mediins validate",
        "mediins deduct --round 1",
        "mediins deduct --round 2",
        "mediins deduct --round auto",
        "mediins replay",
        "mediins sample",
        "mediins rules banks",
        "mediins instruct --round 1",
        "mediins instruct --round 2",
        "mediins simulate-bank",
        "mediins deduct --round 1 --month 2024-02 --enrollees sample_data/enrollees.csv --returns",
    ):
        assert any(e.startswith(command) for e in EXAMPLES), command


def test_the_two_set_up_commands_are_in_the_readme():
    assert "make demo" in README and "make test" in README


def test_readme_examples_run_in_order_with_the_status_they_claim(run, monkeypatch, tmp_path):
    """As an operator would type them, one after another, in a fresh folder holding the sample
    month (so round 2's example finds round 1's run)."""
    (tmp_path / "sample_data").symlink_to(ROOT / "sample_data")
    monkeypatch.chdir(tmp_path)
    for example in EXAMPLES:
        command, _, comment = example.partition("#")
        expected = int(m.group(1)) if (m := re.search(r"exit (\d)", comment)) else 0
        result = run(*shlex.split(command)[1:], env={"MEDIINS_CALENDAR_DIR": str(tmp_path)})
        assert result.exit_code == expected, f"{example}\n{result.stderr}"


def test_every_problem_code_the_loader_can_emit_is_documented():
    modules = [
        *(ROOT / "mediins_cli" / "inputs").glob("*.py"),
        *(ROOT / "mediins_cli" / "bank").glob("*.py"),
    ]
    # __init__ only re-exports names (its __all__ strings are not codes)
    source = "".join(p.read_text(encoding="utf-8") for p in modules if p.name != "__init__.py")
    codes = set(re.findall(r'"([A-Z][A-Z_]{3,})"', source)) - {"GB18030"}
    codes = {c for c in codes if not c.startswith("O_")}  # os flags looked up by name
    documented = set(re.findall(r"`([A-Z][A-Z_]{3,})`", README))
    assert codes <= documented, codes - documented


def test_every_outcome_code_is_documented():
    from mediins_cli.continuity import BREAK_CATEGORIES, RESUMPTION_CATEGORIES
    from mediins_cli.rounds import FAILURE_REASONS, SKIP_REASONS

    documented = set(re.findall(r"`([A-Z][A-Z_]{3,})`", README))
    from mediins_cli.bank.formats import RESULT_CODES
    from mediins_cli.continuity import CONTINUOUS_TRANSFER, FIRST_PAYMENT

    codes = {*SKIP_REASONS, *FAILURE_REASONS, *BREAK_CATEGORIES, *RESUMPTION_CATEGORIES}
    codes |= {FIRST_PAYMENT, CONTINUOUS_TRANSFER}
    from mediins_cli.continuity import CAUSES

    codes |= set(RESULT_CODES) - {"OK"} | set(CAUSES)
    assert "`OK`" in README
    assert codes <= documented, codes - documented
