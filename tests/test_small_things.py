"""Small things found when mediins was tried as a new user would (issue 12 item 7): the
``--errors`` file's format, refusal advice that keeps ``--out``, ``rules show``'s wording, flags
without a type in ``--help``, examples in the top-level help, the licence, and a README that
cites only files the repository holds."""

from __future__ import annotations

import re
import shlex
import subprocess
import tomllib
from pathlib import Path

import pytest
from typer.main import get_command

from conftest import ROOT, SAMPLE
from mediins_cli.cli import EXAMPLES, RULES_EXAMPLES, app

MONTH = ["--month", "2024-02"]
ANSI = re.compile(r"\x1b\[[0-9;]*m")


# --------------------------------------------------------------------------- --errors


@pytest.fixture
def chinese_bad_ledger(tmp_path: Path) -> Path:
    """A ledger with one bad amount, in a file whose name is Chinese (so the problems file
    holds text that UTF-8 and GB18030 write differently)."""
    path = tmp_path / "流水.csv"
    path.write_text("account_no,posted_at,amount\n6214830012345678,2024-02-01,bad\n", "utf-8")
    return path


def test_validate_errors_file_has_a_bom_with_excel(run, chinese_bad_ledger, tmp_path):
    errors = tmp_path / "problems.csv"
    args = ["validate", "--enrollees", SAMPLE / "enrollees.csv", "--ledger", chinese_bad_ledger]
    assert run(*args, "--errors", errors, "--excel").exit_code == 2
    data = errors.read_bytes()
    assert data.startswith(b"\xef\xbb\xbffile,line,column,code,message,severity\n")
    assert "流水.csv" in data.decode("utf-8-sig")
    assert run(*args, "--errors", errors).exit_code == 2  # the default: no BOM
    assert errors.read_bytes().startswith(b"file,line,")


def test_validate_errors_file_in_gb18030(run, chinese_bad_ledger, tmp_path):
    errors = tmp_path / "problems.csv"
    args = ["validate", "--enrollees", SAMPLE / "enrollees.csv", "--ledger", chinese_bad_ledger]
    assert run(*args, "--errors", errors, "--out-encoding", "gb18030").exit_code == 2
    data = errors.read_bytes()
    assert "流水.csv".encode("gb18030") in data and "流水.csv".encode() not in data
    assert data.decode("gb18030").splitlines()[1].split(",")[2] == "amount"


