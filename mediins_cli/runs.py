"""The orchestrator of a deduction round: read → validate → compute → write (STYLE §2).

Only this module and the I/O modules it calls touch the file system. Rerun rules (DESIGN §8):
the same inputs again → nothing to do; other inputs → refused unless ``force``, which moves the
earlier run aside; round 2 needs round 1 of the same month; one run per month at a time.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl

from mediins_cli import __version__
from mediins_cli.bank.formats import RETRYABLE
from mediins_cli.calendar import (
    OfficialCalendar,
    RoundDates,
    WorkingCalendar,
    make_calendar,
    schedule_dates,
)
from mediins_cli.continuity import (
    DETAILS,
    LOOKED_UP,
    Continuity,
    ContinuityRules,
    assess,
    summarize_continuity,
)
from mediins_cli.errors import (
    BadInput,
    CalendarNotCovered,
    Problem,
    Refused,
    command_line,
    problem_rows,
    problems_frame,
)
from mediins_cli.frames import per_value
from mediins_cli.hashing import ThreadedSha256
from mediins_cli.i18n import N_, _, current_lang, translation
from mediins_cli.inputs import (
    LedgerPass,
    Source,
    check_enrollees,
    extra_columns,
    ledger_balances_at,
    open_sources,
)
from mediins_cli.inputs.source import file_identity
from mediins_cli.milestones import MILESTONE_COLUMNS, retirements
from mediins_cli.money import (
    fen_to_yuan,
    sum_fen,
    yuan_text_to_fen,
    yuan_to_fen,
)
from mediins_cli.months import CHINA, Month
from mediins_cli.order import ID_KEY
from mediins_cli.outputs import (
    PRIVATE,
    PUBLIC,
    OutputFormat,
    Split,
    Written,
    json_bytes,
    month_lock,
    move_aside,
    remove_staging,
    sha256_bytes,
    sha256_file,
    staged_run_dir,
)
from mediins_cli.roundfiles import output_frames
from mediins_cli.rounds import (
    ACCOUNT_KEY,
    FAILURE,
    SUCCESS,
    RoundResult,
    account_key,
    debited_per_account,
    rate,
    round_one,
    round_two,
    skip_reason,
    summarize,
)
from mediins_cli.rules import RulePack, check_in_force, load_pack

OUT_ENCODINGS = ("utf-8", "gb18030")


@dataclass(frozen=True)
class DeductRequest:
    round: int
    month: Month
    enrollees: Path
    ledger: Path
    out: Path
    rules: str
    calendar: str | None = None
    encoding: str = "auto"
    force: bool = False
    dry_run: bool = False
    format: OutputFormat = field(default_factory=OutputFormat)
    command: str = ""  # how the run was asked for, for its log
    strict: bool = False  # pre-flight warnings refuse the run (DESIGN §3)
    now: datetime | None = None  # the clock, for the pre-flight checks (default: now in China)
    #: return mode (DESIGN §11): the bank's return files answer the round's instructions, and
    #: ``ledger`` is not read; ``bank_format``: the format asked for (None: the instructions')
    returns: tuple[Path, ...] = ()
    bank_format: str | None = None
    #: the language of the agency lists (DESIGN §13; the other files are the same in both)
    lang: str = "en"


@dataclass(frozen=True)
class DeductOutcome:
    """What happened: ``ran``, ``unchanged`` (same inputs, nothing done) or ``dry_run``."""

    status: str
    run_dir: Path
    summary: dict[str, Any]
    moved_aside: Path | None = None
    warnings: pl.DataFrame = field(default_factory=lambda: problems_frame([]))
    #: the round's dates, for saying why a date rolled in the operator's language
    dates: RoundDates | None = None


#: China keeps UTC+8 without daylight saving: the clock of every social-insurance centre


def now_in_china() -> datetime:
    """The clock of the pre-flight checks (one place, so a test can set it)."""
    return datetime.now(CHINA)


def month_rules(
    rules: str, calendar_name: str | None, month: Month
) -> tuple[RulePack, str, WorkingCalendar, tuple[RoundDates, RoundDates]]:
    """What a round of ``month`` runs by: the rule pack (in force that month, else
    :class:`BadInput`), the calendar's name (the pack's unless given) and calendar, and both
    rounds' dates."""
    pack = load_pack(rules)
    check_in_force(pack, month)
    name = calendar_name or pack.schedule.calendar.value
    calendar = make_calendar(name)
    return pack, name, calendar, schedule_dates(pack.schedule, calendar, month)


def round_dir(out: Path, month: Month, round_no: int) -> Path:
    return out / str(month) / f"round-{round_no}"


