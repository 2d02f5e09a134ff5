"""Replay of historical months (issue 5, part 3): proof that a new version gives the old answers.

A history folder holds, per month, the inputs a run had and the files mediins wrote for them::

    HISTORY_DIR/
      replay.toml            optional: rules = "<pack id or path>",
                             calendar = "official"|"weekends",
                             bank_format = "<format id or path>" (return months; default generic)
      <YYYY-MM>/             one folder per month, consecutive or not, replayed in month order
        enrollees.csv        the master system's export for the month
        ledger-round1.csv    the bank's export before round 1
        ledger-round2.csv    the bank's export before round 2
        expected/round-1/    the files mediins wrote for round 1 (all of them, agencies/ included)
        expected/round-2/
      <YYYY-MM>/             a month in return mode (DESIGN §11): the bank's answers, no ledgers
        enrollees.csv
        returns-round1/      the bank's return files of round 1 (every file not hidden)
        returns-round2/      … of round 2
        expected/instructions-1/   the instruction files and manifest ``instruct`` wrote
        expected/round-1/
        expected/instructions-2/
        expected/round-2/

A month is in return mode when it has a ``returns-round<n>/`` folder; it then needs both and
no ledger. Other files and hidden folders at the top (a README, a generator script) are left
alone; any other folder must be a month. A ``rules`` or ``bank_format`` path in ``replay.toml``
is relative to the history folder; without ``replay.toml`` the default pack and its calendar
(and the ``generic`` bank format) are used.

:func:`replay` runs every month into an empty scratch folder: a ledger month as round 1 then
round 2 with :func:`mediins_cli.runs.deduct`, a return month as ``instruct`` 1 (in the bank
format of ``replay.toml``), ``deduct --returns`` 1, ``instruct`` 2, ``deduct --returns`` 2
(:func:`mediins_cli.bank.run.instruct`). Every file of ``<scratch>/<month>/round-<n>/`` (and
``instructions-<n>/``) is compared with ``expected/round-<n>/`` (and
``expected/instructions-<n>/``), byte for byte, except the logs (``run.log``, ``instruct.log``:
they carry the clock) and, in ``manifest.json``, the tool version (a new version must be able to
replay an old history), the hashes of the month's other manifests (round 2's ``round_1``, a
round's ``instructions``: the bytes they hash hold the version and the folders below, and that
manifest is compared itself) and the folders of the return files (``files.returns`` names each
as the run was given it; compared by file name, their contents by ``inputs.returns``). Each
mismatch is a :class:`Difference` whose details say which rows and columns differ (keyed by
``enrollee_id``, ID and account numbers and names masked), which JSON keys, or which lines of a
text file; an instruction file's is named ``instructions-<n>/<file>``.

``update=True`` rewrites the expected folders that differ (the golden files are mediins's own
output; replacing them after a deliberate change is the point). ``chain=True`` takes each
month's enrollee state from the previous month's ``updates.csv`` of this very replay
(:func:`chain_enrollees`), proving the tool can carry itself from month to month.

A library: no printing, no Typer. The command ``mediins replay`` renders the report.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import stat
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePath
from typing import Any, Literal

import polars as pl

from mediins_cli.bank.formats import DEFAULT_FORMAT, format_path, load_format
from mediins_cli.bank.run import InstructRequest, instruct
from mediins_cli.errors import BadInput, Problem, problems_frame
from mediins_cli.i18n import N_, _
from mediins_cli.inputs import ENROLLEE_COLUMNS
from mediins_cli.inputs.source import SourceProblem, open_source
from mediins_cli.inputs.table import read_table
from mediins_cli.mask import mask_account, mask_id, mask_name
from mediins_cli.months import Month
from mediins_cli.outputs import OutputFile, write_run_dir
from mediins_cli.rules import DEFAULT_PACK
from mediins_cli.runs import DeductOutcome, DeductRequest, deduct, round_dir
from mediins_cli.tempnames import remove_leftovers, temp_name

SETTINGS_FILE = "replay.toml"
ENROLLEES = "enrollees.csv"
LEDGERS = {1: "ledger-round1.csv", 2: "ledger-round2.csv"}
#: a month in return mode holds the bank's return files of each round in these folders
RETURNS = {1: "returns-round1", 2: "returns-round2"}
EXPECTED = "expected"
UPDATES = "updates.csv"
#: files of a run or instructions directory that replay never compares (logs carry times)
IGNORED = frozenset({"run.log", "instruct.log"})
#: manifest keys under ``inputs`` that hash another manifest of the month: its bytes hold the
#: tool version and the return files' folders, and it is compared itself
MANIFEST_HASHES = ("round_1", "instructions")
SETTINGS_KEYS = ("rules", "calendar", "bank_format")
#: detail lines per file before "… and N more"
MAX_DETAILS = 20
CALENDARS = ("official", "weekends")

Kind = Literal["missing", "unexpected", "changed"]
#: the kinds in words (the JSON output keeps the codes)
KINDS = {"missing": N_("missing"), "unexpected": N_("unexpected"), "changed": N_("changed")}


@dataclass(frozen=True)
class Difference:
    """One output file that is not what the history expects.

    ``kind``: ``missing`` (expected, not written by the replay), ``unexpected`` (written, not
    expected) or ``changed``. ``details``: readable lines, personal numbers masked.
    """

    month: str
    round: int
    file: str
    kind: Kind
    details: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        head = _("{month} round {round}: {file}: {kind}").format(
            month=self.month, round=self.round, file=self.file, kind=_(KINDS[self.kind])
        )
        return "\n".join([head, *(f"  {line}" for line in self.details)])


@dataclass
class ReplayReport:
    """What a replay did: the months run, the files compared and every difference found;
    with ``update``, the expected folders rewritten instead; notes on anything unusual."""

    months: list[str] = field(default_factory=list)
    files_compared: int = 0
    differences: list[Difference] = field(default_factory=list)
    updated: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.differences


@dataclass(frozen=True)
class HistorySettings:
    rules: str = DEFAULT_PACK
    calendar: str | None = None  # None: the pack's own calendar
    bank_format: str = DEFAULT_FORMAT  # the return months' instructions and return files


# --------------------------------------------------------------------------- the replay


def replay(
    history: Path,
    scratch: Path,
    *,
    chain: bool = False,
    update: bool = False,
    progress: Callable[[str], None] = lambda _: None,
) -> ReplayReport:
    """Run every month of ``history`` in order into the empty folder ``scratch`` and compare
    (or, with ``update``, rewrite) the expected outputs; see the module docstring."""
    history = Path(history)
    scratch = Path(scratch)
    settings = read_settings(history)
    months = history_months(history, need_expected=not update)
    _prepare_scratch(scratch, history)

    report = ReplayReport()
    command = f"mediins replay {history}" + (" --chain" if chain else "")
    previous: tuple[Month, Path] | None = None  # the month just replayed and its updates.csv
    for month, folder in months:
        enrollees = folder / ENROLLEES
        if chain:
            enrollees = _chained_enrollees(month, folder, previous, scratch, report)
        returns = is_return_month(folder)
        rewritten: set[str] = set()  # with update: the expected folders of the month rewritten
        for round_no in (1, 2):
            if returns:
                progress(
                    _("{month} round {round} instructions").format(month=month, round=round_no)
                )
                sent = instruct(
                    InstructRequest(
                        round=round_no,
                        month=month,
                        enrollees=enrollees,
                        out=scratch,
                        rules=settings.rules,
                        calendar=settings.calendar,
                        bank_format=settings.bank_format,
                        command=command,
                    )
                )
                name = f"instructions-{round_no}"
                expected = folder / EXPECTED / name
                _settle(report, expected, sent.dir, month, round_no, update, rewritten, f"{name}/")
            progress(_("{month} round {round}").format(month=month, round=round_no))
            outcome = _deduct(folder, month, round_no, enrollees, scratch, settings, command)
            expected = folder / EXPECTED / f"round-{round_no}"
            _settle(report, expected, outcome.run_dir, month, round_no, update, rewritten)
        previous = (month, round_dir(scratch, month, 2) / UPDATES)
        report.months.append(str(month))
    return report


def _deduct(
    folder: Path,
    month: Month,
    round_no: int,
    enrollees: Path,
    scratch: Path,
    settings: HistorySettings,
    command: str,
) -> DeductOutcome:
    """One round of a month, on its ledger or (a return month) on the bank's return files."""
    returns = folder / RETURNS[round_no]
    return_month = is_return_month(folder)
    return deduct(
        DeductRequest(
            round=round_no,
            month=month,
            enrollees=enrollees,
            ledger=returns if return_month else folder / LEDGERS[round_no],
            out=scratch,
            rules=settings.rules,
            calendar=settings.calendar,
            command=command,
            returns=tuple(return_files(returns)) if return_month else (),
        )
    )


