"""The bank interface's runs (DESIGN §11): ``instruct`` writes a round's instruction files, and
``deduct --returns`` (in :mod:`mediins_cli.runs`) reads the bank's answers through
:class:`SentInstructions`.

The instructions of a round live in ``<out>/<YYYY-MM>/instructions-<n>/``: one file per bank and
a ``manifest.json`` with every file's control totals (count, sum in fen) and SHA-256, the inputs'
SHA-256, the format and the dates. They are written atomically under the month's lock, are
byte-identical on rerun, and follow the rerun rules of DESIGN §8. ``deduct --returns`` derives
the instructions again from the same enrollee file and checks them against this manifest, so
the bank's answers are matched to exactly what was sent.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from mediins_cli import __version__
from mediins_cli.bank.formats import DEFAULT_FORMAT, RETRYABLE, BankFormat, load_format
from mediins_cli.bank.instructions import (
    FILE,
    SEQ,
    control_totals,
    file_bytes,
    instructions,
    reference_prefix,
    unsafe_cells,
)
from mediins_cli.bank.returns import read_returns
from mediins_cli.calendar import RoundDates
from mediins_cli.errors import BadInput, Refused, command_line, message_expr, problem_rows
from mediins_cli.i18n import _
from mediins_cli.inputs import Source, check_enrollees, open_sources
from mediins_cli.money import fen_to_yuan, sum_fen, yuan_text_to_fen
from mediins_cli.months import CHINA, Month
from mediins_cli.order import ID_KEY, by_id
from mediins_cli.outputs import (
    PRIVATE,
    PUBLIC,
    json_bytes,
    month_lock,
    move_aside,
    remove_staging,
    sha256_bytes,
    sha256_file,
    staged_run_dir,
)
from mediins_cli.rounds import (
    FAILURE,
    SUCCESS,
    RoundResult,
    from_returns,
    none_skipped,
    split_due,
)

if TYPE_CHECKING:
    from mediins_cli.runs import DeductRequest, RoundOne


def instructions_dir(out: Path, month: Month, round_no: int) -> Path:
    return out / str(month) / f"instructions-{round_no}"


def attempts_of(
    enrollees: pl.DataFrame,
    month: Month,
    round_no: int,
    retry_ids: pl.Series | None,
    *,
    release: bool = False,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Whom a round instructs (the enrollee rows, ``amount_fen``), and round 1's skipped:
    everyone due in round 1 (DESIGN §4), round 1's retry list in round 2; both in
    ``enrollee_id`` order. ``release``: see :func:`mediins_cli.order.take_rows`."""
    if round_no == 1:
        due, skipped = split_due(enrollees, month, release=release)
    else:
        assert retry_ids is not None
        due = by_id(enrollees.filter(pl.col("enrollee_id").is_in(retry_ids.implode())))
        skipped = none_skipped(enrollees)
    return due.rename({"premium_fen": "amount_fen"}), skipped


# --------------------------------------------------------------------------- instruct


@dataclass(frozen=True)
class InstructRequest:
    round: int
    month: Month
    enrollees: Path
    out: Path
    rules: str
    calendar: str | None = None
    encoding: str = "auto"
    force: bool = False
    bank_format: str | None = None  # None: the generic format
    command: str = ""


@dataclass(frozen=True)
class InstructOutcome:
    """``ran`` or ``unchanged`` (the same inputs: nothing to do)."""

    status: str
    dir: Path
    summary: dict[str, Any]
    moved_aside: Path | None = None
    warnings: pl.DataFrame | None = None  # of the enrollee file (e.g. UNKNOWN_AREA)