def deduct(
    request: DeductRequest, progress: Callable[[str], None] = lambda _: None
) -> DeductOutcome:
    """Run one round of one month (see the module docstring for the rules).

    The month's lock is held from before the inputs are read until the run directory is in
    place (DESIGN §8), so two runs of one month never compute side by side; a dry run, which
    writes nothing, takes no lock."""
    started = datetime.now(CHINA)
    if request.format.encoding not in OUT_ENCODINGS:
        raise BadInput(
            _("--out-encoding: {value!r} is not utf-8 or gb18030").format(
                value=request.format.encoding
            )
        )
    pack, calendar_name, calendar, (first, second) = month_rules(
        request.rules, request.calendar, request.month
    )
    dates = first if request.round == 1 else second
    run_dir = round_dir(request.out, request.month, request.round)
    what = f"round {request.round} of {request.month}"
    with contextlib.ExitStack() as stack:
        if not request.dry_run:
            stack.enter_context(month_lock(run_dir.parent, what))
            remove_staging(run_dir.parent, run_dir.name)
        previous = round_one_state(request.out, request.month) if request.round == 2 else None
        mode = "returns" if request.returns else "ledger"
        if previous is not None and previous.mode != mode:
            raise Refused(
                (
                    _(
                        "round 1 of {month} ran on the bank's return files; round 2 runs the "
                        "same way (--returns)"
                    )
                    if previous.mode == "returns"
                    else _(
                        "round 1 of {month} ran on the bank's ledger; round 2 runs the same "
                        "way (--ledger)"
                    )
                ).format(month=request.month)
            )
        sent = None
        if request.returns:
            from mediins_cli.bank.run import sent_instructions

            sent = sent_instructions(request, dates)
        progress(_("reading inputs"))
        paths = {"enrollees": request.enrollees}
        if sent is None:
            paths["ledger"] = request.ledger
        sources = stack.enter_context(open_sources(paths, request.encoding))
        returns: list[Source] = []
        if sent is not None:
            opened = stack.enter_context(
                open_sources({f"returns:{i}": p for i, p in enumerate(request.returns)}, "auto")
            )
            returns = list(opened.values())
            sent.check_enrollees(sources["enrollees"].sha256)

        def fingerprinted() -> dict[str, Any]:
            # waits for the inputs' hashes, made meanwhile at the lowest priority (Source.sha256)
            found = _fingerprint(request, pack, calendar, dates, previous, sources)
            if sent is not None:
                found.update(sent.fingerprint(returns))
            return found

        if (
            previous is not None
            and sources["enrollees"].sha256 != previous.manifest["inputs"]["enrollees"]
        ):
            raise Refused(
                _(
                    "the enrollee file differs from the one round 1 of {month} used ({file}); "
                    "round 2 attempts round 1's retry list and needs the same enrollees"
                ).format(month=request.month, file=previous.manifest["files"]["enrollees"])
            )
        existing = _existing_run(run_dir)
        if existing is not None and not _must_replace(request, run_dir, existing, fingerprinted()):
            stored = read_json(run_dir / "summary.json")
            said = [
                Problem("", 0, "", w["code"], _stored_warning(w, stored), "warning")
                for w in stored.get("warnings", [])
            ]
            return DeductOutcome(
                "unchanged", run_dir, stored, warnings=problems_frame(said), dates=dates
            )

        enrollees, ledger, problems, preflight = _read_inputs(
            request, sources, dates, previous, progress
        )

        problems = pl.concat([problems, _transfer_ignored(enrollees, pack, sources["enrollees"])])
        progress(_("debiting"))
        continuity = None
        extras = extra_columns(enrollees)
        if sent is not None:
            progress(_("reading the bank's return files"))
            # round 1 empties the enrollees' frame into its attempts and skipped (held once);
            # round 2's continuity reads it afterwards
            release = request.round == 1
            result = sent.result(enrollees, returns, dates, second, previous, release=release)
            if request.round == 2:
                assert previous is not None
                progress(_("assessing continuity"))
                continuity = _continuity(result, enrollees, previous, pack)
        elif request.round == 1:
            assert ledger is not None
            # the enrollees' frame is emptied into the attempts and the skipped: held once
            result = round_one(enrollees, ledger.balances, dates, second, release=True)
        else:
            assert previous is not None and ledger is not None
            result = round_two(
                enrollees, previous.retry_ids, previous.pending, ledger.balances, dates
            )
            # continuity reads a few columns of the enrollees and no balance: the rest goes
            # now, so its memory serves continuity (DESIGN §10)
            enrollees = enrollees.select(
                *CONTINUITY_READS, *(k for k in (ID_KEY,) if k in enrollees.columns)
            )
            ledger = replace(ledger, balances=ledger.balances.clear())
            progress(_("assessing continuity"))
            continuity = _continuity(result, enrollees, previous, pack)
        milestones = None
        if request.round == 1:  # who reaches retirement this month: the agencies are told
            ages = (pack.retirement.age_male.value, pack.retirement.age_female.value)
            milestones = retirements(result.attempts, request.month, *ages)
            problems = pl.concat([problems, _no_birth_date(result.attempts, ages, sources)])
        # what is left of the inputs are copies (attempted, skipped): the file's frame and the
        # balances go before the files are written, so their memory serves the writing
        del enrollees
        if ledger is not None:
            ledger = replace(ledger, balances=ledger.balances.clear())
        summary = _summary(result, pack, calendar_name, previous, ledger, preflight)
        if sent is not None:
            from mediins_cli.bank.run import month_unpaid

            summary.update(sent.summary(result, returns, previous))
            if previous is not None:
                month_unpaid(summary, previous)
        if milestones is not None:
            summary["milestones"] = {
                "retirement": milestones.height,
                "by_agency": dict(milestones.group_by("agency").len().sort("agency").iter_rows()),
            }
        if continuity is not None:
            summary["continuity"] = summarize_continuity(
                continuity, _next_round_one(pack, calendar, request.month)
            )
        frames = output_frames(result, extras, continuity, request.lang)
        if milestones is not None:
            frames["milestones.csv"] = milestones.select(MILESTONE_COLUMNS)
        if request.dry_run:
            return DeductOutcome("dry_run", run_dir, summary, warnings=problems, dates=dates)
        fingerprint = fingerprinted()  # before anything is written: a changed file stops it

        progress(_("writing"))
        moved = move_aside(run_dir) if existing is not None else None
        with staged_run_dir(run_dir) as staging:
            for name, frame in frames.items():
                if isinstance(frame, Split):
                    staging.write_split(frame, request.format)
                else:
                    staging.write_csv(name, frame, request.format)
            if request.format.xlsx:  # the same files as workbooks (DESIGN §13)
                from mediins_cli.xlsx import list_headers, write_workbooks

                made = _document_date(request.month)
                write_workbooks(staging, request.format, made, list_headers(request.lang))
            staging.write("summary.json", json_bytes(summary), PUBLIC)
            manifest = _manifest(request, fingerprint, pack, calendar_name, staging.written)
            if sent is not None:
                manifest["mode"] = "returns"
                manifest["files"].pop("ledger")
                manifest["files"]["instructions"] = f"../instructions-{request.round}/manifest.json"
                manifest["files"]["returns"] = sorted(Path(s.shown).name for s in returns)
            staging.write("manifest.json", json_bytes(manifest), PUBLIC)
            log = _run_log(request, fingerprint, summary, len(staging.written), started, moved)
            staging.write(LOG_NAME, log, PRIVATE)
    return DeductOutcome("ran", run_dir, summary, moved, problems, dates)