def _settle(
    report: ReplayReport,
    expected: Path,
    got: Path,
    month: Month,
    round_no: int,
    update: bool,
    rewritten: set[str],
    prefix: str = "",
) -> None:
    """Compare ``got`` (a run or instructions directory of the replay) with ``expected`` and
    record the differences, or with ``update`` rewrite ``expected`` where they differ and
    add its name to ``rewritten`` (the month's). A manifest that hashes a manifest rewritten
    before it is rewritten too when its hash is not the replay's: the comparison leaves such
    hashes out, the golden files keep them true."""
    if update and not expected.is_dir():
        _replace_expected(expected, got)
        report.updated.append(expected)
        created = (
            _("{month} round {round}: expected instructions created")
            if prefix
            else _("{month} round {round}: expected outputs created")
        )
        report.notes.append(created.format(month=month, round=round_no))
        rewritten.add(expected.name)
        return
    compared, differences = compare_runs(expected, got, str(month), round_no, prefix)
    report.files_compared += compared
    if not update:
        report.differences.extend(differences)
        return
    changed = [f"{d.file} ({_(KINDS[d.kind])})" for d in differences]
    if not changed:
        hashed = {"round_1": "round-1", "instructions": f"instructions-{round_no}"}
        stored, now = _manifest_hashes(expected), _manifest_hashes(got)
        if any(hashed[k] in rewritten and stored.get(k) != now.get(k) for k in MANIFEST_HASHES):
            changed = [
                _("{file} (it hashes a manifest rewritten before it)").format(
                    file=f"{prefix}manifest.json"
                )
            ]
    if not changed:
        return
    _replace_expected(expected, got)
    report.updated.append(expected)
    report.notes.append(
        _("{month} round {round}: rewrote expected: {files}").format(
            month=month, round=round_no, files=", ".join(changed)
        )
    )
    rewritten.add(expected.name)


