"""The history of an output folder (DESIGN §13 "History"): its months, each month's runs as they
lie on disk (``round-<n>/``, ``instructions-<n>/``, and the runs moved aside as
``<name>.superseded-<k>``), and what comes next.

Everything is read from the run directories: counts, amounts and rates are the summaries' own,
never computed again. A run is damaged when its manifest cannot be read or its files are no
longer what the manifest says, found by the very checks the rerun rules use
(:func:`mediins_cli.runs._damaged`, :func:`mediins_cli.bank.run._damaged`); a damaged run's
figures are shown only where its summary is itself intact. The one thing worked out here is
the date of the next round, by the schedule of the rule pack the month's manifests name.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mediins_cli.errors import BadInput, Refused
from mediins_cli.i18n import _
from mediins_cli.months import CHINA, Month

if TYPE_CHECKING:
    from mediins_cli.calendar import Roll

RAN = "ran"
SUPERSEDED = "superseded"
DAMAGED = "damaged"

ROUND = "round"
INSTRUCTIONS = "instructions"

#: a run directory's name: round-1, instructions-2, round-1.superseded-3, …
RUN_NAME = re.compile(
    r"^(?P<kind>round|instructions)-(?P<number>[12])(?:\.superseded-(?P<aside>[1-9][0-9]*))?$"
)
#: the line of a run's log that says when it started (run.log: "started …", instruct.log: "at …")
_STARTED = re.compile(r"^(?:started|at) (?P<when>\d{4}-\d{2}-\d{2}T\S+)", re.MULTILINE)
_LOGS = {ROUND: "run.log", INSTRUCTIONS: "instruct.log"}


@dataclass(frozen=True)
class Run:
    """One run directory of a month."""

    month: Month
    kind: str  # ROUND or INSTRUCTIONS
    number: int  # the round
    name: str  # the directory's name
    path: Path
    aside: int  # 0: the run in place; k: moved aside as <kind>-<number>.superseded-<k>
    ran_at: str | None  # when it started (its log), else when its manifest was written
    manifest: dict[str, Any] | None  # None when it cannot be read
    summary: dict[str, Any] | None  # None when missing, unreadable or damaged
    damaged_files: tuple[str, ...]

    @property
    def status(self) -> str:
        if self.damaged_files:
            return DAMAGED
        return SUPERSEDED if self.aside else RAN

    @property
    def current(self) -> bool:
        return self.aside == 0

    @property
    def rules(self) -> str | None:
        return _text(self.manifest, "rules")

    @property
    def calendar(self) -> str | None:
        return _text(self.manifest, "calendar")

    @property
    def mode(self) -> str:
        """``ledger`` or ``returns`` (DESIGN §11); instructions belong to return mode."""
        if self.kind == INSTRUCTIONS:
            return "returns"
        return _text(self.manifest, "mode") or "ledger"

    def figures(self) -> dict[str, Any]:
        """Counts and amounts (yuan text, exact) as the run's summary has them; None where the
        summary cannot be trusted or does not say."""
        s = self.summary or {}
        if self.kind == INSTRUCTIONS:
            return {
                "due": _count(s.get("instructed")),
                "collected": None,
                "failed": None,
                "collection_rate": None,
                "breaks": None,
                "breaks_by_category": None,
            }
        continuity = s.get("continuity") if isinstance(s.get("continuity"), dict) else None
        rate = s.get("collection_rate")
        return {
            "due": _count(s.get("attempted")),
            "collected": _count(s.get("succeeded")),
            "failed": _count(s.get("failed")),
            "collection_rate": _text(rate, "amount") if isinstance(rate, dict) else None,
            "breaks": continuity.get("breaks") if continuity else None,
            "breaks_by_category": continuity.get("by_category") if continuity else None,
        }


@dataclass(frozen=True)
class NextRound:
    """The round that comes next, by the schedule of the pack the manifests name."""

    month: Month
    round: int
    step: str  # "deduct", or "instruct" in return mode before the round's instructions exist
    rules: str | None
    calendar: str | None
    effective: date | None  # None: the date cannot be told (``note`` says why)
    deposit_by: date | None
    why: str | None  # why the effective date is what it is (the calendar's words)
    note: str | None = None
    #: the roll the schedule gave, to say ``why`` in the operator's language
    roll: Roll | None = field(default=None, compare=False, repr=False)

    def as_dict(self) -> dict[str, Any]:
        return {
            "month": str(self.month),
            "round": self.round,
            "step": self.step,
            "rules": self.rules,
            "calendar": self.calendar,
            "effective": self.effective.isoformat() if self.effective else None,
            "deposit_by": self.deposit_by.isoformat() if self.deposit_by else None,
            "why": self.why,
            "note": self.note,
        }


@dataclass(frozen=True)
class MonthHistory:
    month: Month
    runs: tuple[Run, ...]  # in the order they happen; superseded ones before their successor
    next: NextRound | None  # None once both rounds ran and a later month is in the folder

    def current(self, kind: str, number: int) -> Run | None:
        """The run in place (not moved aside) of ``kind`` and round ``number``."""
        return next(
            (r for r in self.runs if r.current and r.kind == kind and r.number == number), None
        )

    @property
    def rules(self) -> str | None:
        return next((r.rules for r in reversed(self.runs) if r.current and r.rules), None)

    @property
    def calendar(self) -> str | None:
        return next((r.calendar for r in reversed(self.runs) if r.current and r.calendar), None)

    @property
    def mode(self) -> str:
        current = [r for r in self.runs if r.current and r.manifest is not None]
        return "returns" if any(r.mode == "returns" for r in current) else "ledger"

    @property
    def damaged(self) -> list[Run]:
        return [r for r in self.runs if r.current and r.damaged_files]

    def total(self) -> dict[str, Any] | None:
        """The month so far, as the latest intact round's summary says: after round 2 its
        ``month_total``; after round 1 alone, round 1's own figures. None when neither is."""
        r2 = self.current(ROUND, 2)
        if r2 is not None and r2.summary and isinstance(r2.summary.get("month_total"), dict):
            t = r2.summary["month_total"]
            continuity = r2.summary.get("continuity") or {}
            return {
                "after_round": 2,
                "due": _count(t.get("due")),
                "collected": _count(t.get("collected")),
                "unpaid": _count(t.get("unpaid")),
                "collection_rate": _text(t, "collection_rate"),
                "breaks": continuity.get("breaks"),
            }
        r1 = self.current(ROUND, 1)
        if r1 is not None and r1.summary:
            f = r1.figures()
            return {
                "after_round": 1,
                "due": f["due"],
                "collected": f["collected"],
                "unpaid": f["failed"],
                "collection_rate": f["collection_rate"],
                "breaks": None,
            }
        return None