def instruct(
    request: InstructRequest, progress: Callable[[str], None] = lambda _: None
) -> InstructOutcome:
    """Write the instruction files of a round (see the module docstring)."""
    from mediins_cli.runs import calendar_identity, month_rules, round_dir, round_one_state

    fmt = load_format(request.bank_format or _round_one_format(request) or DEFAULT_FORMAT)
    pack, calendar_name, calendar, (first, second) = month_rules(
        request.rules, request.calendar, request.month
    )
    dates = first if request.round == 1 else second
    target = instructions_dir(request.out, request.month, request.round)
    what = _("the instructions of round {round} of {month}").format(
        round=request.round, month=request.month
    )
    with contextlib.ExitStack() as stack:
        stack.enter_context(month_lock(target.parent, what))
        remove_staging(target.parent, target.name)
        previous = None
        if request.round == 2:
            previous = round_one_state(request.out, request.month)
            if previous.mode != "returns":
                raise Refused(
                    _(
                        "round 1 of {month} ran on a ledger, not on the bank's return files: "
                        "round 2's instructions are round 1's retryable failures in return mode "
                        "(run round 2 with --ledger instead)"
                    ).format(month=request.month)
                )
        progress(_("reading enrollees"))
        sources = stack.enter_context(
            open_sources({"enrollees": request.enrollees}, request.encoding)
        )
        source = sources["enrollees"]
        if previous is not None and previous.manifest["inputs"]["enrollees"] != source.sha256:
            raise Refused(
                _(
                    "the enrollee file differs from the one round 1 of {month} used ({file}); "
                    "round 2 instructs round 1's retry list and needs the same enrollees"
                ).format(month=request.month, file=previous.manifest["files"]["enrollees"])
            )
        years = {dates.due.year, dates.effective.year}
        fingerprint: dict[str, Any] = {
            "enrollees": source.sha256,
            "rules": pack.sha256,
            "calendar": calendar_identity(calendar, years),
            "dates": {"effective": dates.effective.isoformat(), "cutoff": str(dates.cutoff)},
            "bank_format": fmt.sha256,
        }
        if previous is not None:
            fingerprint["round_1"] = previous.manifest_sha
        replace = False
        if target.exists():
            existing = _read_manifest(target)
            damaged = _damaged(target, existing)
            changed = sorted(k for k in fingerprint if existing["inputs"].get(k) != fingerprint[k])
            if not changed and not damaged:
                return InstructOutcome("unchanged", target, existing["summary"])
            if not request.force:
                message = (
                    _(
                        "{what} are already in {target} from other inputs ({changed} differ); "
                        "they are untouched. Use --force to write them again: the earlier ones "
                        "are kept, moved aside."
                    )
                    if changed
                    else _(
                        "{what} are already in {target} and its files changed since ({changed}); "
                        "they are untouched. Use --force to write them again: the earlier ones "
                        "are kept, moved aside."
                    )
                )
                raise Refused(
                    message.format(what=what, target=target, changed=", ".join(changed or damaged)),
                    again="--force",
                )
            if round_dir(request.out, request.month, request.round).exists():
                raise Refused(
                    _(
                        "round {round} of {month} has already run on these instructions: they "
                        "can no longer be replaced"
                    ).format(round=request.round, month=request.month)
                )
            replace = True
        # round 1 sorts the rows by the IDs' keys, which the check makes anyway
        keys: tuple[str, ...] = (ID_KEY,) if request.round == 1 else ()
        enrollees, problems = check_enrollees(source, keys=keys)
        if enrollees is None or (problems["severity"] == "error").any():
            raise BadInput(problems)
        source.check()
        retry_ids = previous.retry_ids if previous is not None else None
        attempts, skipped = attempts_of(
            enrollees, request.month, request.round, retry_ids, release=True
        )
        del enrollees  # emptied: its rows are in the attempts and the skipped now
        sent = instructions(attempts, request.month, request.round, fmt)
        _check_files(sent, fmt, source.shown)
        totals = control_totals(sent)
        progress(_("writing"))
        summary = {
            "month": str(request.month),
            "round": request.round,
            "format": fmt.id,
            "dates": _dates(dates),
            "instructed": {
                "enrollees": sent.height,
                "amount": fen_to_yuan(sum_fen(sent["amount_fen"])),
            },
            "skipped": skipped.height,
            "files": {
                name: {"count": t.count, "amount": fen_to_yuan(t.sum_fen)}
                for name, t in totals.items()
            },
        }
        # only now, with everything computed: bad input leaves the earlier files where they are
        moved = move_aside(target) if replace else None
        with staged_run_dir(target) as staging:
            files = {}
            # the columns a file can hold, not the enrollees' wide rows
            narrow = sent.select(
                FILE,
                SEQ,
                "reference",
                "account_no",
                "name",
                "amount_fen",
                "enrollee_id",
                "agency",
            )
            for (name,), rows in sorted(narrow.group_by(FILE), key=lambda g: str(g[0][0])):
                written = staging.write(str(name), file_bytes(rows, request.month, fmt), PRIVATE)
                t = totals[str(name)]
                files[str(name)] = {
                    "count": t.count,
                    "sum_fen": t.sum_fen,
                    "sha256": written.sha256,
                }
            manifest = {
                "tool": {"name": "mediins", "version": __version__},
                "month": str(request.month),
                "round": request.round,
                "format": fmt.as_dict(),
                "rules": pack.id,
                "calendar": calendar_name,
                "dates": summary["dates"],
                "inputs": fingerprint,
                "enrollees": request.enrollees.name,
                "files": files,
                "summary": summary,
            }
            staging.write("manifest.json", json_bytes(manifest), PUBLIC)
            log = _log(request, fingerprint, summary, moved)
            staging.write("instruct.log", log, PRIVATE)
    return InstructOutcome("ran", target, summary, moved, problems)


