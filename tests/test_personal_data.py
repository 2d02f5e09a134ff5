"""No full resident ID, account number or name on the terminal, in a run log or in an
``--errors`` file, whatever the input (DESIGN §7), and every file and folder mediins writes
has its mode, never wider than the umask allows (DESIGN §8).

One sweep of real ``mediins`` processes (the installed entry point, real stdout and stderr,
real run logs) in a temporary folder holding ``sample_data``: every README example in order,
their --json, --dry-run, --round auto and --errors variants, refusals, bad inputs, replay with
differences, and an unexpected error under ``MEDIINS_DEBUG=1``. What is looked for is every
full document number, account number and name of the sample files and the history.
"""

from __future__ import annotations

import csv
import io
import os
import re
import shlex
import shutil
import stat
import subprocess
import sys
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from conftest import ROOT, SAMPLE
from mediins_cli.mask import mask_account, mask_id, mask_name

MEDIINS = Path(sys.executable).with_name("mediins")
if not MEDIINS.exists():
    MEDIINS = ROOT / ".venv" / "bin" / "mediins"

README = (ROOT / "README.md").read_text(encoding="utf-8")
EXAMPLES = re.findall(r"^\$ (mediins .+)$", README, flags=re.MULTILINE)

MONTH = ["--month", "2024-02"]
ENROLLEES = ["--enrollees", "sample_data/enrollees.csv"]
LEDGER_1 = ["--ledger", "sample_data/ledger.csv"]
LEDGER_2 = ["--ledger", "sample_data/ledger-round2.csv"]
ROUND_1 = ["deduct", "--round", "1", *MONTH, *ENROLLEES, *LEDGER_1]
ROUND_2 = ["deduct", "--round", "2", *MONTH, *ENROLLEES, *LEDGER_2]
REPLAYED = ("2024-01", "2024-02", "2024-03")  # the months of the history copy replayed


# --------------------------------------------------------------------------- what is personal


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as fh:
        return list(csv.DictReader(fh))


@dataclass
class Personal:
    """Full values that must never be shown: document numbers, account numbers, names."""

    ids: set[str] = field(default_factory=set)
    accounts: set[str] = field(default_factory=set)
    names: set[str] = field(default_factory=set)

    def with_values(
        self, ids: Iterable[str] = (), accounts: Iterable[str] = (), names: Iterable[str] = ()
    ) -> Personal:
        """A copy that also looks for values a test put into a file of its own."""
        return Personal(self.ids | set(ids), self.accounts | set(accounts), self.names | set(names))

    def needles(self) -> list[tuple[str, str, str]]:
        """(kind, full value, masked value for the report)."""
        return (
            [("id", v, mask_id(v)) for v in sorted(self.ids)]
            + [("account", v, mask_account(v)) for v in sorted(self.accounts)]
            + [("name", v, mask_name(v)) for v in sorted(self.names) if len(v) >= 2]
        )


def collect_personal_data() -> Personal:
    enrollee_files = [SAMPLE / "enrollees.csv", *sorted(SAMPLE.glob("history/*/enrollees.csv"))]
    ledger_files = [*sorted(SAMPLE.glob("ledger*.csv")), *sorted(SAMPLE.glob("history/*/ledger*"))]
    found = Personal()
    for path in enrollee_files:
        for row in _rows(path):
            found.ids.add(row["enrollee_id"].strip())
            found.accounts.add(row["account_no"].strip())
            found.names.add(row["name"].strip())
    for path in ledger_files:
        found.accounts |= {row["account_no"].strip() for row in _rows(path)}
    found.ids.discard("")
    found.accounts.discard("")
    found.names.discard("")
    return found


_SPACE = re.compile(r"\s+")


def leaks(where: str, text: str, personal: Personal) -> list[str]:
    """Every full value of ``personal`` in ``text``: as it is, in any case, and with the
    whitespace a terminal's line wrapping may have put inside it taken out."""
    plain = text.upper()
    squeezed = _SPACE.sub("", plain)
    return [
        f"{where}: full {kind} {masked}"
        for kind, value, masked in personal.needles()
        if value.upper() in plain or _SPACE.sub("", value.upper()) in squeezed
    ]


# --------------------------------------------------------------------------- running mediins