def _manifest_hashes(folder: Path) -> dict[str, Any]:
    """The hashes of other manifests in ``folder``'s manifest (``MANIFEST_HASHES``)."""
    try:
        inputs = json.loads((folder / "manifest.json").read_bytes()).get("inputs", {})
    except (OSError, ValueError, AttributeError):
        return {}
    return {key: inputs.get(key) for key in MANIFEST_HASHES} if isinstance(inputs, dict) else {}


def _chained_enrollees(
    month: Month,
    folder: Path,
    previous: tuple[Month, Path] | None,
    scratch: Path,
    report: ReplayReport,
) -> Path:
    """The enrollee file of ``month`` in a chained replay: the stored one carried forward by
    the previous month's updates, when that month is the calendar month before."""
    stored = folder / ENROLLEES
    if previous is None:
        report.notes.append(
            _("{month}: the chain starts with the stored {file}").format(
                month=month, file=ENROLLEES
            )
        )
        return stored
    before, updates = previous
    if before != month.shift(-1):
        report.notes.append(
            _(
                "{month}: not chained (the month before in the history is {before}, not "
                "{previous}): used the stored {file}"
            ).format(month=month, before=before, previous=month.shift(-1), file=ENROLLEES)
        )
        return stored
    target = scratch / str(month) / ENROLLEES  # the name the manifest records, as stored
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(chain_enrollees(stored, updates))
    os.chmod(target, 0o600)  # personal data
    return target


def _prepare_scratch(scratch: Path, history: Path) -> None:
    if scratch.exists() and not scratch.is_dir():
        raise BadInput(
            _("{scratch}: the scratch folder is a file, not a folder").format(scratch=scratch)
        )
    if scratch.is_dir() and any(scratch.iterdir()):
        raise BadInput(
            _(
                "{scratch}: the scratch folder is not empty; replay needs an empty one (nothing "
                "in it was touched)"
            ).format(scratch=scratch)
        )
    if scratch.resolve().is_relative_to(history.resolve()):
        raise BadInput(
            _("{scratch}: the scratch folder must not be inside the history {history}").format(
                scratch=scratch, history=history
            )
        )
    scratch.mkdir(parents=True, exist_ok=True)