def _document_date(month: Month) -> datetime:
    """The date a run's workbooks say they were made: the month's first day, not the clock,
    so the same inputs give the same bytes."""
    return datetime.combine(month.first_day, datetime.min.time())


def _read_inputs(
    request: DeductRequest,
    sources: dict[str, Source],
    dates: RoundDates,
    previous: RoundOne | None,
    progress: Callable[[str], None],
) -> tuple[pl.DataFrame, LedgerPass | None, pl.DataFrame, pl.DataFrame]:
    """Both files checked from the open sources, the ledger reduced to balances, and the
    pre-flight checks; :class:`BadInput` with every problem of both files if any is an error.
    Returns the enrollees, the ledger (None in return mode: no ledger is read), every warning,
    and the pre-flight warnings alone."""
    # the ledger first: its pass is the larger, and only its balances stay for the enrollees
    references = previous.references if previous is not None else None
    ledger: LedgerPass | None = None
    l_problems = problems_frame([])
    if "ledger" in sources:
        progress(_("reading the ledger"))
        try:
            ledger = ledger_balances_at(sources["ledger"], dates.cutoff, references)
            l_problems = ledger.warnings
        except BadInput as exc:
            l_problems = exc.frame
        if ledger is not None and previous is not None:
            # round 2 debits the retry list's accounts alone: the other balances go before
            # the enrollees are read (10 M enrollees: ~0.4 GiB)
            ledger = replace(ledger, balances=retry_balances(ledger.balances, previous))
    if previous is not None:
        # the ledger was the one place to look for round 1's references: they go, out of
        # round 1's state too, before the enrollees are read (10 M enrollees: 0.3 GB)
        previous.references.drop_in_place("reference")
    progress(_("reading enrollees"))
    # in the file's order: the rounds put the rows they write in enrollee_id order
    # themselves, and sort only the rows they attempt (rounds.split_due, rounds.round_two)
    # round 1 sorts the rows by the IDs' keys and joins the balances by the accounts' keys
    # (in return mode it joins nothing); round 2 sorts everyone due by the IDs' keys for
    # updates.csv: the check makes them anyway
    keys: tuple[str, ...] = (ID_KEY,)
    if previous is None and "ledger" in sources:
        keys = (ACCOUNT_KEY, ID_KEY)
    enrollees, e_problems = check_enrollees(sources["enrollees"], keys=keys)
    problems = pl.concat([e_problems, l_problems])
    unread = ledger is None and "ledger" in sources
    if enrollees is None or unread or (problems["severity"] == "error").any():
        raise BadInput(problems)
    for source in sources.values():
        source.check()  # what was parsed is what was hashed
    shown = sources["ledger"].shown if "ledger" in sources else ""
    # summary.json keeps the English (a machine file); the terminal says it in the language
    preflight = _preflight(request, dates, ledger, shown)
    said = preflight if current_lang() == "en" else _preflight(request, dates, ledger, shown, None)
    problems = pl.concat([problems, said])
    if (problems["severity"] == "error").any():
        raise BadInput(problems)
    return enrollees, ledger, problems, preflight


def _no_birth_date(
    attempts: pl.DataFrame, ages: tuple[int | None, int | None], sources: dict[str, Source]
) -> pl.DataFrame:
    """Someone due whose age the pack would judge but whose document gives no birth date (a
    passport, a permit) and whose row gives none: a warning at the row (issue 11)."""
    if ages == (None, None):
        return problems_frame([])
    unknown = attempts.filter(pl.col("birth_date").is_null() & pl.col("retirement_date").is_null())
    return problem_rows(
        unknown,
        "birth_date",
        "NO_BIRTH_DATE",
        pl.lit(
            _(
                "the document gives no birth date: give birth_date (or retirement_date) so "
                "retirement age can be told"
            )
        ),
        sources["enrollees"].shown,
        "warning",
    )