@dataclass(frozen=True)
class History:
    out: Path
    months: tuple[MonthHistory, ...]  # oldest first

    @property
    def next(self) -> NextRound | None:
        """What comes next in the folder: the latest month's next round."""
        return self.months[-1].next if self.months else None

    def of(self, month: Month) -> MonthHistory:
        """``month``'s runs; bad input (exit 2) when the folder holds none of that month."""
        for m in self.months:
            if m.month == month:
                return m
        held = ", ".join(str(m.month) for m in self.months) or "none"
        raise BadInput(f"--month: no run of {month} in {self.out} (months there: {held})")


# --------------------------------------------------------------------------- reading


def read_history(out: Path, month: Month | None = None) -> History:
    """Every month of ``out`` that holds a run (or only ``month``: bad input when it holds
    none). A folder that does not exist is bad input; an empty one has no months."""
    if not out.is_dir():
        raise BadInput(f"--out: {out} is not a folder of runs (no such folder)")
    # which months hold runs is seen from the names alone; only the months shown are read
    named = {
        m: [(p, match) for p in (out / str(m)).iterdir() if (match := _run_name(p))]
        for m in sorted(m for m in (_month_of(p) for p in out.iterdir() if p.is_dir()) if m)
    }
    found = [m for m, runs in named.items() if runs]
    if month is not None and month not in found:
        History(out, tuple(MonthHistory(m, (), None) for m in found)).of(month)  # bad input
    months = []
    for m in found if month is None else [month]:
        runs = _runs(m, named[m])
        months.append(MonthHistory(m, runs, _next(m, runs, later=m < found[-1])))
    return History(out, tuple(months))