def _round_one_format(request: InstructRequest) -> str | None:
    """Round 2's instructions go to the banks in the format round 1's went in."""
    if request.round != 2:
        return None
    path = instructions_dir(request.out, request.month, 1) / "manifest.json"
    try:
        fid = json.loads(path.read_bytes())["format"]["id"]
    except (OSError, ValueError, KeyError, TypeError):
        return None  # round 2 is refused below, with the reason
    return str(fid)


def _dates(d: RoundDates) -> dict[str, Any]:
    return {
        "due": d.due.isoformat(),
        "effective": d.effective.isoformat(),
        "cutoff": d.cutoff.isoformat(sep=" "),
    }


#: a file name holds 255 bytes; a bank code names one (with its extension)
_MAX_FILE_NAME = 244


def _check_files(sent: pl.DataFrame, fmt: BankFormat, shown: str) -> None:
    """What would make a file the bank cannot read, found before anything is written: two bank
    codes that give one file name, a value holding an unquoted format's delimiter."""
    # enrollees without a bank code share "_" with no code: a code that gives "_" clashes
    code = pl.col("bank").fill_null("\x00")
    clashes = (
        sent.with_columns(pl.col(FILE).str.to_lowercase().alias("__f"))
        .filter(code.n_unique().over("__f") > 1)
        .filter(pl.col("bank").is_not_null())
        if "bank" in sent.columns
        else sent.clear()
    )
    unsafe = sent.filter(unsafe_cells(sent, fmt))
    long = sent.filter(pl.col(FILE).str.len_bytes() > _MAX_FILE_NAME)
    parts = [
        problem_rows(
            long,
            "bank",
            "BAD_BANK",
            pl.lit(
                _("a bank code names its instruction file: at most {n} bytes").format(
                    n=_MAX_FILE_NAME - 4
                )
            ),
            shown,
        ),
        problem_rows(
            clashes,
            "bank",
            "BANK_CLASH",
            message_expr(
                _(
                    "this bank code and another give one instruction file name ({file}): make "
                    "the codes differ by more than case or punctuation"
                ),
                file=pl.col(FILE),
            ),
            shown,
        ),
        problem_rows(
            unsafe,
            "",
            "BANK_DELIMITER",
            pl.lit(
                _(
                    "a value holds {delimiter}, the delimiter of bank format {format}, whose "
                    "files are not quoted: correct it in the master system"
                ).format(delimiter=repr(fmt.delimiter), format=fmt.id)
            ),
            shown,
        ),
    ]
    found = pl.concat(parts)
    if found.height:
        raise BadInput(found)


def _read_manifest(target: Path) -> dict[str, Any]:
    path = target / "manifest.json"
    if not path.is_file():
        raise Refused(
            _(
                "{target} exists but has no manifest.json: not mediins's instructions; move it"
            ).format(target=target)
        )
    data: dict[str, Any] = json.loads(path.read_bytes())
    return data


def _damaged(target: Path, manifest: dict[str, Any]) -> list[str]:
    def intact(name: str) -> bool:
        path = target / name
        inside = "/" not in name and not name.startswith(".")
        return inside and path.is_file() and sha256_file(path) == manifest["files"][name]["sha256"]

    # the files hashed side by side (hashlib lets go of the interpreter): a round's
    # instructions are a file per bank, 100 MB at 1 M enrollees
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        found = dict(zip(manifest["files"], pool.map(intact, manifest["files"]), strict=True))
    return sorted(name for name, ok in found.items() if not ok)