def _replace_expected(expected: Path, run_dir: Path) -> None:
    """Swap in the run's files as the new ``expected`` folder: written as a run directory is
    (staging, then a rename), the old folder renamed aside first and deleted last. Only the
    expected folder is ever removed, never a month's inputs; what a killed ``--update`` left
    (named after its process) is removed by the next."""
    parent = expected.parent
    parent.mkdir(parents=True, exist_ok=True)
    remove_leftovers(parent, expected.name)
    files = [
        OutputFile(name, source.read_bytes(), stat.S_IMODE(source.stat().st_mode))
        for name, source in _files(run_dir).items()
    ]
    old = None
    if expected.exists():
        prefix, suffix = temp_name(expected.name)
        old = parent / f"{prefix}old{suffix}"
        os.rename(expected, old)
    try:
        write_run_dir(expected, files)
    except BaseException:
        if old is not None:
            os.rename(old, expected)
        raise
    if old is not None:
        shutil.rmtree(old)


# --------------------------------------------------------------------------- the history


def read_settings(history: Path) -> HistorySettings:
    """``replay.toml`` of the history (rules, calendar), or the defaults without it."""
    path = history / SETTINGS_FILE
    if not path.is_file():
        return HistorySettings()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise BadInput([Problem(str(path), 0, "", "BAD_SETTINGS", str(exc))]) from None
    problems = [
        Problem(
            str(path),
            0,
            key,
            "BAD_SETTINGS",
            _("unknown key (known: {keys})").format(keys=", ".join(SETTINGS_KEYS)),
        )
        for key in sorted(set(data) - set(SETTINGS_KEYS))
    ]
    rules = data.get("rules", DEFAULT_PACK)
    calendar = data.get("calendar")
    bank_format = data.get("bank_format", DEFAULT_FORMAT)
    if not isinstance(rules, str) or not rules:
        problems.append(Problem(str(path), 0, "rules", "BAD_SETTINGS", _("a pack id or path")))
    if calendar is not None and calendar not in CALENDARS:
        problems.append(
            Problem(
                str(path),
                0,
                "calendar",
                "BAD_SETTINGS",
                _("one of {choices}").format(choices=", ".join(CALENDARS)),
            )
        )
    if not isinstance(bank_format, str) or not bank_format:
        problems.append(
            Problem(str(path), 0, "bank_format", "BAD_SETTINGS", _("a bank format id or path"))
        )
    elif not format_path(_relative_to(history, bank_format)).is_file():
        problems.append(
            Problem(
                str(path),
                0,
                "bank_format",
                "BAD_SETTINGS",
                _(
                    "no bank format {ref} (see `mediins rules banks`; a path is relative to the "
                    "history folder and names a <id>.toml)"
                ).format(ref=repr(bank_format)),
            )
        )
    if problems:
        raise BadInput(problems)
    bank_format = _relative_to(history, bank_format)
    if "bank_format" in data:
        load_format(bank_format)  # a broken format: every problem, before anything runs
    return HistorySettings(_relative_to(history, rules), calendar, bank_format)


def _relative_to(history: Path, ref: str) -> str:
    """A pack or format reference of ``replay.toml``: an id as it is, a path from the history."""
    if ref.endswith(".toml") or "/" in ref:
        return str(history / ref)
    return ref


def history_months(history: Path, *, need_expected: bool = True) -> list[tuple[Month, Path]]:
    """The month folders of ``history`` in month order, each checked for its inputs (and its
    expected folders, unless they are about to be written). Every problem is reported."""
    if not history.is_dir():
        raise BadInput([Problem(str(history), 0, "", "NO_FILE", _("no such history folder"))])
    problems: list[Problem] = []
    months: list[tuple[Month, Path]] = []
    for entry in sorted(history.iterdir()):
        if not entry.is_dir() or entry.name.startswith(".") or entry.name == "__pycache__":
            continue
        try:
            month = Month.parse(entry.name)
            if str(month) != entry.name:
                raise ValueError(entry.name)
        except ValueError:
            problems.append(
                Problem(
                    str(entry), 0, "", "NOT_A_MONTH", _("a history folder must be named YYYY-MM")
                )
            )
            continue
        months.append((month, entry))
        problems += _month_problems(entry, need_expected)
    if not months and not problems:
        problems.append(
            Problem(str(history), 0, "", "NO_MONTHS", _("no month folders (YYYY-MM) to replay"))
        )
    if problems:
        raise BadInput(problems)
    return sorted(months)