def _month_of(path: Path) -> Month | None:
    try:
        month = Month.parse(path.name)
    except ValueError:
        return None
    return month if str(month) == path.name else None


def _run_name(path: Path) -> re.Match[str] | None:
    return RUN_NAME.match(path.name) if path.is_dir() else None


_ORDER = {(INSTRUCTIONS, 1): 0, (ROUND, 1): 1, (INSTRUCTIONS, 2): 2, (ROUND, 2): 3}


def _runs(month: Month, named: list[tuple[Path, re.Match[str]]]) -> tuple[Run, ...]:
    runs = [
        _read_run(path, month, m["kind"], int(m["number"]), int(m["aside"] or 0))
        for path, m in named
    ]
    # in the order they happen: a superseded run before the one that replaced it
    return tuple(
        sorted(runs, key=lambda r: (_ORDER[r.kind, r.number], r.aside == 0, r.aside, r.name))
    )


def _read_run(path: Path, month: Month, kind: str, number: int, aside: int) -> Run:
    manifest = _read_manifest(path)
    damaged: list[str] = ["manifest.json"]
    summary = None
    if manifest is not None:
        try:
            damaged = _damaged_files(kind, path, manifest)
        except (Refused, KeyError, TypeError, AttributeError, OSError):  # not a run's manifest
            manifest, damaged = None, ["manifest.json"]
    if manifest is not None:
        if kind == INSTRUCTIONS:  # the instructions' manifest carries their summary
            summary = manifest.get("summary") if isinstance(manifest.get("summary"), dict) else None
        elif "summary.json" in manifest["outputs"] and "summary.json" not in damaged:
            summary = _read_json(path / "summary.json")
    return Run(
        month=month,
        kind=kind,
        number=number,
        name=path.name,
        path=path,
        aside=aside,
        ran_at=_ran_at(path, kind),
        manifest=manifest,
        summary=summary,
        damaged_files=tuple(damaged),
    )


def _damaged_files(kind: str, path: Path, manifest: dict[str, Any]) -> list[str]:
    """The files of a run no longer what its manifest says: the rerun rules' own checks."""
    if kind == INSTRUCTIONS:
        from mediins_cli.bank.run import _damaged as instructions_damaged

        return instructions_damaged(path, manifest)
    from mediins_cli.runs import _damaged as run_damaged

    return run_damaged(path, manifest)


def _read_manifest(path: Path) -> dict[str, Any] | None:
    return _read_json(path / "manifest.json")


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _ran_at(path: Path, kind: str) -> str | None:
    """When the run started, as its log says (to the minute, China's time); else when its
    manifest was written."""
    try:
        with (path / _LOGS[kind]).open(encoding="utf-8", errors="replace") as fh:
            head = fh.read(4096)
        if m := _STARTED.search(head):
            when = datetime.fromisoformat(m["when"])
            if when.tzinfo is not None:
                when = when.astimezone(CHINA)
            return when.isoformat(sep=" ", timespec="minutes")[:16]
    except (OSError, ValueError):
        pass
    try:
        written = (path / "manifest.json").stat().st_mtime
    except OSError:
        return None
    return datetime.fromtimestamp(written, CHINA).isoformat(sep=" ", timespec="minutes")[:16]


def _text(data: Any, key: str) -> str | None:
    value = data.get(key) if isinstance(data, dict) else None
    return value if isinstance(value, str) else None


def _count(data: Any) -> dict[str, Any] | None:
    """``{"enrollees": n, "amount": "yuan"}`` as a summary has it, or None."""
    if not isinstance(data, dict):
        return None
    n, amount = data.get("enrollees"), data.get("amount")
    if not isinstance(n, int) or not isinstance(amount, str):
        return None
    return {"enrollees": n, "amount": amount}