def _log(
    request: InstructRequest,
    fingerprint: dict[str, Any],
    summary: dict[str, Any],
    moved: Path | None,
) -> bytes:
    """Counts, dates and hashes only; it carries the clock, so the manifest does not list it."""
    lines = [
        f"mediins {__version__}: instructions of round {request.round} of {request.month}",
        f"asked for: {request.command or 'mediins instruct'}",
        f"at {datetime.now(CHINA).isoformat(timespec='seconds')}",
        f"format {summary['format']}; effective {summary['dates']['effective']}",
        f"enrollees {request.enrollees} sha256 {fingerprint['enrollees']}",
        f"instructed {summary['instructed']['enrollees']} ({summary['instructed']['amount']} yuan)",
        *(f"file {n}: {f['count']} ({f['amount']})" for n, f in summary["files"].items()),
    ]
    if moved is not None:
        lines.append(f"the earlier instructions were moved aside to {moved}")
    return ("\n".join(lines) + "\n").encode("utf-8")


# --------------------------------------------------------------------------- deduct --returns


@dataclass(frozen=True)
class SentInstructions:
    """A round's instructions as ``deduct --returns`` finds them: checked against their
    manifest, with the bank format they were written in."""

    dir: Path
    manifest: dict[str, Any]
    manifest_sha: str
    format: BankFormat

    def check_enrollees(self, sha256: str) -> None:
        if self.manifest["inputs"]["enrollees"] != sha256:
            raise Refused(
                _(
                    "the enrollee file differs from the one the instructions in {folder} were "
                    "made from ({file}): the bank answered those"
                ).format(folder=self.dir, file=self.manifest["enrollees"])
            )

    def fingerprint(self, returns: list[Source]) -> dict[str, Any]:
        return {
            "instructions": self.manifest_sha,
            "bank_format": self.format.sha256,
            "returns": sorted(
                ({"file": Path(s.shown).name, "sha256": s.sha256} for s in returns),
                key=lambda r: (r["file"], r["sha256"]),
            ),
        }

    def result(
        self,
        enrollees: pl.DataFrame,
        returns: list[Source],
        dates: RoundDates,
        next_dates: RoundDates,
        previous: RoundOne | None,
        *,
        release: bool = False,
    ) -> RoundResult:
        """The round's outcome from the bank's answers. ``release``: see
        :func:`mediins_cli.order.take_rows` (round 1 empties ``enrollees``)."""
        month, number = dates.month, dates.round
        retry_ids = previous.retry_ids if previous is not None else None
        attempts, skipped = attempts_of(enrollees, month, number, retry_ids, release=release)
        sent = instructions(attempts, month, number, self.format)
        totals = control_totals(sent)
        listed = {n: (f["count"], f["sum_fen"]) for n, f in self.manifest["files"].items()}
        if {n: (t.count, t.sum_fen) for n, t in totals.items()} != listed:
            raise Refused(
                _(
                    "the instructions in {folder} are not what these inputs give (other rules or "
                    "calendar?): the bank's answers cannot be matched to them"
                ).format(folder=self.dir)
            )
        what = _("round {round} of {month}").format(round=number, month=month)
        prefix = reference_prefix(month, number)
        answered = read_returns(returns, self.format, sent, prefix, what, dates.effective)
        return from_returns(
            sent, answered.answers, dates, next_dates if number == 1 else None, skipped
        )

    def summary(
        self, result: RoundResult, returns: list[Source], previous: RoundOne | None
    ) -> dict[str, Any]:
        """What summary.json adds in return mode: the mode, the format, the return files, the
        instructions' control totals against their outcome per file (instructed = succeeded +
        failed), and after round 2 the month's unpaid with round 1's permanent failures."""
        a = result.attempts
        by_file = a.group_by(FILE).agg(
            pl.len().alias("count"),
            pl.col("amount_fen").sum().alias("sum"),
            (pl.col("outcome") == SUCCESS).sum().alias("ok"),
            pl.col("amount_fen").filter(pl.col("outcome") == SUCCESS).sum().alias("ok_sum"),
        )
        files = {}
        for r in by_file.sort(FILE).iter_rows(named=True):
            files[r[FILE]] = {
                "instructed": {"enrollees": r["count"], "amount": fen_to_yuan(r["sum"])},
                "succeeded": {"enrollees": r["ok"], "amount": fen_to_yuan(r["ok_sum"] or 0)},
                "failed": {
                    "enrollees": r["count"] - r["ok"],
                    "amount": fen_to_yuan(r["sum"] - (r["ok_sum"] or 0)),
                },
            }
        out: dict[str, Any] = {
            "mode": "returns",
            "bank": {
                "format": self.format.id,
                "instruction_files": files,
                "return_files": sorted(Path(s.shown).name for s in returns),
            },
        }
        if result.round == 1:
            failed = a.filter(pl.col("outcome") == FAILURE)
            permanent = failed.filter(~pl.col("reason").is_in(RETRYABLE))
            out["retry_permanent"] = {
                "enrollees": permanent.height,
                "amount": fen_to_yuan(sum_fen(permanent["amount_fen"])),
                "by_reason": {
                    str(r["reason"]): r["len"]
                    for r in permanent.group_by("reason").len().sort("reason").iter_rows(named=True)
                },
            }
        return out