def is_return_month(folder: Path) -> bool:
    """A month replayed in return mode: it holds the bank's return files, not ledgers."""
    return any((folder / name).exists() for name in RETURNS.values())


def return_files(folder: Path) -> list[Path]:
    """The return files of a round's folder, as ``--returns FOLDER`` takes them: every file in
    it that is not hidden, in name order."""
    return sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))


def _month_problems(entry: Path, need_expected: bool) -> list[Problem]:
    """What a month folder lacks: its inputs (ledgers, or return folders that are not empty)
    and, unless they are about to be written, its expected folders."""
    problems = []
    returns = is_return_month(entry)
    inputs = [ENROLLEES] if returns else [ENROLLEES, *LEDGERS.values()]
    for name in inputs:
        if not (entry / name).is_file():
            problems.append(
                Problem(str(entry / name), 0, "", "NO_FILE", _("missing: an input of the month"))
            )
    if returns:
        for round_no, name in RETURNS.items():
            path = entry / name
            if not path.is_dir():
                what = _(
                    "missing: the bank's return files of round {round} (a month with {other}/ "
                    "is replayed in return mode and needs both)"
                ).format(round=round_no, other=RETURNS[3 - round_no])
                problems.append(Problem(str(path), 0, "", "NO_FILE", what))
            elif not return_files(path):
                problems.append(
                    Problem(
                        str(path),
                        0,
                        "",
                        "NO_FILE",
                        _("no return file in it (hidden ones are not read)"),
                    )
                )
        for name in LEDGERS.values():
            if (entry / name).exists():
                problems.append(
                    Problem(
                        str(entry / name),
                        0,
                        "",
                        "BAD_MONTH",
                        _(
                            "a month holds ledgers or the bank's return files, not both: which "
                            "mode it replays in would be a guess"
                        ),
                    )
                )
    if need_expected:
        folders = ["round-1", "round-2"]
        if returns:
            folders = ["instructions-1", "round-1", "instructions-2", "round-2"]
        for name in folders:
            path = entry / EXPECTED / name
            if not path.is_dir():
                what = _("missing: expected outputs (replay with update to write them)")
                problems.append(Problem(str(path), 0, "", "NO_FILE", what))
    return problems


# --------------------------------------------------------------------------- chaining


def chain_enrollees(stored: Path, updates: Path) -> bytes:
    """``stored`` (an enrollee CSV) with the ``paid_through`` and ``waiting_until`` of every
    enrollee in ``updates`` (a round-2 ``updates.csv``) replaced by the updates' values.

    Everything else stays as stored: the same columns (Chinese aliases included) in the same
    order, the same rows in the same order, every cell as text. Written as UTF-8 by polars, so
    a file made by this function comes out of it again byte for byte when nothing changes.
    A column the stored file lacks is added at the end when an update needs it.
    """
    frame = _read_text_csv(stored)
    changes = _read_text_csv(updates)
    missing = {"enrollee_id", "paid_through", "waiting_until"} - set(changes.columns)
    if missing:
        raise BadInput(
            _("{file}: not an updates.csv (no {columns})").format(
                file=updates, columns=", ".join(sorted(missing))
            )
        )
    if changes["enrollee_id"].is_duplicated().any():
        raise BadInput(_("{file}: an enrollee_id appears twice").format(file=updates))
    names = _canonical_header(frame.columns)
    if "enrollee_id" not in names:
        raise BadInput(
            _("{file}: no enrollee_id column (or one of its aliases)").format(file=stored)
        )
    ident = names["enrollee_id"]
    frame = frame.filter(~pl.all_horizontal(pl.all().is_null()))  # blank lines, as the tool does
    for column in ("paid_through", "waiting_until"):
        if column not in names:
            names[column] = column
            frame = frame.with_columns(pl.lit(None, dtype=pl.String).alias(column))

    key = pl.col(ident).str.strip_chars().str.to_uppercase()  # as the tool reads the ID
    new = changes.select(
        pl.col("enrollee_id").str.strip_chars().str.to_uppercase().alias("__key"),
        pl.col("paid_through").alias("__paid_through"),
        pl.col("waiting_until").alias("__waiting_until"),
        pl.lit(True).alias("__hit"),
    )
    columns = frame.columns
    merged = (
        frame.with_columns(key.alias("__key"))
        .join(new, on="__key", how="left", maintain_order="left")
        .with_columns(
            pl.when(pl.col("__hit"))
            .then(pl.col(f"__{column}"))
            .otherwise(pl.col(names[column]))
            .alias(names[column])
            for column in ("paid_through", "waiting_until")
        )
        .select(columns)
    )
    return merged.write_csv().encode("utf-8")