# --------------------------------------------------------------------------- what is next


def _next(month: Month, runs: tuple[Run, ...], later: bool) -> NextRound | None:
    """The round of ``month`` that has not run yet; round 1 of the month after once both have
    (None when that month is in the folder already)."""
    current = {(r.kind, r.number): r for r in runs if r.current}
    in_place = [r for r in runs if r.current and r.manifest is not None]
    rules = next((r.rules for r in reversed(in_place) if r.rules), None)
    calendar = next((r.calendar for r in reversed(in_place) if r.calendar), None)
    returns = any(r.mode == "returns" for r in in_place)
    recorded: str | None = None
    if (ROUND, 2) in current:
        if later:
            return None
        target, number, step = month.shift(1), 1, "instruct" if returns else "deduct"
        continuity = (current[ROUND, 2].summary or {}).get("continuity") or {}
        recorded = _text(continuity, "next_round_one")
    elif (ROUND, 1) in current:
        target, number = month, 2
        step = "instruct" if returns and (INSTRUCTIONS, 2) not in current else "deduct"
        recorded = _text((current[ROUND, 1].summary or {}).get("retry"), "retry_on")
    else:
        target, number, step = month, 1, "deduct"
    return _scheduled(target, number, step, rules, calendar, recorded)


def _scheduled(
    month: Month,
    number: int,
    step: str,
    rules: str | None,
    calendar: str | None,
    recorded: str | None,
) -> NextRound:
    """The round's dates by the pack's schedule; where the pack or the calendar cannot tell
    them (a pack given by path, a year no calendar covers yet), the date the last run
    recorded for it, if any, and why."""
    from mediins_cli.runs import month_rules

    note = None
    if rules is not None:
        try:
            _pack, name, _cal, dates = month_rules(rules, calendar, month)
        except BadInput as exc:
            note = str(exc).splitlines()[0] if str(exc) else _("the schedule cannot tell")
        else:
            d = dates[number - 1]
            return NextRound(
                month,
                number,
                step,
                rules,
                name,
                d.effective,
                d.deposit_by,
                d.roll.explanation(),
                roll=d.roll,
            )
    else:
        note = _("no readable manifest names the rule pack")
    effective = None
    if recorded is not None:
        try:
            effective = date.fromisoformat(recorded)
        except ValueError:
            effective = None
    return NextRound(month, number, step, rules, calendar, effective, None, None, note)


# --------------------------------------------------------------------------- by agency


@dataclass(frozen=True)
class AgencyCounts:
    """One agency's debits in one round: succeeded and failed, enrollees and fen."""

    succeeded: int = 0
    succeeded_fen: int = 0
    failed: int = 0
    failed_fen: int = 0


def by_agency(run: Run) -> dict[str, AgencyCounts]:
    """Each agency's successes and failures in an intact round, from the ``agency`` and
    ``amount`` columns of its success.csv and failure.csv (no other column is read: the report
    holds no personal data). Round 1's add up to its summary's attempted."""
    import polars as pl

    from mediins_cli.money import total_fen, yuan_to_fen
    from mediins_cli.outputs import OutputFormat

    if run.kind != ROUND or run.manifest is None or run.damaged_files:
        raise ValueError(f"{run.path} is not an intact round")
    encoding = OutputFormat(**run.manifest.get("format", {})).read_encoding
    totals: dict[str, dict[str, int]] = {}
    for name, outcome in (("success.csv", "succeeded"), ("failure.csv", "failed")):
        frame = pl.read_csv(
            run.path / name, infer_schema=False, encoding=encoding, columns=["agency", "amount"]
        )
        grouped = frame.group_by("agency").agg(
            pl.len().alias("n"), total_fen(yuan_to_fen(pl.col("amount"))).alias("fen")
        )
        for agency, n, fen in grouped.iter_rows():
            row = totals.setdefault(agency or "", {})
            row[outcome] = int(n)
            row[f"{outcome}_fen"] = int(fen or 0)
    return {agency: AgencyCounts(**row) for agency, row in sorted(totals.items())}