def month_unpaid(summary: dict[str, Any], previous: RoundOne) -> None:
    """Round 2 in return mode: the month's unpaid are round 2's failures and round 1's
    permanent ones (not attempted again); the collection rate is unchanged."""
    permanent = previous.permanent
    if permanent is None or "month_total" not in summary or permanent.height == 0:
        return
    failed = summary["failed"]
    extra = sum_fen(permanent["amount_fen"])
    total = summary["month_total"]
    total["unpaid"] = {
        "enrollees": failed["enrollees"] + permanent.height,
        "amount": fen_to_yuan(yuan_text_to_fen(failed["amount"]) + extra),
        "round_2": failed,
        "round_1_permanent": {
            "enrollees": permanent.height,
            "amount": fen_to_yuan(extra),
            "by_reason": {
                str(r["reason"]): r["len"]
                for r in permanent.group_by("reason").len().sort("reason").iter_rows(named=True)
            },
        },
    }


def sent_instructions(request: DeductRequest, dates: RoundDates) -> SentInstructions:
    """The round's instructions in ``--out``, checked: present, every file as its manifest
    says, in the format asked for (if one is), and that format's file unchanged since."""
    target = instructions_dir(request.out, request.month, request.round)
    manifest_path = target / "manifest.json"
    instruct = f"instruct --round {request.round} --month {request.month}"  # as advice: the same
    if not manifest_path.is_file():
        raise Refused(
            _(
                "no instructions of round {round} of {month} in {out}: run `{command}` first, "
                "and send its files to the banks"
            ).format(
                round=request.round,
                month=request.month,
                out=request.out,
                command=command_line(instruct, request.out),
            )
        )
    raw = manifest_path.read_bytes()
    manifest: dict[str, Any] = json.loads(raw)
    damaged = _damaged(target, manifest)
    if damaged:
        raise Refused(
            _(
                "the instruction files in {folder} are missing or changed since they were "
                "written ({files}): the bank's answers cannot be matched to them"
            ).format(folder=target, files=", ".join(damaged))
        )
    format_id = manifest["format"]["id"]
    if request.bank_format is not None:  # may only repeat the instructions' (a path, say)
        fmt = load_format(request.bank_format)
        if fmt.id != format_id:
            raise Refused(
                _(
                    "the instructions were written in bank format {format}, not {given}: the "
                    "returns are read in the instructions' format (leave --bank-format out)"
                ).format(format=format_id, given=request.bank_format)
            )
    else:
        fmt = load_format(format_id)
    if fmt.sha256 != manifest["format"]["sha256"]:
        raise Refused(
            _(
                "bank format {format} ({path}) changed since the instructions were written: "
                "restore it, or write the instructions again before sending them: `{command}`"
            ).format(
                format=format_id,
                path=fmt.path,
                command=command_line(instruct, request.out, "--force"),
            )
        )
    if request.round == 2:
        r1 = request.out / str(request.month) / "round-1" / "manifest.json"
        current = sha256_bytes(r1.read_bytes()) if r1.is_file() else None
        if manifest["inputs"].get("round_1") != current:
            raise Refused(
                _(
                    "the instructions in {folder} were made from another run of round 1 (it ran "
                    "again since): write round 2's instructions again (`{command}`) and send "
                    "those to the banks"
                ).format(folder=target, command=command_line(instruct, request.out, "--force"))
            )
    if manifest["dates"]["effective"] != dates.effective.isoformat():
        raise Refused(
            _(
                "the instructions are for {effective}, this round is on {day}: other rules or "
                "calendar?"
            ).format(effective=manifest["dates"]["effective"], day=dates.effective)
        )
    return SentInstructions(target, manifest, sha256_bytes(raw), fmt)
