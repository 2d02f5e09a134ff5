"""Crash injection: DESIGN §8 holds when a run is killed, the disk fills or the folder is read-only.

Every case runs ``mediins deduct`` in a real subprocess (:mod:`crashkit`) whose chosen function,
at its k-th call, makes the process send itself SIGKILL or SIGTERM (before the call runs, or
just after it returned: ``-after``), or raise ``OSError`` (ENOSPC, EROFS, EACCES). The product is
not modified; only that call behaves differently. Then:

1. SIGKILL: status -9. SIGTERM: status 143 and exactly the line ``mediins: stopped by SIGTERM; …``
   on stderr (no traceback), and no staging directory left (the handler cleans up); SIGINT the
   same with 130.
2. Each round in the month folder is absent or complete (every file its manifest lists, with that
   SHA-256, and nothing else but ``run.log``); under ``--force`` the earlier run is never lost.
   Its TMPDIR (one per subprocess) is empty and the month lock is free.
3. The same command again, normally (the console script): exit 0; no ``.*.tmp`` anywhere under
   the output folder, its TMPDIR empty, the lock free, and every run directory byte-identical
   (``run.log`` aside: it carries the clock) to a clean run's into another folder.

An injected I/O error must be exit 1 with one line ``mediins: …`` naming it (no traceback), and
leave no run directory of that round and no staging directory (under ``--force``, the earlier
run where it was or moved aside); where a run was there already, a normal run afterwards ends
as a clean one does.

At the instant of each kill or error the child also notes its TMPDIR (a GB18030 file's UTF-8
copy must never have a name there) and whether the month's lock is held (it must be from before
the inputs are read until the run directory is in place).

Scenarios: ``r1`` round 1 into a fresh folder; ``gb`` round 1 from a GB18030 enrollee file
(transcoded into an anonymous temporary file); ``r2`` round 2 after a clean round 1; ``force``
round 1 again with ``--force`` and a changed ledger over a clean round 1 (moved aside to
``round-1.superseded-1``).

The cases are independent; a module fixture runs every selected one up front, two at a time
(each subprocess costs about 0.6 s of CPU, mostly imports), and each parametrised test then
asserts on its own case, so a failure is named by scenario, point, call number and signal, e.g.
``test_a_killed_run[r1-fdopen#2-SIGKILL]``. The call numbers come from a count run
(:data:`COUNTS`, checked by ``test_each_point_is_called_as_often_as_the_cases_number_it``).

Kill points exercised: 34 (13 in r1, 6 in gb, 8 in r2, 7 in force), each under SIGKILL and
SIGTERM, 3 of them under SIGINT too, and 1 more (the GB18030 copy made where TMPDIR has no
O_TMPFILE) under SIGKILL and SIGTERM: 73 killed runs, each followed by a normal rerun; then 11
injected I/O errors (4 of them followed by a normal rerun: those in a folder that held a run
already); 4 count runs and 4 clean reference runs: 169 subprocesses, plus 2 into a real
read-only folder where file modes apply (as root, run through setpriv without CAP_DAC_OVERRIDE).

Defects found are kept as cases marked ``xfail(strict=True)`` with the defect as the reason
(:data:`DEFECTS`); none is left. (A kill while a GB18030 copy had a name, where TMPDIR has no
O_TMPFILE, left it behind: SIGTERM and SIGINT are now held off for that instant, and what a
SIGKILL leaves carries the process id and is removed by the next run.)
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import crashkit
import pytest

from conftest import SAMPLE

MEDIINS = Path(sys.executable).with_name("mediins")
MONTH = "2024-02"
ENROLLEES = SAMPLE / "enrollees.csv"
LEDGER = SAMPLE / "ledger.csv"
LEDGER_2 = SAMPLE / "ledger-round2.csv"
#: a hidden temporary file or staging directory: ``.<name>.<pid>.<random>.tmp``
TEMPORARY = re.compile(r"^\..+\.tmp$")


# --------------------------------------------------------------------------- scenarios


@dataclass(frozen=True)
class Scenario:
    round: int
    ledger: Path
    over_round_one: bool = False  # a clean round 1 (from LEDGER) is in the folder first
    force: bool = False
    gb18030: bool = False  # the enrollee file re-encoded as GB18030

    def args(self, out: Path, inputs: Path) -> list[str]:
        enrollees = inputs / "enrollees.csv" if self.gb18030 else ENROLLEES
        args = ["deduct", "--round", str(self.round), "--month", MONTH]
        args += ["--enrollees", str(enrollees), "--ledger", str(self.ledger), "--out", str(out)]
        return [*args, "--force"] if self.force else args


SCENARIOS = {
    "r1": Scenario(1, LEDGER),
    "gb": Scenario(1, LEDGER, gb18030=True),
    "r2": Scenario(2, LEDGER_2, over_round_one=True),
    "force": Scenario(1, LEDGER_2, over_round_one=True, force=True),
}

#: calls of each point per scenario, as a count run sees them (PATHED points: under --out only).
#: Round 1 writes 12 files (success, failure, retry, skipped, 5 agency lists, summary, manifest,
#: run.log), round 2 as many (breaks, resumptions, updates and 4 agency lists instead). The
#: other CSV files are written by polars itself (one ``neutralise`` each, just before); the
#: agency lists are made into one text (one ``neutralise`` for all) and cut into their files
#: (os.open, fdopen each); then the summary, the manifest and the log (os.open, fdopen). Then a
#: chmod of each file, of agencies/ and of the staging folder; one flush of the staging folder
#: (os.open, then syncfs, which no point sees); the rename; the month folder's fsync (os.open,
#: fsync). os.mkdir: out, the month, the month again (exist_ok), the staging folder (mkdtemp),
#: then per file. os.open: the lock, the agency lists, the 3 JSON and log files, the staging
#: folder, the month folder. A GB18030 file takes
#: two passes (UTF-8 fails, then GB18030), so the ledger's is read_pass#3. Both files are parsed
#: with scan_csv, the ledger (#1) before the enrollees (#2), each in one collect_all; round 2
#: first reads round 1's retry.csv and success.csv with read_csv (#1, #2), and after its debit
#: reads success.csv again for continuity (os.open, then scan_csv #3).
_WRITE = {  # round 2's: 4 agency lists
    "chmod": 14,
    "fdopen": 7,
    "fsync": 1,
    "open": 10,
    "flock": 1,
    "rename": 1,
    "neutralise": 6,
}
_COMPUTE = {"collect_all": 2, "debit": 1, "scan_csv": 2, "read_pass": 2}
#: round 1 writes 5 agency lists, and milestones.csv besides (one file more: its chmod, folder
#: check, neutralise)
_ROUND_1 = {**_WRITE, "chmod": 15, "fdopen": 8, "open": 11, "neutralise": 6}
COUNTS: dict[str, dict[str, int]] = {
    "r1": {**_ROUND_1, **_COMPUTE, "mkdir": 17},
    "gb": {**_ROUND_1, **_COMPUTE, "mkdir": 17, "read_pass": 3},
    "r2": {
        **_WRITE,
        **_COMPUTE,
        "mkdir": 14,
        "read_csv": 2,
        "assess": 1,
        "open": 11,
        "scan_csv": 3,
    },
    "force": {**_ROUND_1, **_COMPUTE, "mkdir": 15, "rename": 2},
}


# --------------------------------------------------------------------------- observing a folder


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def inspect_run(run_dir: Path) -> dict[str, str] | str:
    """A complete run directory's files and their SHA-256 (``run.log`` aside), or what is
    wrong with it: complete means every output its manifest lists, with that SHA-256, and no
    other file but manifest.json and run.log."""
    files = {
        p.relative_to(run_dir).as_posix(): p for p in sorted(run_dir.rglob("*")) if p.is_file()
    }
    try:
        manifest = json.loads(files["manifest.json"].read_bytes())
        outputs = manifest["outputs"]
    except (KeyError, ValueError) as exc:
        return f"incomplete: no readable manifest.json ({exc!r}); files {sorted(files)}"
    problems = [
        f"{name} missing or not as its manifest says"
        for name, entry in outputs.items()
        if name not in files or sha256(files[name]) != entry["sha256"]
    ]
    extra = set(files) - set(outputs) - {"manifest.json", "run.log"}
    problems += [f"{name} not in the manifest" for name in sorted(extra)]
    if "run.log" not in files:
        problems.append("run.log missing")
    if problems:
        return "incomplete: " + "; ".join(problems)
    return {name: sha256(path) for name, path in files.items() if name != "run.log"}


def lock_free(month_dir: Path) -> bool | None:
    """Whether the month's lock can be taken now (None: there is no lock file)."""
    try:
        fd = os.open(month_dir / ".lock", os.O_RDWR | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    finally:
        os.close(fd)  # releases the lock if it was taken
    return True


@dataclass(frozen=True)
class State:
    """An output folder and a TMPDIR, as a run left them."""

    paths: list[str]  # everything under the output folder, relative
    runs: dict[str, dict[str, str] | str]  # round folders of the month: files or what is wrong
    lock_free: bool | None
    temp: list[str]  # what is in the subprocess's TMPDIR

    @classmethod
    def of(cls, out: Path, temp: Path) -> State:
        month = out / MONTH
        paths = (
            sorted(p.relative_to(out).as_posix() for p in out.rglob("*")) if out.exists() else []
        )
        runs = {}
        if month.is_dir():
            runs = {
                p.name: inspect_run(p)
                for p in sorted(month.iterdir())
                if p.is_dir() and not p.name.startswith(".")
            }
        return cls(paths, runs, lock_free(month), sorted(os.listdir(temp)))

    @property
    def leftovers(self) -> list[str]:
        """Temporary files and staging directories: ``.*.tmp`` anywhere."""
        return [p for p in self.paths if any(TEMPORARY.match(part) for part in p.split("/"))]


# --------------------------------------------------------------------------- references


@dataclass(frozen=True)
class References:
    """Clean runs into their own folders: what every case must end up with."""

    inputs: Path  # holds the GB18030 enrollee file
    round_one: Path  # a clean round 1 (LEDGER), copied into r2 and force cases first
    runs: dict[str, dict[str, str]]  # "r1", "r2", "gb", "force" (round 1 from LEDGER_2)

    def expected(self, scenario: str) -> dict[str, dict[str, str]]:
        """The month folder's runs after a case's rerun."""
        return {
            "r1": {"round-1": self.runs["r1"]},
            "gb": {"round-1": self.runs["gb"]},
            "r2": {"round-1": self.runs["r1"], "round-2": self.runs["r2"]},
            "force": {"round-1": self.runs["force"], "round-1.superseded-1": self.runs["r1"]},
        }[scenario]


def run_mediins(argv: list[str], cwd: Path, temp: Path) -> subprocess.CompletedProcess[str]:
    """A subprocess with its own TMPDIR and no MEDIINS_* settings."""
    temp.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEDIINS_")}
    env["TMPDIR"] = str(temp)
    return subprocess.run(
        argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=120, check=False
    )


@pytest.fixture(scope="module")
def refs(tmp_path_factory: pytest.TempPathFactory) -> References:
    base = tmp_path_factory.mktemp("references")
    inputs = base / "inputs"
    inputs.mkdir()
    (inputs / "enrollees.csv").write_bytes(ENROLLEES.read_text(encoding="utf-8").encode("gb18030"))

    def clean(name: str, *scenarios: Scenario) -> Path:
        out = base / name / "out"
        for i, scenario in enumerate(scenarios):
            done = run_mediins(
                [str(MEDIINS), *scenario.args(out, inputs)], base / name, base / name / f"tmp{i}"
            )
            assert done.returncode == 0, done.stderr
        return out / MONTH

    with ThreadPoolExecutor(2) as pool:
        plain = pool.submit(clean, "plain", SCENARIOS["r1"], SCENARIOS["r2"])
        gb = pool.submit(clean, "gb", SCENARIOS["gb"])
        new = pool.submit(clean, "force", Scenario(1, LEDGER_2))
    runs = {}
    for name, run_dir in (
        ("r1", plain.result() / "round-1"),
        ("r2", plain.result() / "round-2"),
        ("gb", gb.result() / "round-1"),
        ("force", new.result() / "round-1"),
    ):
        files = inspect_run(run_dir)
        assert isinstance(files, dict), f"the clean {name} run: {files}"
        runs[name] = files
    assert runs["force"] != runs["r1"], "the changed ledger must change round 1"
    return References(inputs, plain.result() / "round-1", runs)


# --------------------------------------------------------------------------- cases


@dataclass(frozen=True)
class Observed:
    first: subprocess.CompletedProcess[str]  # the killed, failing or counting run
    after_first: State
    rerun: subprocess.CompletedProcess[str] | None = None
    after_rerun: State | None = None
    counts: dict[str, int] | None = None
    #: at the instant of the kill or the error: {"temp": TMPDIR's names, "lock_held": bool | None}
    instant: dict[str, Any] | None = None


def _prepare(scenario: Scenario, refs: References, folder: Path) -> Path:
    folder.mkdir(parents=True)
    out = folder / "out"
    if scenario.over_round_one:
        shutil.copytree(refs.round_one, out / MONTH / "round-1")
    return out


def _instant(out: Path) -> dict[str, str]:
    """The spec's part that has the child note the TMPDIR and the lock at the chosen call."""
    lock = out / MONTH / ".lock"
    return {"out": str(out), "instant": str(out.parent / "instant.json"), "lock": str(lock)}


@dataclass(frozen=True)
class Kill:
    """Send ``sig`` at the ``k``-th call of ``point`` (just after it returned, if ``after``)."""

    scenario: str
    point: str
    k: int
    sig: signal.Signals
    after: bool = False

    @property
    def id(self) -> str:
        when = "-after" if self.after else ""
        return f"{self.scenario}-{self.point}#{self.k}{when}-{self.sig.name}"

    def spec(self, out: Path) -> dict[str, Any]:
        spec = {"point": self.point, "k": self.k, "signal": int(self.sig), **_instant(out)}
        return {**spec, "after": True} if self.after else spec


@dataclass(frozen=True)
class Fault:
    """The ``k``-th call of ``point`` fails with ``OSError(code)``."""

    scenario: str
    point: str
    k: int
    code: int

    @property
    def id(self) -> str:
        return f"{self.scenario}-{self.point}#{self.k}-{errno.errorcode[self.code]}"

    def spec(self, out: Path) -> dict[str, Any]:
        return {"point": self.point, "k": self.k, "errno": self.code, **_instant(out)}


@dataclass(frozen=True)
class Count:
    """A normal run of the scenario that counts every point's calls."""

    scenario: str

    @property
    def id(self) -> str:
        return f"count-{self.scenario}"

    def spec(self, out: Path) -> dict[str, Any]:
        return {"out": str(out), "count": str(out.parent / "counts.json")}


@dataclass(frozen=True)
class KillWithoutTmpfile(Kill):
    """A kill where TMPDIR's file system has no ``O_TMPFILE`` (the child's ``os.open`` refuses
    it): the GB18030 copy is then made with mkstemp and unlinked at once. Its calls are counted
    in TMPDIR, and the next run gets the same TMPDIR, which it may clean up."""

    @property
    def id(self) -> str:
        return f"no-tmpfile-{super().id}"

    def spec(self, out: Path) -> dict[str, Any]:
        return {**super().spec(out), "no_tmpfile": True, "within": "temp"}


Job = Kill | Fault | Count


def execute(job: Job, refs: References, folder: Path) -> Observed:
    """Run the job's subprocess, look at the folder, and run again normally: after a kill, and
    after an error in a folder that held a run already (round 2, --force)."""
    scenario = SCENARIOS[job.scenario]
    out = _prepare(scenario, refs, folder)
    args = scenario.args(out, refs.inputs)
    first = run_mediins(crashkit.command(job.spec(out), args), folder, folder / "tmp-first")
    after_first = State.of(out, folder / "tmp-first")
    if isinstance(job, Count):
        counts = json.loads((folder / "counts.json").read_text(encoding="utf-8"))
        return Observed(first, after_first, counts=counts)
    at = folder / "instant.json"
    instant = json.loads(at.read_text(encoding="utf-8")) if at.exists() else None
    if isinstance(job, Fault) and not scenario.over_round_one:
        return Observed(first, after_first, instant=instant)  # it left nothing to clean up
    temp = folder / ("tmp-first" if isinstance(job, KillWithoutTmpfile) else "tmp-rerun")
    rerun = run_mediins([str(MEDIINS), *args], folder, temp)
    return Observed(first, after_first, rerun, State.of(out, temp), instant=instant)


def before_the_lock(job: Kill | Fault) -> bool:
    """Whether the call comes before the month's lock is taken: making the folders (in a fresh
    output folder: out, then the month), opening the lock file, taking the lock."""
    fresh = not SCENARIOS[job.scenario].over_round_one
    return (
        (job.point == "flock" and not getattr(job, "after", False))
        or (job.point == "open" and job.k == 1)
        or (job.point == "mkdir" and job.k <= 2 and fresh)
    )


def _job_of(item: pytest.Item) -> Job | None:
    callspec = getattr(item, "callspec", None)
    job = callspec.params.get("job") if callspec is not None else None
    return job if isinstance(job, Kill | Fault | Count) else None


@pytest.fixture(scope="module")
def outcomes(
    request: pytest.FixtureRequest, refs: References, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Future[Observed]]:
    """Every selected case of this module, run two at a time; each test waits for its own."""
    jobs = {job.id: job for item in request.session.items if (job := _job_of(item)) is not None}
    base = tmp_path_factory.mktemp("cases")
    pool = ThreadPoolExecutor(2)
    request.addfinalizer(lambda: pool.shutdown(cancel_futures=True))  # e.g. after pytest -x
    return {name: pool.submit(execute, job, refs, base / name) for name, job in jobs.items()}


# --------------------------------------------------------------------------- kill points

BEFORE, AFTER = False, True
KILL_POINTS: list[tuple[str, str, int, bool]] = [
    # round 1: the lock, each read, the computation, the files, the rename
    ("r1", "flock", 1, BEFORE),  # the month folder made, the lock not yet taken
    ("r1", "flock", 1, AFTER),  # the lock held, nothing read
    ("r1", "read_pass", 2, BEFORE),  # hashing the ledger (the enrollee file: gb)
    ("r1", "scan_csv", 2, BEFORE),  # parsing the enrollee file (the ledger is #1)
    ("r1", "collect_all", 1, BEFORE),  # the ledger's balances
    ("r1", "collect_all", 2, BEFORE),  # the enrollee file's pass
    ("r1", "debit", 1, BEFORE),
    ("r1", "neutralise", 2, BEFORE),  # success.csv written in the staging folder, not flushed
    ("r1", "fdopen", 2, BEFORE),  # halfway: the second agency list
    ("r1", "fdopen", 8, BEFORE),  # run.log, the last file
    ("r1", "open", 10, BEFORE),  # every file written, none flushed yet
    ("r1", "fsync", 1, BEFORE),  # the month folder, after the rename: the run is in place
    ("r1", "chmod", 14, BEFORE),  # the staging folder, just before the rename
    ("r1", "rename", 1, BEFORE),  # staging → round-1
    ("r1", "rename", 1, AFTER),  # round-1 in place, the lock still held
    # GB18030: the UTF-8 attempt, the transcoding into an anonymous file, parsing that file
    ("gb", "read_pass", 1, BEFORE),  # hashing the enrollee file as UTF-8 (which fails)
    ("gb", "read_pass", 2, BEFORE),
    ("gb", "read_pass", 2, AFTER),  # the transcoded copy complete and open
    ("gb", "read_pass", 3, BEFORE),  # the ledger, the transcoded copy open
    ("gb", "scan_csv", 2, BEFORE),  # polars reading the transcoded copy
    ("gb", "fdopen", 8, BEFORE),
    # round 2 after a clean round 1
    ("r2", "flock", 1, AFTER),
    ("r2", "read_csv", 1, BEFORE),  # round 1's retry.csv
    ("r2", "scan_csv", 3, BEFORE),  # round 1's success.csv again, for continuity
    ("r2", "assess", 1, BEFORE),  # continuity
    ("r2", "neutralise", 2, BEFORE),
    ("r2", "fdopen", 7, BEFORE),
    ("r2", "rename", 1, BEFORE),
    ("r2", "rename", 1, AFTER),
    # --force with a changed ledger: round-1 moved aside (rename #1), then the new one written
    ("force", "debit", 1, BEFORE),
    ("force", "rename", 1, BEFORE),  # moving the old run aside
    ("force", "rename", 1, AFTER),  # the old run superseded, the new one not yet written
    ("force", "neutralise", 2, BEFORE),
    ("force", "rename", 2, BEFORE),  # staging → round-1
    ("force", "rename", 2, AFTER),
    ("force", "fsync", 1, BEFORE),
]
#: cases that show a defect of the product: id → what is wrong
DEFECTS: dict[str, str] = {}


def _param(job: Job) -> Any:
    if job.id not in DEFECTS:
        return pytest.param(job, id=job.id)
    mark = pytest.mark.xfail(strict=True, reason=f"defect: {DEFECTS[job.id]}")
    return pytest.param(job, id=job.id, marks=mark)


KILLS = [
    Kill(scenario, point, k, sig, after)
    for scenario, point, k, after in KILL_POINTS
    for sig in (signal.SIGKILL, signal.SIGTERM)
] + [  # SIGINT (Ctrl-C) takes SIGTERM's path: a few points suffice
    Kill("r1", "fdopen", 2, signal.SIGINT),
    Kill("gb", "read_pass", 2, signal.SIGINT, AFTER),
    Kill("force", "rename", 1, signal.SIGINT, AFTER),
]


def stopped(sig: signal.Signals) -> str:
    return f"mediins: stopped by {sig.name}; a run directory is complete or absent, never partial"


def _runs_after_a_kill_are_complete_or_absent(
    scenario: str, runs: dict[str, dict[str, str] | str], refs: References
) -> None:
    for name, files in runs.items():
        assert isinstance(files, dict), f"{name} is partial: {files}"
    if scenario == "force":
        old, new = refs.runs["r1"], refs.runs["force"]
        assert set(runs) <= {"round-1", "round-1.superseded-1"}, sorted(runs)
        if "round-1.superseded-1" in runs:  # moved aside: the new run complete or absent
            assert runs["round-1.superseded-1"] == old, "the superseded run is not the old one"
            assert runs.get("round-1", new) == new, "round-1 is neither absent nor the new run"
        else:
            assert runs.get("round-1") == old, "the earlier run was lost"
        return
    expected = refs.expected(scenario)
    assert set(runs) <= set(expected), sorted(runs)
    for name, files in runs.items():
        assert files == expected[name], f"{name} is complete but not what a clean run writes"
    if scenario == "r2":
        assert "round-1" in runs, "round 1 was lost"


def _rerun_matches_a_clean_run(observed: Observed, scenario: str, refs: References) -> None:
    assert observed.rerun is not None and observed.after_rerun is not None
    assert observed.rerun.returncode == 0, observed.rerun.stderr
    after = observed.after_rerun
    assert after.leftovers == [], "the next run left temporary files or staging folders"
    assert after.temp == [], "TMPDIR is not empty after the next run"
    assert after.lock_free is True, "the month's lock is held after the next run"
    assert after.runs == refs.expected(scenario)
    top = {p for p in after.paths if p.count("/") <= 1}
    assert top == {MONTH, f"{MONTH}/.lock"} | {f"{MONTH}/{name}" for name in after.runs}


@pytest.mark.parametrize("job", [_param(job) for job in KILLS])
def test_a_killed_run(job: Kill, outcomes: dict[str, Future[Observed]], refs: References):
    observed = outcomes[job.id].result()
    killed, state = observed.first, observed.after_first
    assert observed.instant is not None, f"the kill point was never reached: {killed}"
    # 1. how it ended
    if _ended_as_its_signal_says(job, killed):
        assert state.leftovers == [], f"{job.sig.name}'s clean-up left temporary files"
    # 2. what it left
    _runs_after_a_kill_are_complete_or_absent(job.scenario, state.runs, refs)
    assert observed.instant["temp"] == [], "a temporary file had a name in TMPDIR at the kill"
    # the lock is held from before the inputs are read until the run directory is in place
    assert observed.instant["lock_held"] is not before_the_lock(job)
    assert state.temp == [], "the killed run left something in TMPDIR"
    assert state.lock_free is not False, "the month's lock is held after the process died"
    # 3. the next run
    _rerun_matches_a_clean_run(observed, job.scenario, refs)


def _ended_as_its_signal_says(job: Kill, killed: subprocess.CompletedProcess[str]) -> bool:
    """No traceback; SIGKILL: killed; SIGTERM, SIGINT: one line and 143, 130. True when the
    process handled the signal (and so had a clean-up to do)."""
    assert "Traceback" not in killed.stderr, killed.stderr
    if job.sig == signal.SIGKILL:
        assert killed.returncode == -signal.SIGKILL, killed.stderr
        return False
    assert killed.returncode == 128 + job.sig, killed.stderr
    assert killed.stderr.splitlines() == [stopped(job.sig)]
    return True


NO_TMPFILE = [
    KillWithoutTmpfile("gb", "unlink", 1, sig) for sig in (signal.SIGKILL, signal.SIGTERM)
]


@pytest.mark.parametrize("job", [_param(job) for job in NO_TMPFILE])
def test_a_run_killed_while_its_transcoded_copy_has_a_name(
    job: KillWithoutTmpfile, outcomes: dict[str, Future[Observed]], refs: References
):
    observed = outcomes[job.id].result()
    killed, state = observed.first, observed.after_first
    assert observed.instant is not None, f"the kill point was never reached: {killed}"
    assert len(observed.instant["temp"]) == 1  # the case is real: the copy had a name then
    if _ended_as_its_signal_says(job, killed):
        assert state.temp == [], f"{job.sig.name}'s clean-up left {state.temp} in TMPDIR"
    _runs_after_a_kill_are_complete_or_absent(job.scenario, state.runs, refs)
    _rerun_matches_a_clean_run(observed, job.scenario, refs)  # with the same TMPDIR


# --------------------------------------------------------------------------- disk full, read-only

ENOSPC, EROFS, EACCES = errno.ENOSPC, errno.EROFS, errno.EACCES
FAULTS = [
    Fault("r1", "mkdir", 1, EROFS),  # the output folder itself
    Fault("r1", "open", 1, EACCES),  # the lock file (the output and month folders made)
    Fault("r1", "mkdir", 4, ENOSPC),  # the staging folder (mkdtemp), the lock held
    Fault("r1", "neutralise", 1, ENOSPC),  # writing success.csv (as polars says it)
    Fault("r1", "fdopen", 2, ENOSPC),  # writing the agency lists halfway
    Fault("r1", "fdopen", 6, ENOSPC),  # writing summary.json
    Fault("r1", "rename", 1, EROFS),  # staging → round-1
    Fault("gb", "fdopen", 8, ENOSPC),  # with a transcoded input open
    Fault("r2", "fdopen", 1, ENOSPC),  # the first agency list
    Fault("r2", "rename", 1, EROFS),
    Fault("force", "rename", 1, EROFS),  # moving the old run aside
    Fault("force", "fdopen", 1, ENOSPC),  # the old run moved aside already
]


def _one_error_line(done: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in done.stderr, done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("mediins: "), done.stderr
    return lines[0]


@pytest.mark.parametrize("job", [_param(job) for job in FAULTS])
def test_an_io_error(job: Fault, outcomes: dict[str, Future[Observed]], refs: References):
    observed = outcomes[job.id].result()
    failed, state = observed.first, observed.after_first
    assert observed.instant is not None, f"the failing call was never reached: {failed}"
    assert failed.returncode == 1, failed.stderr
    line = _one_error_line(failed)
    assert os.strerror(job.code) in line  # says what went wrong
    assert state.leftovers == [], "a staging folder or temporary file was left"
    assert observed.instant["temp"] == [] and state.temp == []
    assert observed.instant["lock_held"] is (None if before_the_lock(job) else True)
    assert state.lock_free is not False
    runs = state.runs
    for name, files in runs.items():
        assert isinstance(files, dict), f"{name} is partial: {files}"
    old = refs.runs["r1"]
    if job.scenario == "r2":
        assert runs == {"round-1": old}
    elif job.scenario == "force":  # never lost: where it was, or moved aside
        assert runs in ({"round-1": old}, {"round-1.superseded-1": old}), sorted(runs)
    else:  # nothing written, not even the month folder (the next run is not run: the budget)
        assert state.paths == [], state.paths
        return
    _rerun_matches_a_clean_run(observed, job.scenario, refs)


# --------------------------------------------------------------------------- the call numbers


@pytest.mark.parametrize("job", [_param(Count(name)) for name in SCENARIOS])
def test_each_point_is_called_as_often_as_the_cases_number_it(
    job: Count, outcomes: dict[str, Future[Observed]], refs: References
):
    observed = outcomes[job.id].result()
    assert observed.first.returncode == 0, observed.first.stderr
    assert observed.counts == COUNTS[job.scenario]
    # the wrapper changes nothing but the chosen call: a counted run is a clean run
    assert observed.after_first.runs == refs.expected(job.scenario)


def test_every_case_is_within_the_counted_calls_and_named_once():
    jobs: list[Kill | Fault] = [*KILLS, *FAULTS, *NO_TMPFILE]
    for job in jobs:
        assert job.point in crashkit.POINTS
        if not isinstance(job, KillWithoutTmpfile):  # counted in TMPDIR: one mkstemp, unlinked
            assert 1 <= job.k <= COUNTS[job.scenario][job.point], job.id
    assert len({job.id for job in jobs}) == len(jobs)
    assert set(DEFECTS) <= {job.id for job in jobs}


# --------------------------------------------------------------------------- a read-only folder


#: run as root without the capabilities that let root write anywhere, so file modes apply
WITHOUT_OVERRIDE = [
    "setpriv",
    "--bounding-set=-dac_override,-dac_read_search",
    "--inh-caps=-dac_override,-dac_read_search",
    "--",
]


def _writes_into_a_read_only_folder(prefix: list[str]) -> bool | None:
    """Whether a process started with ``prefix`` can write into a folder of mode 0o555 anyway
    (root can, with CAP_DAC_OVERRIDE, as in CI); None if such a process cannot be started."""
    with tempfile.TemporaryDirectory() as folder:
        probe = Path(folder) / "read-only"
        probe.mkdir()
        probe.chmod(0o555)
        code = "import pathlib, sys; pathlib.Path(sys.argv[1], 'file').touch()"
        try:
            done = subprocess.run(
                [*prefix, sys.executable, "-c", code, str(probe)],
                capture_output=True,
                timeout=60,
                check=False,
            )
        except OSError:
            return None
        finally:
            probe.chmod(0o755)
    if done.returncode == 0:
        return True
    return False if b"PermissionError" in done.stderr else None


def _user_prefix() -> list[str] | None:
    """How to start mediins so that file modes apply: as it is, or as root without
    CAP_DAC_OVERRIDE (``setpriv``); None if neither can be had here."""
    for prefix in ([], WITHOUT_OVERRIDE):
        if _writes_into_a_read_only_folder(prefix) is False:
            return prefix
    return None


USER_PREFIX = _user_prefix()
as_a_user = pytest.mark.skipif(
    USER_PREFIX is None,
    reason="file modes do not apply here: running as root with CAP_DAC_OVERRIDE, which writes "
    "into a folder of mode 0o555, and setpriv could not drop it (the injected EROFS and EACCES "
    "cases above still run)",
)


def _read_only(folder: Path, action: Callable[[], subprocess.CompletedProcess[str]]) -> Any:
    folder.chmod(0o555)
    try:
        return action()
    finally:
        folder.chmod(0o755)


@as_a_user
def test_a_read_only_output_folder_is_one_line_exit_1_and_nothing_written(
    tmp_path: Path, refs: References
):
    out = tmp_path / "out"
    out.mkdir()
    args = SCENARIOS["r1"].args(out, refs.inputs)
    argv = [*(USER_PREFIX or []), str(MEDIINS), *args]
    done = _read_only(out, lambda: run_mediins(argv, tmp_path, tmp_path / "t"))
    assert done.returncode == 1, done.stderr
    assert "Permission denied" in _one_error_line(done)
    assert list(out.iterdir()) == []
    assert os.listdir(tmp_path / "t") == []


@as_a_user
def test_a_read_only_month_folder_stops_round_two_leaving_round_one_as_it_was(
    tmp_path: Path, refs: References
):
    out = _prepare(SCENARIOS["r2"], refs, tmp_path / "case")
    month = out / MONTH
    (month / ".lock").touch(0o644)  # as round 1 left it
    args = SCENARIOS["r2"].args(out, refs.inputs)
    argv = [*(USER_PREFIX or []), str(MEDIINS), *args]
    done = _read_only(month, lambda: run_mediins(argv, tmp_path, tmp_path / "t"))
    assert done.returncode == 1, done.stderr
    assert "Permission denied" in _one_error_line(done)
    state = State.of(out, tmp_path / "t")
    assert state.runs == {"round-1": refs.runs["r1"]}
    assert state.leftovers == [] and state.temp == [] and state.lock_free is True