def test_validate_errors_file_follows_the_settings(run, chinese_bad_ledger, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no mediins.toml here: the environment's setting
    errors = tmp_path / "problems.csv"
    args = ["validate", "--enrollees", SAMPLE / "enrollees.csv", "--ledger", chinese_bad_ledger]
    assert run(*args, "--errors", errors, env={"MEDIINS_EXCEL": "true"}).exit_code == 2
    assert errors.read_bytes().startswith(b"\xef\xbb\xbf")


def test_validate_refuses_an_unknown_out_encoding(run, tmp_path):
    args = ["--enrollees", SAMPLE / "enrollees.csv", "--ledger", SAMPLE / "ledger.csv"]
    result = run("validate", *args, "--errors", tmp_path / "e.csv", "--out-encoding", "latin-1")
    assert result.exit_code == 2 and "--out-encoding" in result.stderr
    assert not (tmp_path / "e.csv").exists()


def test_deduct_errors_file_follows_excel_and_out_encoding(run, chinese_bad_ledger, tmp_path):
    errors = tmp_path / "problems.csv"
    common = ["deduct", "--round", "1", *MONTH, "--enrollees", SAMPLE / "enrollees.csv"]
    bad = [*common, "--ledger", chinese_bad_ledger, "--out", tmp_path / "out", "--errors", errors]
    assert run(*bad, "--out-encoding", "gb18030").exit_code == 2
    assert "流水.csv".encode("gb18030") in errors.read_bytes()
    good = [*common, "--ledger", SAMPLE / "ledger.csv", "--out", tmp_path / "out"]
    assert run(*good, "--errors", errors, "--excel").exit_code == 0  # a run: its warnings
    assert errors.read_bytes().startswith(b"\xef\xbb\xbffile,line,column,code,message,severity")


# --------------------------------------------------------------------------- refusal advice


def test_round_two_first_names_the_out_folder(run, tmp_path):
    out = tmp_path / "runs"
    args = ["deduct", "--round", "2", *MONTH, "--enrollees", SAMPLE / "enrollees.csv"]
    result = run(*args, "--ledger", SAMPLE / "ledger-round2.csv", "--out", out)
    assert result.exit_code == 3
    assert f"`mediins deduct --round 1 --month 2024-02 --out {out}`" in result.stderr


def test_advice_for_the_default_folder_has_no_out(run, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    args = ["deduct", "--round", "2", *MONTH, "--enrollees", SAMPLE / "enrollees.csv"]
    result = run(*args, "--ledger", SAMPLE / "ledger-round2.csv")
    assert result.exit_code == 3
    assert "`mediins deduct --round 1 --month 2024-02` first" in result.stderr


def test_force_advice_repeats_the_command_with_its_out(run, tmp_path):
    out = tmp_path / "runs"
    args = ["deduct", "--round", "1", *MONTH, "--enrollees", SAMPLE / "enrollees.csv"]
    assert run(*args, "--ledger", SAMPLE / "ledger.csv", "--out", out).exit_code == 0
    again = [*args, "--ledger", SAMPLE / "ledger-round2.csv", "--out", out]
    result = run(*again)
    assert result.exit_code == 3 and "Use --force" in result.stderr
    suggested = result.stderr.strip().splitlines()[-1].strip()
    assert shlex.split(suggested) == ["mediins", *map(str, again), "--force"]
    assert run(*shlex.split(suggested)[1:]).exit_code == 0  # as advised: it goes ahead


def test_instruct_force_advice_keeps_the_out(run, tmp_path):
    out = tmp_path / "bank"
    args = ["instruct", "--round", "1", *MONTH, "--out", out]
    assert run(*args, "--enrollees", SAMPLE / "enrollees.csv").exit_code == 0
    lines = (SAMPLE / "enrollees.csv").read_text(encoding="utf-8").splitlines()
    other = tmp_path / "enrollees.csv"
    other.write_text("\n".join(lines[:-1]) + "\n", encoding="utf-8")
    result = run(*args, "--enrollees", other)
    assert result.exit_code == 3
    assert f"--out {out} --enrollees {other} --force" in result.stderr.splitlines()[-1]


# --------------------------------------------------------------------------- rules show


def test_rules_show_unknown_pack_does_not_mention_the_rules_option(run):
    result = run("rules", "show", "nosuch")
    assert result.exit_code == 2
    assert "no rule pack 'nosuch'" in result.stderr and "--rules" not in result.stderr
    assert "beijing-2007" in result.stderr  # what there is


def test_rules_banks_unknown_format_does_not_mention_the_option(run):
    result = run("rules", "banks", "nosuch")
    assert result.exit_code == 2
    assert "no bank format 'nosuch'" in result.stderr and "--bank-format" not in result.stderr


def test_the_rules_option_still_names_itself(run):
    result = run("calendar", *MONTH, "--rules", "nosuch")
    assert result.exit_code == 2 and "--rules: no rule pack 'nosuch'" in result.stderr


# --------------------------------------------------------------------------- --help


def _command_paths() -> list[list[str]]:
    """Every command and group of ``mediins``, as the words that name it."""
    paths: list[list[str]] = [[]]

    def walk(group, prefix: list[str]) -> None:
        for name, command in group.commands.items():
            paths.append([*prefix, name])
            if hasattr(command, "commands"):
                walk(command, [*prefix, name])

    walk(get_command(app), [])
    return paths


@pytest.mark.parametrize("columns", ["80", "200"])
@pytest.mark.parametrize("terminal", [False, True], ids=["piped", "terminal"])
def test_no_flag_shows_a_type_in_help(run, columns, terminal):
    env = {"COLUMNS": columns, "TERM": "xterm-256color"}
    if terminal:  # rich's own switch for a terminal: colours and its layout
        env["FORCE_COLOR"] = "1"
    paths = _command_paths()
    assert len(paths) > 10
    for path in paths:
        result = run(*path, "--help", env=env)
        assert result.exit_code == 0, path
        text = ANSI.sub("", result.stdout)
        assert "--help" in text
        assert "<bool>" not in text, path
    deduct = ANSI.sub("", run("deduct", "--help", env=env).stdout)
    for flag in ("--force", "--dry-run", "--excel", "--no-excel", "--strict", "--json"):
        assert flag in deduct
    assert "<str>" in deduct  # options that take a value still show one


def _examples(epilog: str) -> list[list[str]]:
    """The command lines of an epilog (a line starting with -- continues the one before)."""
    lines: list[str] = []
    for line in epilog.splitlines():
        if line.startswith("mediins "):
            lines.append(line)
        elif line.startswith("--") and lines:
            lines[-1] += " " + line
    return [shlex.split(line.split(" (")[0])[1:] for line in lines]


@pytest.mark.parametrize("epilog, words", [(EXAMPLES, []), (RULES_EXAMPLES, ["rules"])])
def test_top_level_and_rules_help_have_real_examples(run, epilog, words):
    shown = run(*words, "--help", env={"COLUMNS": "200"}).stdout
    assert "Examples:" in shown
    examples = _examples(epilog)
    assert len(examples) >= 3
    root = get_command(app)
    for example in examples:
        assert example[0] in shown or example[:1] == ["deduct"]
        command = root
        rest = list(example)
        while hasattr(command, "commands"):  # down to the command the example runs
            command = command.commands[rest.pop(0)]
        known = {o for p in command.params for o in [*p.opts, *p.secondary_opts]}
        assert {w for w in rest if w.startswith("--")} <= known | {"--help"}, example
        assert " ".join(example) in " ".join(shown.split()), example


def test_rules_show_example_runs(run):
    assert run("rules", "show", "jilin-2022").exit_code == 0


# --------------------------------------------------------------------------- licence


def test_license_file_for_the_declared_mit_licence():
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert declared["project"]["license"] == "MIT"
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert text.startswith("MIT License\n")
    assert "Copyright (c) 2026 the mediins authors" in text
    assert 'THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND' in text


# --------------------------------------------------------------------------- README citations


def _repo_files() -> set[str]:
    """The repository's files (those not ignored, committed or about to be)."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return set(listed.stdout.splitlines())


README = (ROOT / "README.md").read_text(encoding="utf-8")
#: files an operator writes or a run makes: named in the README, never in the repository
NOT_REPO_FILES = {"mediins.toml"}


def _cited_paths(text: str, tops: set[str]) -> set[str]:
    """Repository paths the README cites: markdown links to files, and paths in backticks that
    start with one of the repository's top-level folders or name a document or source file."""
    cited = {
        link
        for link in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text)
        if not re.match(r"[a-z]+:", link)
    }
    for span in re.findall(r"`([^`\n]+)`", text):
        for word in span.split():
            word = word.strip("'\"(),;:")
            if re.search(r"[<>{}*$]", word) or word.startswith(("/", "-")):
                continue  # a placeholder, a pattern, an absolute path, an option
            in_repo = "/" in word and word.split("/")[0] in tops
            named = re.fullmatch(r"[\w.-]+\.(md|txt|toml|py)", word) and word not in NOT_REPO_FILES
            if in_repo or named or word.startswith("../"):
                cited.add(word)
    return cited


def test_readme_cites_only_files_the_repository_holds():
    files = _repo_files()
    folders = {str(Path(f).parent) for f in files} | {
        str(p) for f in files for p in Path(f).parents if str(p) != "."
    }
    tops = {f.split("/")[0] for f in files}
    names = {Path(f).name for f in files}
    cited = _cited_paths(README, tops)
    assert "rules/README.md" in cited and "sample_data/returns/" in cited  # the check sees them
    missing = set()
    for path in cited:
        clean = path.rstrip("/")
        if "/" in path or path.startswith(".."):
            if clean not in files and clean not in folders:
                missing.add(path)
        elif clean not in names:  # a file named alone: somewhere in the repository
            missing.add(path)
    assert missing == set()


def test_readme_cites_no_document_outside_the_repository():
    """The design and the regulations' texts live outside the repository: the README speaks
    of the regulations by number and points to rules/README.md."""
    for outside in ("DESIGN", "../shared", "shared/seeds", "seeds/"):
        assert outside not in README, outside
    assert not re.search(r"\b00\d_[0-9a-f]+\.txt", README)
    assert "see `rules/README.md`" in README