def _read_text_csv(path: Path) -> pl.DataFrame:
    """Every cell as text; UTF-8 (a BOM is dropped) or GB18030."""
    if not path.is_file():
        raise BadInput([Problem(str(path), 0, "", "NO_FILE", _("no such file"))])
    data = path.read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:
            text = data.decode("gb18030")
        except UnicodeDecodeError:
            raise BadInput(
                [Problem(str(path), 0, "", "BAD_ENCODING", _("neither UTF-8 nor GB18030"))]
            ) from None
    try:
        return pl.read_csv(io.BytesIO(text.encode("utf-8")), infer_schema=False)
    except pl.exceptions.PolarsError:  # its message quotes raw rows: the reader names the line
        try:
            with open_source(path) as source:
                problems = read_table(source, ())[1]
        except SourceProblem as exc:
            problems = problems_frame([exc.problem])
        raise BadInput(
            problems if problems.height else _("{file}: not a CSV file").format(file=path)
        ) from None


def _canonical_header(header: list[str]) -> dict[str, str]:
    """Canonical enrollee column → the name the file uses for it (English or an alias)."""
    lookup = {}
    for column in ENROLLEE_COLUMNS:
        for name in (column.name, *column.aliases):
            lookup[name] = column.name
    found: dict[str, str] = {}
    for name in header:
        canonical = lookup.get(name.strip(), lookup.get(name.strip().lower()))
        if canonical is not None and canonical not in found:
            found[canonical] = name
    return found


# --------------------------------------------------------------------------- comparing


def compare_runs(
    expected: Path, got: Path, month: str, round_no: int, prefix: str = ""
) -> tuple[int, list[Difference]]:
    """Compare two run (or instructions) directories file by file (recursively, the logs
    ignored): the number of files looked at, and a :class:`Difference` for each that is
    missing, unexpected or changed, its file named with ``prefix`` first."""
    want, have = _files(expected), _files(got)
    names = sorted(set(want) | set(have))
    differences = []
    for name in names:
        file = prefix + name
        if name not in have:
            differences.append(
                Difference(month, round_no, file, "missing", [_("not written by this replay")])
            )
        elif name not in want:
            differences.append(
                Difference(month, round_no, file, "unexpected", [_("not in expected")])
            )
        else:
            details = compare_file(name, want[name].read_bytes(), have[name].read_bytes())
            if details is not None:
                differences.append(Difference(month, round_no, file, "changed", details))
    return len(names), differences


def _files(root: Path) -> dict[str, Path]:
    """Files under ``root`` by their path relative to it (``agencies/X.csv``)."""
    if not root.is_dir():
        return {}
    return {
        path.relative_to(root).as_posix(): path
        for path in sorted(root.rglob("*"))
        if path.is_file() and path.name not in IGNORED
    }


def compare_file(name: str, expected: bytes, got: bytes) -> list[str] | None:
    """None when the file is as expected; otherwise the lines that say how it differs."""
    if name.endswith(".json"):
        return _json_details(name, expected, got)
    if expected == got:
        return None
    if name.endswith(".csv"):
        return _csv_details(expected, got)
    if name.endswith(".txt"):  # an instruction file of a format without commas
        return _line_details(expected, got)
    return [_("bytes differ")]


def _line_details(expected: bytes, got: bytes) -> list[str]:
    """Which lines of a text file differ, by number only: they hold names and accounts."""
    want, have = expected.splitlines(), got.splitlines()
    lines = []
    if len(want) != len(have):
        lines.append(
            _("{want} lines expected, {have} in this replay").format(want=len(want), have=len(have))
        )
    differing = [
        str(i)
        for i in range(1, max(len(want), len(have)) + 1)
        if want[i - 1 : i] != have[i - 1 : i]
    ]
    if differing:
        shown = ", ".join(differing[:MAX_DETAILS])
        extra = len(differing) - MAX_DETAILS
        message = (
            _("lines {lines} and {more} more differ (not shown: may hold personal data)")
            if extra > 0
            else _("lines {lines} differ (not shown: may hold personal data)")
        )
        lines.append(message.format(lines=shown, more=extra))
    return lines or [_("bytes differ (line endings)")]