@dataclass
class Ran:
    label: str
    args: list[str]
    expected: int
    code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def _env(folder: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    """The caller's environment without MEDIINS_* settings; wide lines (nothing wrapped), no
    colour, UTF-8; no operator calendar files (as tests/test_docs.py runs the README)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEDIINS_")}
    calendars = folder / "no-calendars"
    calendars.mkdir(exist_ok=True)
    env.update(COLUMNS="400", NO_COLOR="1", PYTHONUTF8="1", MEDIINS_CALENDAR_DIR=str(calendars))
    env.update(extra or {})
    return env


def mediins(
    folder: Path,
    args: list[str],
    *,
    expected: int = 0,
    label: str = "",
    env: dict[str, str] | None = None,
    preexec_fn: Callable[[], object] | None = None,
) -> Ran:
    """``mediins ARGS`` as a process in ``folder``, under umask 022 unless ``preexec_fn`` sets
    another (so the modes asserted below do not depend on the caller's umask)."""
    proc = subprocess.run(
        [str(MEDIINS), *args],
        cwd=folder,
        env=_env(folder, env),
        capture_output=True,
        timeout=120,
        check=False,
        **({"preexec_fn": preexec_fn} if preexec_fn else {"umask": 0o022}),
    )
    return Ran(
        label or " ".join(args),
        args,
        expected,
        proc.returncode,
        proc.stdout.decode("utf-8", "replace"),
        proc.stderr.decode("utf-8", "replace"),
    )


WORKERS = max(2, min(4, os.cpu_count() or 2))


def in_parallel(jobs: list[Callable[[], Ran]]) -> list[Ran]:
    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        return list(pool.map(lambda job: job(), jobs))


def check_runs(runs: list[Ran], personal: Personal) -> None:
    """Each run ended as expected, said something, and showed no full personal value."""
    assert runs
    found = []
    for ran in runs:
        assert ran.code == ran.expected, f"{ran.label}: exit {ran.code}\n{ran.stderr}"
        assert ran.output.strip(), f"{ran.label}: printed nothing to search"
        found += leaks(f"{ran.label} (stdout)", ran.stdout, personal)
        found += leaks(f"{ran.label} (stderr)", ran.stderr, personal)
    assert not found, "\n".join(found)


def _write_csv(path: Path, rows: list[list[str]]) -> Path:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(rows)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(buf.getvalue(), encoding="utf-8")
    return path


def _table(path: Path) -> list[list[str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        return [list(r) for r in csv.reader(fh)]


def _problems(path: Path) -> set[tuple[int, str, str]]:
    """(line, column, code) of an --errors CSV."""
    return {(int(r["line"]), r["column"], r["code"]) for r in _rows(path)}


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def _walk(root: Path) -> list[Path]:
    """``root`` and everything under it (symlinks not followed)."""
    found = [root]
    for folder, dirs, files in os.walk(root):
        found += [Path(folder, name) for name in dirs + files]
    return found


# --------------------------------------------------------------------------- the sweep


@pytest.fixture(scope="module")
def personal() -> Personal:
    return collect_personal_data()


@dataclass
class Sweep:
    folder: Path
    runs: dict[str, list[Ran]]
    #: the personal data to look for, with the values the replay's edit put in
    replay_personal: Personal


@pytest.fixture(scope="module")
def sweep(tmp_path_factory: pytest.TempPathFactory, personal: Personal) -> Sweep:
    """Every good-path command, in the operator's folder (``sample_data`` linked in): run
    directories go to ``out/``, --errors files to ``errors/``. Chains that need each other's
    runs are in order; independent chains run side by side."""
    work = tmp_path_factory.mktemp("personal-data")
    (work / "sample_data").symlink_to(SAMPLE)

    def run_all(commands: list[tuple[list[str], int]]) -> Callable[[], list[Ran]]:
        return lambda: [mediins(work, args, expected=code) for args, code in commands]

    readme, readme_replays = [], []  # the replay examples neither need nor feed the others
    for example in EXAMPLES:
        command, _, comment = example.partition("#")
        expected = int(m.group(1)) if (m := re.search(r"exit (\d)", comment)) else 0
        args = shlex.split(command)[1:]
        (readme_replays if args[0] == "replay" else readme).append((args, expected))
    readme += [
        ([*ROUND_1, "--out", "out/readme", "--json"], 0),  # the same inputs again: unchanged
        ([*ROUND_2, "--out", "out/readme"], 0),
    ]

    changed = _table(SAMPLE / "ledger.csv")
    amount = changed[0].index("amount")
    changed[1][amount] = f"{float(changed[1][amount]) + 1:.2f}"
    _write_csv(work / "changed" / "ledger.csv", changed)
    rounds = [
        (["validate", *ENROLLEES, *LEDGER_1, "--errors", "errors/validate.csv"], 0),
        ([*ROUND_2, "--out", "out/json"], 3),  # refused: round 2 before round 1
        ([*ROUND_1, "--out", "out/json", "--json", "--errors", "errors/deduct-round1.csv"], 0),
        ([*ROUND_1[:-1], "changed/ledger.csv", "--out", "out/json"], 3),  # refused: other ledger
        ([*ROUND_2, "--out", "out/json", "--dry-run"], 0),
        ([*ROUND_2, "--out", "out/json", "--json", "--errors", "errors/deduct-round2.csv"], 0),
        ([*ROUND_1, "--out", "out/dry", "--dry-run"], 0),
    ]

    # --round auto fills in templated paths: ledgers/ledger-round{round}.csv
    (work / "ledgers").mkdir()
    (work / "ledgers" / "ledger-round1.csv").symlink_to(SAMPLE / "ledger.csv")
    (work / "ledgers" / "ledger-round2.csv").symlink_to(SAMPLE / "ledger-round2.csv")
    auto = ["deduct", "--round", "auto", *ENROLLEES, "--ledger", "ledgers/ledger-round{round}.csv"]
    cron = [
        ([*auto, "--date", "2024-02-18", "--out", "out/auto", "--errors", "errors/auto.csv"], 0),
        ([*auto, "--date", "2024-02-22", "--out", "out/auto", "--json"], 0),
        ([*auto, "--date", "2024-02-13", "--out", "out/auto", "--json"], 0),  # not a due day
    ]

    # a copy of the history (its first quarter) with three cells of one expected success.csv
    # changed
    (work / "history-edited").mkdir()
    shutil.copy(SAMPLE / "history" / "replay.toml", work / "history-edited")
    for month in REPLAYED:
        shutil.copytree(SAMPLE / "history" / month, work / "history-edited" / month)
    success = work / "history-edited" / "2024-03" / "expected" / "round-1" / "success.csv"
    rows = _table(success)
    name, account, amount = (rows[0].index(c) for c in ("name", "account_no", "amount"))
    rows[1][name] = rows[1][name][:-1] + ("兰" if rows[1][name][-1] != "兰" else "芳")
    rows[2][account] = rows[2][account][:-2] + ("99" if rows[2][account][-2:] != "99" else "11")
    rows[3][amount] = f"{float(rows[3][amount]) + 0.01:.2f}"
    _write_csv(success, rows)
    replay = ["replay", "history-edited"]

    chains = {
        "readme": run_all(readme),
        "readme-replay": run_all(readme_replays),
        "rounds": run_all(rounds),
        "auto": run_all(cron),
        "replay": run_all([(replay, 1)]),
        "replay-json": run_all([([*replay, "--json", "--scratch", "out/replay-scratch"], 1)]),
    }
    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        futures = {label: pool.submit(chain) for label, chain in chains.items()}
        runs = {label: future.result() for label, future in futures.items()}
    runs["replay"] += runs.pop("replay-json")
    runs["readme"] += runs.pop("readme-replay")
    edited = personal.with_values(accounts=[rows[2][account]], names=[rows[1][name]])
    return Sweep(work, runs, edited)


# --------------------------------------------------------------------------- the tests


def test_there_is_personal_data_to_look_for(personal: Personal):
    assert len(personal.ids) >= 50 and len(personal.accounts) >= 50 and len(personal.names) >= 50
    assert {"08123456", "H10293847", "E12345678", "11010119820318123X"} <= personal.ids
    assert "SMITH JOHN" in personal.names and "欧阳建国" in personal.names
    assert all(re.fullmatch(r"[0-9]{6,32}", a) for a in personal.accounts)
    assert leaks("probe", "x 欧阳建国 y", personal) == ["probe: full name 欧***"]
    assert leaks("probe", "6214830100\n007326", personal)  # wrapped by a terminal
    assert not leaks("probe", "欧*** 6214********7326 110101********0464", personal)


def test_readme_examples_in_order_and_reruns_show_no_full_id_account_or_name(sweep, personal):
    runs = sweep.runs["readme"]
    assert len(runs) == len(EXAMPLES) + 2 and len(EXAMPLES) >= 10
    examples = [shlex.split(e.partition("#")[0])[1:] for e in EXAMPLES]
    assert all(any(r.args == args for r in runs) for args in examples)
    check_runs(runs, personal)
    # the last two of the ordered chain: round 1 and 2 again, as README's round 2 example is
    rerun_1 = [r for r in runs if r.args == [*ROUND_1, "--out", "out/readme", "--json"]][-1]
    rerun_2 = [r for r in runs if r.args == [*ROUND_2, "--out", "out/readme"]][-1]
    assert '"unchanged"' in rerun_1.stdout and "nothing to do" in rerun_2.stdout


def test_json_dry_run_errors_and_refusals_show_no_full_id_account_or_name(sweep, personal):
    runs = sweep.runs["rounds"]
    check_runs(runs, personal)
    assert all(r.stderr.startswith("mediins:") for r in runs if r.expected == 3)
    assert '"ran"' in runs[2].stdout and '"ran"' in runs[5].stdout
    assert "dry run" in runs[4].stdout and "dry run" in runs[-1].stdout


def test_round_auto_on_due_and_other_days_shows_no_full_id_account_or_name(sweep, personal):
    runs = sweep.runs["auto"]
    check_runs(runs, personal)
    assert "round 1" in runs[0].stdout and '"ran"' in runs[1].stdout
    assert '"nothing_due"' in runs[2].stdout


def test_replay_differences_show_names_and_account_numbers_masked(sweep):
    runs = sweep.runs["replay"]
    check_runs(runs, sweep.replay_personal)
    for ran in runs:
        assert "2024-03" in ran.stdout and "success.csv" in ran.stdout, ran.stdout
        for column in ("name: expected", "account_no: expected", "amount: expected"):
            assert column in ran.stdout, (column, ran.stdout)


def test_run_logs_under_the_out_folders_hold_no_personal_data(sweep, personal):
    logs = [p for p in _walk(sweep.folder / "out") if p.name == "run.log"]
    # readme, json and auto: rounds 1 and 2; the README's bank examples (generic and pipe):
    # rounds 1 and 2; the README's Chinese example: round 1; the replay's scratch: every
    # month's 2 rounds; the README's workbook example: round 1
    assert len(logs) == 3 * 2 + 2 * 2 + 1 + len(REPLAYED) * 2 + 1, logs
    found = []
    for log in logs:
        text = log.read_text(encoding="utf-8")
        assert "attempted" in text, log
        found += leaks(str(log.relative_to(sweep.folder)), text, personal)
    assert not found, "\n".join(found)


def test_instruct_logs_hold_no_personal_data(sweep, personal):
    logs = [p for p in _walk(sweep.folder / "out") if p.name == "instruct.log"]
    assert len(logs) == 2 * 2, logs  # the README's bank examples: rounds 1 and 2, two formats
    found = []
    for log in logs:
        text = log.read_text(encoding="utf-8")
        assert "instructed" in text, log
        found += leaks(str(log.relative_to(sweep.folder)), text, personal)
    assert not found, "\n".join(found)


def test_errors_files_of_good_inputs_are_written_and_hold_no_personal_data(sweep, personal):
    files = sorted((sweep.folder / "errors").glob("*.csv"))
    assert len(files) == 4, files
    for path in files:
        text = path.read_text(encoding="utf-8")
        assert text.startswith("file,line,column,code,message,severity"), path
        assert not leaks(path.name, text, personal)


# --------------------------------------------------------------------------- bad input


_SAMPLE_ID = _table(SAMPLE / "enrollees.csv")[1][0]
#: the first enrollee's resident ID with a wrong check digit: personal data too
_WRONG_ID = _SAMPLE_ID[:-1] + ("0" if _SAMPLE_ID[-1] != "0" else "1")


def _broken_quote(rows: list[str]) -> list[str]:
    """``sed '3s/,/,"/'``: a quote opened on line 3 and never closed there."""
    return [rows[0], rows[1], rows[2].replace(",", ',"', 1), *rows[3:]]


def _bad_enrollees(make: Callable[[list[list[str]]], None]) -> Callable[[Path], Path]:
    def write(folder: Path) -> Path:
        rows = _table(SAMPLE / "enrollees.csv")
        make(rows)
        return _write_csv(folder / "enrollees.csv", rows)

    return write


def _wrong_check_digit(rows: list[list[str]]) -> None:
    assert rows[1][0] == _SAMPLE_ID
    rows[1][0] = _WRONG_ID


def _columns_slipped(rows: list[list[str]]) -> None:
    h = rows[0]
    row = rows[5]  # line 6
    row[h.index("enrolled_on")] = row[h.index("name")]
    row[h.index("monthly_premium")] = row[h.index("enrollee_id")]


def _foreigner_in_status(rows: list[list[str]]) -> None:
    h = rows[0]
    rows[2][h.index("status")] = "SMITH JOHN"  # line 3
    rows[3][h.index("status")] = "E12345678"  # line 4


def _account_in_posted_at(folder: Path) -> Path:
    rows = _table(SAMPLE / "ledger.csv")
    h = rows[0]
    rows[3][h.index("posted_at")] = rows[3][h.index("account_no")]  # line 4
    return _write_csv(folder / "ledger.csv", rows)


def _name_in_reference(folder: Path) -> Path:
    rows = _table(SAMPLE / "ledger.csv")
    h = rows[0]
    name = _table(SAMPLE / "enrollees.csv")[1][2]
    rows[3][h.index("reference")] = name  # line 4
    rows[5][h.index("reference")] = name  # line 6: a duplicate reference
    return _write_csv(folder / "ledger.csv", rows)


def _gb18030(folder: Path) -> Path:
    path = folder / "enrollees.csv"
    path.write_bytes((SAMPLE / "enrollees.csv").read_text(encoding="utf-8").encode("gb18030"))
    return path


def _quote(folder: Path) -> Path:
    lines = (SAMPLE / "enrollees.csv").read_text(encoding="utf-8").splitlines(keepends=True)
    path = folder / "enrollees.csv"
    path.write_text("".join(_broken_quote(lines)), encoding="utf-8")
    return path


@dataclass(frozen=True)
class BadCase:
    enrollees: Callable[[Path], Path] | None = None
    ledger: Callable[[Path], Path] | None = None
    problems: frozenset[tuple[int, str, str]] = frozenset()
    file: str = "enrollees.csv"
    options: tuple[str, ...] = ()


BAD_CASES = {
    "broken quote": BadCase(_quote, problems=frozenset({(3, "", "BAD_QUOTE")})),
    "wrong check digit": BadCase(
        _bad_enrollees(_wrong_check_digit),
        problems=frozenset({(2, "enrollee_id", "BAD_ID_CHECKSUM")}),
    ),
    "name and ID slipped into enrolled_on and monthly_premium": BadCase(
        _bad_enrollees(_columns_slipped),
        problems=frozenset({(6, "enrolled_on", "BAD_DATE"), (6, "monthly_premium", "BAD_AMOUNT")}),
    ),
    "latin name and passport number in status": BadCase(
        _bad_enrollees(_foreigner_in_status),
        problems=frozenset({(3, "status", "BAD_VALUE"), (4, "status", "BAD_VALUE")}),
    ),
    "account number in the ledger's posted_at": BadCase(
        ledger=_account_in_posted_at,
        problems=frozenset({(4, "posted_at", "BAD_DATE")}),
        file="ledger.csv",
    ),
    "GB18030 file read as UTF-8": BadCase(
        _gb18030, problems=frozenset({(2, "", "BAD_ENCODING")}), options=("--encoding", "utf-8")
    ),
    "name in the ledger's reference column twice": BadCase(
        ledger=_name_in_reference,
        problems=frozenset({(6, "reference", "DUPLICATE_REFERENCE")}),
        file="ledger.csv",
    ),
}
DEFECTS: dict[str, str] = {}  # cases that show a known leak (none left)


@pytest.mark.parametrize(
    "case",
    [
        pytest.param(name, marks=pytest.mark.xfail(strict=True, reason=DEFECTS[name]))
        if name in DEFECTS
        else name
        for name in BAD_CASES
    ],
)
def test_bad_input_is_reported_with_personal_data_masked(case, personal, tmp_path):
    """validate and deduct, each with --json and --errors (--json adds the JSON report on
    stdout to the problem lines on stderr that a plain run prints): exit 2, the problem named
    at its line and column, no full value on the terminal or in the errors CSV, and nothing
    written under --out."""
    bad = BAD_CASES[case]
    folder = tmp_path / "bad"
    folder.mkdir()
    (folder / "sample_data").symlink_to(SAMPLE)
    files = ["--enrollees", bad.enrollees(folder).name if bad.enrollees else ENROLLEES[1]]
    files += ["--ledger", bad.ledger(folder).name if bad.ledger else LEDGER_1[1]]
    files += bad.options
    commands = {
        "validate": ["validate", *files],
        "deduct": ["deduct", "--round", "1", *MONTH, *files, "--out", "out"],
    }
    runs = in_parallel(
        [
            lambda k=k, a=a: mediins(
                folder,
                [*a, "--json", "--errors", f"errors/{k}.csv"],
                expected=2,
                label=f"{case}: {k}",
            )
            for k, a in commands.items()
        ]
    )
    look_for = personal.with_values(ids=[_WRONG_ID])
    check_runs(runs, look_for)
    assert not (folder / "out").exists(), "bad input wrote something"
    for name in commands:
        path = folder / "errors" / f"{name}.csv"
        assert _mode(path) == 0o600, (path, oct(_mode(path)))
        assert bad.problems <= _problems(path), (name, _problems(path))
        assert {r["file"] for r in _rows(path)} == {bad.file}
        found = leaks(path.name, path.read_text(encoding="utf-8"), look_for)
        assert not found, "\n".join(found)


# --------------------------------------------------------------------------- MEDIINS_DEBUG


def _passport_holder(rows: list[str]) -> list[str]:
    """Line 10 becomes a foreign enrollee with a passport (as in the sample month)."""
    fields = next(csv.reader([rows[9]]))
    fields[:5] = ["E12345678", "passport", "SMITH JOHN", "M", "1980-06-15"]
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow(fields)
    return [*rows[:9], buf.getvalue(), *rows[10:]]


def test_a_broken_quote_in_a_chained_replays_stored_file_is_bad_input_and_masked(
    personal, tmp_path
):
    """replay --chain reads a stored enrollee file of the second month itself; a broken quote
    there is bad input at its line, as in deduct, with nothing of the rows shown."""
    history = tmp_path / "history"
    history.mkdir()
    shutil.copy(SAMPLE / "history" / "replay.toml", history)
    for month in ("2024-01", "2024-02"):
        shutil.copytree(SAMPLE / "history" / month, history / month)
    stored = history / "2024-02" / "enrollees.csv"
    lines = _passport_holder(_broken_quote(stored.read_text(encoding="utf-8").splitlines(True)))
    stored.write_text("".join(lines), encoding="utf-8")
    ran = mediins(tmp_path, ["replay", "history", "--chain"], expected=2)
    assert "history/2024-02/enrollees.csv:3: a quote opened on this line" in ran.stderr
    check_runs([ran], personal.with_values(ids=["E12345678"], names=["SMITH JOHN"]))


# An unexpected error whose message quotes a file's rows, as polars' parse errors do: the
# command's own code is made to raise one (no input of the product triggers one any more).
_RAISE = """
import sys
import polars as pl
import mediins_cli.rounds as rounds
ROW = "E12345678,passport,SMITH JOHN,M,1980-06-15,HD-RC04,110101199003071233,6214830100007326"
def debit(*_args, **_kwargs):
    raise pl.exceptions.ComputeError(
        f"could not parse `{ROW}` as dtype `str` at column 'name' (column number 3)\\n\\n"
        f"The current offset in the file is 4 bytes. {ROW}"
    )
rounds.debit = debit
from mediins_cli.entry import main
sys.argv = ["mediins", *sys.argv[1:]]
main()
"""


def test_debug_output_of_an_unexpected_error_shows_where_not_what(personal, tmp_path):
    """MEDIINS_DEBUG=1 prints the stack (files, lines, functions) and the message one line,
    masked: what a library quotes from a file between backticks is dropped, digit runs and
    Chinese text are masked, the rest of the message is not printed."""
    folder = tmp_path / "debug"
    folder.mkdir()
    (folder / "sample_data").symlink_to(SAMPLE)
    args = ["deduct", "--round", "1", *MONTH, *ENROLLEES, *LEDGER_1, "--out", "out"]
    proc = subprocess.run(
        [sys.executable, "-c", _RAISE, *args],
        cwd=folder,
        env=_env(folder, {"MEDIINS_DEBUG": "1"}),
        capture_output=True,
        timeout=120,
        check=False,
    )
    ran = Ran("debug", args, 1, proc.returncode, proc.stdout.decode(), proc.stderr.decode())
    assert 'mediins_cli/runs.py", line' in ran.stderr  # where it happened
    assert "mediins: unexpected error: ComputeError: could not parse `…` as dtype" in ran.stderr
    assert "offset in the file" not in ran.stderr  # only the first line of the message
    check_runs([ran], personal.with_values(ids=["E12345678"], names=["SMITH JOHN"]))
    assert not (folder / "out").exists()


# --------------------------------------------------------------------------- modes


def test_run_directories_and_errors_files_have_their_modes_under_umask_022(sweep):
    """Outputs with personal data 0600, summaries and manifests 0644, folders 0755, errors
    CSVs 0600 (every sweep process ran under umask 022)."""
    work = sweep.folder
    entries = _walk(work / "out") + _walk(work / "errors")
    seen: dict[str, int] = {}
    wrong = []
    for path in entries:
        mode = _mode(path)
        if path.is_dir():
            kind, want = "folder", {0o755}
        elif path.suffix == ".csv":
            kind, want = "csv", {0o600}
        elif path.suffix == ".xlsx":  # the same rows as the CSV files (deduct --xlsx)
            kind, want = "workbook", {0o600}
        elif path.name in ("summary.json", "manifest.json"):
            kind, want = "json", {0o644}
        elif path.name == "run.log":
            kind, want = "run.log", {0o600, 0o644}
        elif path.name == "instruct.log":
            kind, want = "instruct.log", {0o600}
        elif path.suffix == ".txt" and path.parent.name.startswith(("instructions-", "round")):
            kind, want = "bank file", {0o600}  # a pipe format's instructions, the bank's answers
        elif path.name == ".lock":
            kind, want = "lock", {0o600, 0o644}
        elif path.name == "report.html":
            kind, want = "report", {0o644}  # agency codes, counts and amounts only
        else:
            kind, want = "unexpected file", set()
        seen[kind] = seen.get(kind, 0) + 1
        if mode not in want:
            wrong.append(f"{path.relative_to(work)}: {kind} {oct(mode)}")
    assert not wrong, "\n".join(wrong)
    agency_lists = [p for p in entries if p.parent.name == "agencies" and p.suffix == ".csv"]
    assert len(agency_lists) >= 8 and seen["json"] >= 12 and seen["lock"] >= 4, seen
    assert seen["csv"] >= 40 and seen["folder"] >= 20, seen


def test_under_umask_077_nothing_in_the_out_tree_is_group_or_other_accessible(tmp_path):
    (tmp_path / "sample_data").symlink_to(SAMPLE)

    def umask_077() -> None:
        os.umask(0o077)

    runs = [
        mediins(
            tmp_path,
            [*args, "--out", "out", "--errors", f"out/errors/round-{n}.csv"],
            preexec_fn=umask_077,
        )
        for n, args in ((1, ROUND_1), (2, ROUND_2))
    ]
    assert [r.code for r in runs] == [0, 0], [r.stderr for r in runs]
    entries = _walk(tmp_path / "out")
    names = {p.name for p in entries}
    assert {".lock", "agencies", "round-1", "round-2", "run.log", "round-1.csv"} <= names
    assert len(entries) >= 30, entries
    wide = [f"{p.relative_to(tmp_path)}: {oct(_mode(p))}" for p in entries if _mode(p) & 0o077]
    assert not wide, "\n".join(wide)