def _transfer_ignored(enrollees: pl.DataFrame, pack: RulePack, source: Source) -> pl.DataFrame:
    """A warning when the file gives ``prior_coverage_end`` and the pack's sources give no
    window to judge it by (issue 11): the dates are ignored, first payments wait as usual."""
    unit = pack.transfer.window_unit
    if unit.value is not None or enrollees["prior_coverage_end"].null_count() == enrollees.height:
        return problems_frame([])
    message = _(
        "rule pack {pack} gives no window for enrolling after earlier coverage ({cited}): the "
        "dates are ignored and a first payment starts a waiting period"
    ).format(pack=pack.id, cited=pack.cite(unit))
    return problems_frame(
        [Problem(source.shown, 0, "prior_coverage_end", "TRANSFER_IGNORED", message, "warning")]
    )


#: DESIGN §3: a ledger whose latest row is older than this before the cut-off is stale
STALE_LEDGER = timedelta(days=7)
STALE_MESSAGE = N_(
    "the ledger's latest row is of {last}, {days} days before the cut-off {cutoff}: is this "
    "the bank's latest export?"
)


def _stored_warning(warning: dict[str, Any], summary: dict[str, Any]) -> str:
    """A warning summary.json keeps (in English, a machine file), in the operator's language:
    said again from the figures the summary holds where its code is known, else as stored."""
    try:
        if warning["code"] == "STALE_LEDGER" and current_lang() != "en":
            last = datetime.fromisoformat(summary["ledger"]["last_posted"])
            cutoff = datetime.fromisoformat(summary["dates"]["cutoff"])
            return _(STALE_MESSAGE).format(
                last=_stamp(last), days=(cutoff - last).days, cutoff=_stamp(cutoff)
            )
    except (KeyError, TypeError, ValueError):
        pass
    return str(warning["message"])


def _preflight(
    request: DeductRequest,
    dates: RoundDates,
    ledger: LedgerPass | None,
    shown: str,
    lang: str | None = "en",
) -> pl.DataFrame:
    """The checks before a round (DESIGN §3): a cut-off in the future is refused (the bank
    cannot have answered yet; a dry run only warns), and a ledger whose latest row is more
    than 7 days before the cut-off is warned about, or refused under ``strict``. Messages in
    ``lang`` (None: the current language)."""
    gettext = translation(lang or current_lang()).gettext
    problems = []
    now = (request.now or now_in_china()).replace(tzinfo=None)
    if dates.cutoff > now:
        problems.append(
            Problem(
                "",
                0,
                "",
                "FUTURE_CUTOFF",
                gettext(
                    "round {round} of {month} counts deposits up to {cutoff}, which is still to "
                    "come (now {now}): the bank cannot have answered yet"
                ).format(
                    round=request.round,
                    month=request.month,
                    cutoff=_stamp(dates.cutoff),
                    now=_stamp(now),
                ),
                "warning" if request.dry_run else "error",
            )
        )
    last = ledger.last_posted if ledger is not None else None
    if last is not None and last < dates.cutoff - STALE_LEDGER:
        problems.append(
            Problem(
                shown,
                0,
                "",
                "STALE_LEDGER",
                gettext(STALE_MESSAGE).format(
                    last=_stamp(last), days=(dates.cutoff - last).days, cutoff=_stamp(dates.cutoff)
                )
                + (gettext(" (refused: --strict)") if request.strict else ""),
                "error" if request.strict else "warning",
            )
        )
    return problems_frame(problems)


def _source_lines(
    request: DeductRequest, fingerprint: dict[str, Any], summary: dict[str, Any]
) -> list[str]:
    """The run log's lines on the other input: the ledger, or the return files."""
    if "ledger" in fingerprint:
        ledger = summary["ledger"]
        return [
            f"ledger {request.ledger} sha256 {fingerprint['ledger']}",
            f"ledger {ledger['rows']} rows, posted {ledger['first_posted']} to "
            f"{ledger['last_posted']}",
        ]
    lines = [f"instructions manifest sha256 {fingerprint['instructions']}"]
    lines += [f"returns {r['file']} sha256 {r['sha256']}" for r in fingerprint["returns"]]
    return lines