# --------------------------------------------------------------------------- JSON


def _json_details(name: str, expected: bytes, got: bytes) -> list[str] | None:
    if expected == got:
        return None
    try:
        want, have = json.loads(expected), json.loads(got)
    except (ValueError, UnicodeDecodeError):
        return [_("bytes differ (not valid JSON)")]
    manifest = Path(name).name == "manifest.json"
    if manifest:
        _comparable_manifests(want, have)
    lines = _json_paths(want, have, "")
    if lines:
        return _capped(lines, len(lines))
    return None if manifest else [_("same values, bytes differ (formatting)")]


def _comparable_manifests(want: Any, have: Any) -> None:
    """Take out of two manifests what a replay does not compare (the module docstring): the
    tool version, the hashes of other manifests, the folders of the return files."""
    for data in (want, have):
        if not isinstance(data, dict):
            continue
        tool = data.get("tool")
        if isinstance(tool, dict):
            tool.pop("version", None)
        inputs = data.get("inputs")
        if isinstance(inputs, dict):
            for key in MANIFEST_HASHES:
                if isinstance(inputs.get(key), str):
                    inputs[key] = _("(the hash of a manifest compared itself)")
        files = data.get("files")
        if isinstance(files, dict) and isinstance(files.get("returns"), list):
            files["returns"] = [
                PurePath(p).name if isinstance(p, str) else p for p in files["returns"]
            ]


def _json_paths(want: Any, have: Any, path: str) -> list[str]:
    """``key.path: expected X, got Y`` for every leaf that differs (True is not 1)."""
    if isinstance(want, dict) and isinstance(have, dict):
        lines = []
        for key in sorted(set(want) | set(have)):
            sub = _key_path(path, key)
            if key not in have:
                lines.append(_only_in_expected(sub, want[key]))
            elif key not in want:
                lines.append(_only_in_replay(sub, have[key]))
            else:
                lines += _json_paths(want[key], have[key], sub)
        return lines
    if isinstance(want, list) and isinstance(have, list):
        lines = []
        for i in range(max(len(want), len(have))):
            sub = f"{path}[{i}]"
            if i >= len(have):
                lines.append(_only_in_expected(sub, want[i]))
            elif i >= len(want):
                lines.append(_only_in_replay(sub, have[i]))
            else:
                lines += _json_paths(want[i], have[i], sub)
        return lines
    if type(want) is type(have) and want == have:
        return []
    return [
        _("{path}: expected {want}, got {have}").format(
            path=path or _("(top)"), want=_json_value(want), have=_json_value(have)
        )
    ]


def _only_in_expected(path: str, value: Any) -> str:
    return _("{path}: only in expected ({value})").format(path=path, value=_json_value(value))


def _only_in_replay(path: str, value: Any) -> str:
    return _("{path}: only in this replay ({value})").format(path=path, value=_json_value(value))


def _key_path(path: str, key: str) -> str:
    plain = key.replace("_", "").isalnum()
    part = key if plain else json.dumps(key, ensure_ascii=False)
    if not path:
        return part if plain else f"[{part}]"
    return f"{path}.{part}" if plain else f"{path}[{part}]"


def _json_value(value: Any, limit: int = 120) -> str:
    text = json.dumps(value, ensure_ascii=False, sort_keys=True)
    return text if len(text) <= limit else text[: limit - 1] + "…"


# --------------------------------------------------------------------------- CSV

#: columns mediins writes that hold no personal data: their values are shown as they are
_PLAIN = frozenset(
    {
        "agency", "amount", "deducted_on", "reference", "reason", "balance_at_cutoff",
        "balance_available", "retry_on", "deposit_by", "status", "category", "unpaid_since",
        "unpaid_months", "unpaid_days", "resume_by_month", "benefits_suspended_from",
        "backpay_until", "backpay_channel", "waiting_until", "paid_through",
        "paid_through_before", "waiting_until_before", "event", "gap_since", "gap_months",
        "gap_days", "paid_on", "waiting_from", "id_type",
    }
)  # fmt: skip
_GOT = "\x00got"  # suffix of the replay's columns in the joined frame


def _csv_details(expected: bytes, got: bytes) -> list[str]:
    try:
        want = pl.read_csv(io.BytesIO(expected), infer_schema=False)
        have = pl.read_csv(io.BytesIO(got), infer_schema=False)
    except pl.exceptions.PolarsError:
        return [_("bytes differ (not readable as CSV)")]
    lines = []
    if want.columns != have.columns:
        lines.append(
            _("columns: expected [{want}], got [{have}]").format(
                want=", ".join(want.columns), have=", ".join(have.columns)
            )
        )
    common = [c for c in want.columns if c in have.columns]
    key = "enrollee_id" if _is_key(want, have, common, "enrollee_id") else None
    rows, differing = _row_differences(want, have, common, key, MAX_DETAILS - len(lines))
    total = len(lines) + differing
    lines += rows
    if not lines:
        return [_order_or_bytes(want, have, key)]
    return _capped(lines, total)


def _is_key(want: pl.DataFrame, have: pl.DataFrame, common: list[str], column: str) -> bool:
    return column in common and all(
        f[column].null_count() == 0 and f[column].n_unique() == f.height for f in (want, have)
    )


def _row_differences(
    want: pl.DataFrame, have: pl.DataFrame, common: list[str], key: str | None, limit: int
) -> tuple[list[str], int]:
    """Lines for the first ``limit`` rows that differ (only in one side, or in a column), and
    how many rows differ in all. Rows pair up by ``key``, or by position without one."""
    on = key or "__row"
    values = [c for c in common if c != on]
    left = want.select(common).with_row_index("__e", offset=1)
    right = have.select(common).with_row_index("__g", offset=1)
    if key is None:
        left = left.with_columns(pl.col("__e").alias("__row"))
        right = right.with_columns(pl.col("__g").alias("__row"))
    right = right.rename({c: c + _GOT for c in values})
    joined = left.join(right, on=on, how="full", coalesce=True)
    changed = [pl.col(c).ne_missing(pl.col(c + _GOT)) for c in values]
    differs = pl.col("__e").is_null() | pl.col("__g").is_null()
    if changed:
        differs = differs | pl.any_horizontal(changed)
    rows = joined.filter(differs).sort(["__e", "__g"], nulls_last=True)
    lines = []
    for row in rows.head(max(limit, 0)).iter_rows(named=True):
        label = _("row {row}").format(row=f"{key}={_shown(key, row[key])}" if key else row["__row"])
        if row["__g"] is None:
            lines.append(_("{row}: only in expected").format(row=label))
        elif row["__e"] is None:
            lines.append(_("{row}: only in this replay").format(row=label))
        else:
            cells = [_cell(c, row[c], row[c + _GOT]) for c in values if row[c] != row[c + _GOT]]
            lines.append(_("{row}: {cells}").format(row=label, cells=_("; ").join(cells)))
    return lines, rows.height


def _cell(column: str, want: str | None, have: str | None) -> str:
    if column in _PLAIN or column in ("enrollee_id", "account_no", "name"):
        return _("{column}: expected {want}, got {have}").format(
            column=column, want=_shown(column, want), have=_shown(column, have)
        )
    return _("{column}: values differ (not shown: may hold personal data)").format(column=column)


def _shown(column: str, value: str | None) -> str:
    if value is None or value == "":
        return _("(empty)")
    if column == "enrollee_id":
        return mask_id(value)
    if column == "account_no":
        return mask_account(value)
    if column == "name":
        return mask_name(value)
    return value


def _order_or_bytes(want: pl.DataFrame, have: pl.DataFrame, key: str | None) -> str:
    """Same rows and values, other bytes: say whether the order or only the bytes differ."""
    if key is not None:
        for i, (a, b) in enumerate(zip(want[key], have[key], strict=True), start=1):
            if a != b:
                return _(
                    "same rows in another order: row {i} is {expected} in expected, {got} in this "
                    "replay"
                ).format(i=i, expected=f"{key}={_shown(key, a)}", got=f"{key}={_shown(key, b)}")
    return _("same values, bytes differ (quoting or line endings)")


def _capped(lines: list[str], total: int) -> list[str]:
    shown = lines[:MAX_DETAILS]
    if total > len(shown):
        shown.append(_("… and {n} more").format(n=total - len(shown)))
    return shown