def _stamp(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat(sep=" ", timespec="minutes")


LOG_NAME = "run.log"


def _run_log(
    request: DeductRequest,
    fingerprint: dict[str, Any],
    summary: dict[str, Any],
    files: int,
    started: datetime,
    moved: Path | None,
) -> bytes:
    """The run's plain-text log. Counts, dates and hashes only: no names, ID or account numbers.
    It carries the clock, so it is not among the manifest's outputs (those are byte-identical
    on rerun) and replay ignores it."""
    d = summary["dates"]
    lines = [
        f"mediins {__version__}: round {request.round} of {request.month}",
        f"asked for: {request.command or 'mediins deduct'}",
        f"started {started.isoformat(timespec='seconds')} on {socket.gethostname()}, "
        f"pid {os.getpid()}",
        f"rules {summary['rules']}, calendar {summary['calendar']}",
        f"due {d['due']}, effective {d['effective']} ({d['why']}), cut-off {d['cutoff']}",
        f"enrollees {request.enrollees} sha256 {fingerprint['enrollees']}",
        *_source_lines(request, fingerprint, summary),
        *(f"warning {w['code']}: {w['message']}" for w in summary["warnings"]),
        f"attempted {summary['attempted']['enrollees']} ({summary['attempted']['amount']} yuan), "
        f"succeeded {summary['succeeded']['enrollees']} ({summary['succeeded']['amount']}), "
        f"failed {summary['failed']['enrollees']} ({summary['failed']['amount']})",
    ]
    lines += [
        f"failed {reason}: {v['enrollees']} ({v['amount']})"
        for reason, v in summary["failed"]["by_reason"].items()
    ]
    if "continuity" in summary:
        lines.append(f"continuity: {json.dumps(summary['continuity']['by_category'])}")
    if moved is not None:
        lines.append(f"the earlier run was moved aside to {moved}")
    lines.append(f"wrote {files} files; finished {datetime.now(CHINA).isoformat('T', 'seconds')}")
    return ("\n".join(lines) + "\n").encode("utf-8")


# --------------------------------------------------------------------------- the cron day


@dataclass(frozen=True)
class DayPlan:
    """What ``--round auto`` does on a day: the rounds whose effective date it is (the previous
    month's round 2 included, when it rolled into this month), else the next round to come."""

    day: date
    due: tuple[RoundDates, ...]
    next: RoundDates | None
    warning: str | None = None  # e.g. next month's year has no calendar yet


def plan_day(rules: str, calendar_name: str | None, day: date) -> DayPlan:
    """The day's own month must be covered by a calendar (else exit 2, never a guess); a
    neighbouring month that is not only costs the "next round" line a warning."""
    pack = load_pack(rules)
    calendar = make_calendar(calendar_name or pack.schedule.calendar.value)
    this = Month.of(day)
    rounds = list(schedule_dates(pack.schedule, calendar, this))
    warning = None
    for month in (this.shift(-1), this.shift(1)):
        try:
            rounds += schedule_dates(pack.schedule, calendar, month)
        except CalendarNotCovered as exc:
            if month > this:
                warning = str(exc)
    since = Month.of(pack.validity.in_force_from.value)
    rounds = [r for r in rounds if r.month >= since]  # nothing runs before the rules are in force
    due = tuple(sorted((r for r in rounds if r.effective == day), key=lambda r: r.month))
    later = sorted((r for r in rounds if r.effective > day), key=lambda r: r.effective)
    return DayPlan(day, due, later[0] if later else None, warning)


# --------------------------------------------------------------------------- reruns


def _existing_run(run_dir: Path) -> dict[str, Any] | None:
    manifest = run_dir / "manifest.json"
    if not run_dir.exists():
        return None
    if not manifest.is_file():
        raise Refused(
            _("{run_dir} exists but has no manifest.json: not a mediins run; move it").format(
                run_dir=run_dir
            )
        )
    return read_json(manifest)


def _output_path(run_dir: Path, name: str) -> Path:
    """A file a manifest lists, which must lie inside its run directory."""
    relative = Path(name)
    if relative.is_absolute() or ".." in relative.parts:
        raise Refused(
            _("{run_dir}/manifest.json lists {name!r}, outside the run; not a mediins run").format(
                run_dir=run_dir, name=name
            )
        )
    return run_dir / relative


def _damaged(run_dir: Path, manifest: dict[str, Any]) -> list[str]:
    """Output files of a run that are missing or no longer what its manifest says."""
    damaged = []
    for name, entry in manifest["outputs"].items():
        path = _output_path(run_dir, name)
        if not path.is_file() or sha256_file(path) != entry["sha256"]:
            damaged.append(name)
    return sorted(damaged)


def _must_replace(
    request: DeductRequest, run_dir: Path, existing: dict[str, Any], fingerprint: dict[str, Any]
) -> bool:
    """False: the run is there, intact, from the same inputs (nothing to do). True: replace it
    (only with ``force``). Otherwise refuse, saying why."""
    what = _("round {round} of {month}").format(round=request.round, month=request.month)
    stored = existing["inputs"]
    # both ways: a key only the earlier run has (``lang``: its lists were not in English) differs
    changed = sorted(k for k in {*fingerprint, *stored} if stored.get(k) != fingerprint.get(k))
    damaged = _damaged(run_dir, existing)
    if not changed and not damaged:
        return False
    if not request.force:
        if changed == ["lang"]:
            raise Refused(
                _(
                    "{what} already ran in {run_dir} with its agency lists in {was}; its files "
                    "are untouched. Give --lang {code} to see it, or --force to write it again "
                    "in {now} (the earlier run is kept, moved aside)."
                ).format(
                    what=what,
                    run_dir=run_dir,
                    was=_language_name(stored.get("lang", "en")),
                    code=stored.get("lang", "en"),
                    now=_language_name(request.lang),
                ),
                again="--force",
            )
        if changed:
            reason = _("with other inputs ({keys} differ)").format(keys=", ".join(changed))
        else:
            reason = _("but its files changed since ({files})").format(files=", ".join(damaged))
        raise Refused(
            _(
                "{what} already ran in {run_dir} {reason}; its files are untouched. Use --force "
                "to run it again: the earlier run is kept, moved aside."
            ).format(what=what, run_dir=run_dir, reason=reason),
            again="--force",
        )
    later = round_dir(request.out, request.month, 2)
    if request.round == 1 and later.exists():
        raise Refused(
            _(
                "round 2 of {month} has already run on this round 1 ({later}); round 1 can no "
                "longer be replaced"
            ).format(month=request.month, later=later)
        )
    sent = request.out / str(request.month) / "instructions-2"
    if request.round == 1 and sent.exists():
        raise Refused(
            _(
                "round 2's instructions of {month} were made from this round 1 ({sent}) and may "
                "be at the banks already; round 1 can no longer be replaced"
            ).format(month=request.month, sent=sent)
        )
    return True


def _language_name(code: str) -> str:
    return {"en": _("English"), "zh": _("Chinese")}.get(code, code)


@dataclass(frozen=True)
class RoundOne:
    """What round 2 takes from round 1 of the same month."""

    manifest: dict[str, Any]
    manifest_sha: str
    summary: dict[str, Any]
    retry_ids: pl.Series
    #: the accounts of the retry list (as round 1 wrote them beside the IDs; the enrollee file
    #: is the same one, DESIGN §4): round 2 reads no other account's balance
    retry_accounts: pl.Series
    #: the references of round 1's successful debits (the ledger may hold them, DESIGN §4);
    #: emptied once the ledger is read
    references: pl.DataFrame
    #: round 1's success.csv as checked, and how it is encoded: read again for continuity
    #: (:func:`round_one_paid`)
    success: Path
    encoding: str
    #: round 1's debits on the retry list's accounts, per account: account_no, debited_fen
    #: (a shared account's other members may have paid in round 1)
    pending: pl.DataFrame
    #: "ledger" or "returns" (DESIGN §11); round 2 runs the way round 1 did
    mode: str = "ledger"
    #: return mode: round 1's failures round 2 does not attempt (enrollee_id, amount_fen,
    #: reason): unpaid this month all the same
    permanent: pl.DataFrame | None = None


def round_one_state(out: Path, month: Month) -> RoundOne:
    r1 = round_dir(out, month, 1)
    manifest_path = r1 / "manifest.json"
    if not manifest_path.is_file():
        raise Refused(
            _("round 1 of {month} has not run in {out}: run `{command}` first").format(
                month=month,
                out=out,
                command=command_line(f"deduct --round 1 --month {month}", out),
            )
        )
    manifest_bytes = manifest_path.read_bytes()
    manifest = json.loads(manifest_bytes)
    read: dict[str, bytes] = {}
    hashing: dict[str, ThreadedSha256] = {}
    for name, entry in manifest["outputs"].items():
        path = _output_path(r1, name)
        data, digest = None, None
        with contextlib.suppress(OSError):
            data = path.read_bytes() if name in _ROUND_ONE_READS else None
            digest = None if data is not None else sha256_file(path)
        if data is not None:
            # parsed from the very bytes checked, hashed on a thread meanwhile (success.csv
            # at 10 M: 0.8 GB, 0.55 s) and checked before anything parsed is used
            read[name] = data
            hashing[name] = ThreadedSha256()
            hashing[name].update(data)
        elif digest != entry["sha256"]:
            raise _changed_since_round_one(path)
    try:
        return _round_one_read(manifest, manifest_bytes, read, r1)
    finally:  # a file that changed is said as such, before any fault of parsing it
        for name, hashed in hashing.items():
            if hashed.hexdigest() != manifest["outputs"][name]["sha256"]:
                raise _changed_since_round_one(_output_path(r1, name))


def _round_one_read(
    manifest: dict[str, Any], manifest_bytes: bytes, read: dict[str, bytes], r1: Path
) -> RoundOne:
    """:func:`round_one_state` from round 1's files as read (``read``: their bytes by name)."""
    encoding = OutputFormat(**manifest.get("format", {})).read_encoding
    # only the columns round 2 uses are parsed (the files' extra columns can be wide)
    retry = pl.read_csv(
        read["retry.csv"],
        infer_schema=False,
        encoding=encoding,
        columns=["enrollee_id", "account_no"],
    )
    # who paid and when is read again after the debit, for continuity (round_one_paid): not
    # held through the enrollee check, the round's peak (10 M enrollees: 0.6 GB)
    success = pl.read_csv(
        read["success.csv"],
        infer_schema=False,
        encoding=encoding,
        columns=["account_no", "amount", "reference"],
    )
    mode = manifest.get("mode", "ledger")
    permanent = None
    if mode == "returns":
        failure = pl.read_csv(
            read["failure.csv"],
            infer_schema=False,
            encoding=encoding,
            columns=["enrollee_id", "amount", "reason"],
        )
        permanent = failure.filter(~pl.col("enrollee_id").is_in(retry["enrollee_id"].implode()))
        permanent = permanent.select(
            "enrollee_id", yuan_to_fen(pl.col("amount")).alias("amount_fen"), "reason"
        )
    # the amounts of the few accounts round 2 debits again
    retry_accounts = retry.get_column("account_no").unique(maintain_order=True)
    pending = debited_per_account(
        success.filter(pl.col("account_no").is_in(retry_accounts.implode())).select(
            "account_no", yuan_to_fen(pl.col("amount")).alias("amount_fen")
        )
    )
    return RoundOne(
        manifest,
        sha256_bytes(manifest_bytes),
        read_json(r1 / "summary.json"),
        retry.get_column("enrollee_id"),
        retry_accounts,
        success.select("reference"),
        _output_path(r1, "success.csv"),
        encoding,
        pending,
        mode,
        permanent,
    )


def round_one_paid(previous: RoundOne) -> pl.DataFrame:
    """Round 1's successful debits as continuity reads them: ``enrollee_id``, ``paid_on``,
    ``reference``, from success.csv read again, and refused unless its bytes still hash as
    round 1 wrote them. A UTF-8 file is hashed from one open descriptor, parsed through it in
    a streaming pass (no copy of its bytes held), and must not have changed in between."""
    columns = ["enrollee_id", "deducted_on", "reference"]
    changed = _changed_since_round_one(previous.success)
    written = previous.manifest["outputs"]["success.csv"]["sha256"]
    try:
        fd = os.open(previous.success, os.O_RDONLY)
    except OSError:
        raise changed from None
    try:
        before = file_identity(os.fstat(fd))
        if previous.encoding != "utf8":  # decoded whole by polars: parsed from the bytes hashed
            data = Path(f"/proc/self/fd/{fd}").read_bytes()
            if sha256_bytes(data) != written:
                raise changed
            success = pl.read_csv(
                data, infer_schema=False, encoding=previous.encoding, columns=columns
            )
        else:  # hashed on a thread while it is parsed: checked before the rows are used
            hashed: list[str] = []
            hashing = threading.Thread(
                target=lambda: hashed.append(sha256_file(Path(f"/proc/self/fd/{fd}"))),
                name="mediins-sha256",
                daemon=True,
            )
            hashing.start()
            try:
                success = (
                    pl.scan_csv(f"/proc/self/fd/{fd}", infer_schema=False)
                    .select(columns)
                    .collect(engine="streaming")
                )
            finally:
                hashing.join()
                if hashed != [written]:  # (none: the thread could not read the file)
                    raise changed
        if file_identity(os.fstat(fd)) != before:
            raise changed
    finally:
        os.close(fd)
    # a month's few settle dates parsed once each
    paid_on = per_value(success, "deducted_on", lambda d: d.str.to_date("%Y-%m-%d"))
    return success.select("enrollee_id", paid_on.alias("paid_on"), "reference")


def _changed_since_round_one(path: Path) -> Refused:
    return Refused(
        _("{path} is missing or changed since round 1 wrote it; round 2 refused").format(path=path)
    )


def retry_balances(balances: pl.DataFrame, previous: RoundOne) -> pl.DataFrame:
    """The balances of the accounts round 2 debits (its retry list's), the rest let go."""
    accounts = previous.retry_accounts.to_frame("account_no").select(account_key())
    return balances.filter(pl.col("account_key").is_in(accounts.to_series().implode()))


#: what round 2 parses of round 1's files (from the very bytes whose hashes it checked)
_ROUND_ONE_READS = ("retry.csv", "success.csv", "failure.csv")


def _fingerprint(
    request: DeductRequest,
    pack: RulePack,
    calendar: WorkingCalendar,
    dates: RoundDates,
    previous: RoundOne | None,
    sources: dict[str, Source],
) -> dict[str, Any]:
    """What the result depends on; a rerun with the same fingerprint has nothing to do. Every
    hash is of the bytes that were (or will be) parsed (DESIGN §8)."""
    result: dict[str, Any] = {
        "enrollees": sources["enrollees"].sha256,
        **({"ledger": sources["ledger"].sha256} if "ledger" in sources else {}),
        "rules": pack.sha256,
        "calendar": calendar_identity(calendar, _years_consulted(request, dates)),
        # what the calendar decided: a library upgrade that moved a date is another input
        "dates": {"effective": dates.effective.isoformat(), "cutoff": str(dates.cutoff)},
        "format": request.format.as_dict(),
    }
    if request.lang != "en":  # the agency lists' words; absent: English, as before languages
        result["lang"] = request.lang
    if previous is not None:
        result["round_1"] = previous.manifest_sha
    return result


def _years_consulted(request: DeductRequest, dates: RoundDates) -> set[int]:
    """The years whose calendar a round's result depends on: from the due date to the effective
    date, and for round 2 next month's round 1 (shown in the continuity summary)."""
    years = {dates.due.year, dates.effective.year}
    if request.round == 2:
        years.add(request.month.shift(1).year)
    return years


def calendar_identity(calendar: WorkingCalendar, years: set[int]) -> dict[str, Any]:
    """The calendar by name and the operator files of the years consulted: next autumn's new
    file does not make every earlier month "other inputs"."""
    files = {}
    if isinstance(calendar, OfficialCalendar):
        files = {
            Path(f.path).name: f.sha256
            for year, f in sorted(calendar.files.items())
            if year in years
        }
    return {"name": calendar.name, "files": files}


def read_json(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def _continuity(
    result: RoundResult, enrollees: pl.DataFrame, previous: RoundOne, pack: RulePack
) -> Continuity:
    """After round 2: breaks, resumptions and updates of everyone due this month."""
    # the columns continuity works on, for those due, as a plan assess joins onto this month's
    # payments: made once (not a copy, then joined copies). Who they are (name, agency,
    # account) is looked up by row for the few rows that show it.
    # (and the IDs' sort keys, for updates.csv's order, where the enrollee check made them)
    keys = [ID_KEY] if ID_KEY in enrollees.columns else []
    due = (
        enrollees.lazy()
        .select(*(c for c in CONTINUITY_READS if c not in DETAILS), *keys)
        .with_row_index("__enrollee_row")
        .filter(skip_reason(result.month).is_null())
        .drop("status")
    )
    unpaid = result.narrow(FAILURE, "enrollee_id", "amount_fen", "reason")
    if previous.permanent is not None:  # return mode: round 1's permanent failures too
        unpaid = pl.concat([unpaid, previous.permanent]).sort("enrollee_id")
    details = enrollees.select(LOOKED_UP)
    # this month's payments are held by assess alone, which lets go of what it has joined
    rules = ContinuityRules.of(pack)
    return assess(due, result.month, _month_paid(result, previous), unpaid, rules, details)


def _month_paid(result: RoundResult, previous: RoundOne) -> pl.DataFrame:
    """Everyone paid this month, in round 1 or round 2: ``enrollee_id``, ``paid_on``,
    ``reference``."""
    # paid on the effective date, or (return mode) on the day the bank says it settled
    settled = "deducted_on" in result.attempts.columns
    return pl.concat(
        [
            round_one_paid(previous),
            result.narrow(
                SUCCESS, "enrollee_id", "reference", *(["deducted_on"] if settled else [])
            ).select(
                "enrollee_id",
                (pl.col("deducted_on") if settled else pl.lit(result.dates.effective)).alias(
                    "paid_on"
                ),
                "reference",
            ),
        ]
    )


#: the enrollee columns continuity reads (DETAILS among them)
CONTINUITY_READS = (
    "enrollee_id",
    *DETAILS,
    "status",
    "enrolled_on",
    "paid_through",
    "waiting_until",
    "prior_coverage_end",
)


def _next_round_one(pack: RulePack, calendar: WorkingCalendar, month: Month) -> date | None:
    """Next month's round-1 date, or None when no calendar covers it yet."""
    try:
        return schedule_dates(pack.schedule, calendar, month.shift(1))[0].effective
    except CalendarNotCovered:
        return None


# --------------------------------------------------------------------------- output files


def dates_dict(d: RoundDates) -> dict[str, Any]:
    return {
        "round": d.round,
        "due": d.due.isoformat(),
        "effective": d.effective.isoformat(),
        "deposit_by": d.deposit_by.isoformat(),
        "cutoff": d.cutoff.isoformat(sep=" "),
        "rolled": d.roll.rolled,
        "why": d.roll.explanation(),
    }


def _summary(
    result: RoundResult,
    pack: RulePack,
    calendar_name: str,
    previous: RoundOne | None,
    ledger: LedgerPass | None,
    preflight: pl.DataFrame,
) -> dict[str, Any]:
    summary = summarize(result)
    summary.update(rules=pack.id, calendar=calendar_name, dates=dates_dict(result.dates))
    if ledger is not None:
        summary["ledger"] = {
            "rows": ledger.rows,
            "first_posted": _stamp(ledger.first_posted),
            "last_posted": _stamp(ledger.last_posted),
        }
    summary["warnings"] = [
        {"code": r["code"], "message": r["message"]} for r in preflight.iter_rows(named=True)
    ]
    if result.next_dates is not None:
        failed = result.narrow(FAILURE, "amount_fen", "reason")
        if "deducted_on" in result.attempts.columns:  # return mode: the retryable ones only
            failed = failed.filter(pl.col("reason").is_in(RETRYABLE))
        summary["retry"] = {
            "enrollees": failed.height,
            "amount": fen_to_yuan(sum_fen(failed["amount_fen"])),
            "retry_on": result.next_dates.effective.isoformat(),
            "deposit_by": result.next_dates.deposit_by.isoformat(),
        }
    if previous is not None:
        r1 = previous.summary
        due = yuan_text_to_fen(r1["attempted"]["amount"])
        collected = yuan_text_to_fen(r1["succeeded"]["amount"]) + yuan_text_to_fen(
            summary["succeeded"]["amount"]
        )
        summary["month_total"] = {
            "due": {"enrollees": r1["attempted"]["enrollees"], "amount": fen_to_yuan(due)},
            "collected": {
                "enrollees": r1["succeeded"]["enrollees"] + summary["succeeded"]["enrollees"],
                "amount": fen_to_yuan(collected),
            },
            "unpaid": summary["failed"],
            "collection_rate": rate(collected, due),
        }
    return summary


def _manifest(
    request: DeductRequest,
    fingerprint: dict[str, Any],
    pack: RulePack,
    calendar_name: str,
    files: dict[str, Written],
) -> dict[str, Any]:
    """Inputs, rules, calendar, tool and every output with its SHA-256 (DESIGN §8). No paths of
    the output folder and no clock: the same inputs give the same bytes anywhere."""
    names: dict[str, Any] = {
        "enrollees": request.enrollees.name,
        "ledger": request.ledger.name,
        "rules": pack.id,
    }
    if "round_1" in fingerprint:
        names["round_1"] = "../round-1/manifest.json"
    return {
        "tool": {"name": "mediins", "version": __version__},
        "month": str(request.month),
        "round": request.round,
        "rules": pack.id,
        "calendar": calendar_name,
        "inputs": fingerprint,
        "format": request.format.as_dict(),
        "files": names,
        "outputs": {name: {"sha256": f.sha256, "bytes": f.bytes} for name, f in files.items()},
    }
