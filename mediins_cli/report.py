"""Rendering for people (rich) and machines (JSON). Nothing here computes a rule.

Colour only on a terminal (rich's detection; ``NO_COLOR`` honoured). Personal numbers never reach
this module unmasked: problem messages are masked where they are made, summaries are counts.

For people, in the operator's language (``_()``, DESIGN §13), with thousands separators and
dates as people write them (2024年2月18日 星期日 in Chinese); the JSON keeps codes and plain
numbers. Narrow terminals (80 columns, PuTTY's default): ids, dates and codes are never cut; a
table that cannot keep them whole at the console's width is printed stacked, one row a block.
Off a terminal the width is ``COLUMNS`` (default 80) and lines carry no padding.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import IO, TYPE_CHECKING, Any

from rich import box
from rich.cells import cell_len
from rich.console import Console
from rich.table import Table
from rich.text import Text

from mediins_cli.calendar import Roll, RoundDates
from mediins_cli.errors import format_problems
from mediins_cli.i18n import (
    N_,
    _,
    amount,
    count,
    current_lang,
    date_text,
    month_text,
    ngettext,
    percent,
)
from mediins_cli.rules import RulePack
from mediins_cli.words import word

if TYPE_CHECKING:  # the engine's modules and polars load when a command uses them
    import polars as pl

    from mediins_cli.bank.formats import BankFormat
    from mediins_cli.bank.run import InstructOutcome
    from mediins_cli.inputs import Validated
    from mediins_cli.replay import ReplayReport
    from mediins_cli.runs import DeductOutcome

SHOWN_PROBLEMS = 50
SHOWN_WARNINGS_PER_CODE = 5
#: the width off a terminal when ``COLUMNS`` does not say (a pipe, a log, cron's mail)
PIPE_COLUMNS = 80


class _Unpadded:
    """A text stream that drops the spaces rich pads a line with (tables, wrapped text): piped
    output and logs stay free of trailing blanks."""

    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream
        self._pending = ""

    def write(self, text: str) -> int:
        lines = (self._pending + text).split("\n")
        self._pending = lines.pop()
        if lines:
            self._stream.write("".join(line.rstrip(" ") + "\n" for line in lines))
        return len(text)

    def flush(self) -> None:
        if self._pending:
            self._stream.write(self._pending)
            self._pending = ""
        self._stream.flush()

    def isatty(self) -> bool:
        return False

    def fileno(self) -> int:
        return self._stream.fileno()

    @property
    def encoding(self) -> str:
        return getattr(self._stream, "encoding", "utf-8") or "utf-8"


def _columns() -> int:
    text = os.environ.get("COLUMNS", "")
    return int(text) if text.isdigit() and int(text) > 0 else PIPE_COLUMNS


def console(stderr: bool = False) -> Console:
    """A console on stdout (or stderr): the terminal's width on a terminal, else ``COLUMNS``
    (default 80) without padded lines."""
    stream = sys.stderr if stderr else sys.stdout
    options: dict[str, Any] = {"highlight": False, "soft_wrap": False, "emoji": False}
    if stream.isatty():
        return Console(file=stream, **options)
    return Console(file=_Unpadded(stream), width=_columns(), **options)  # type: ignore[arg-type]


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2, default=str) + "\n")


def _ordinal(n: int) -> str:
    if current_lang() == "zh":
        return f"{n}日"
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _day(d: date) -> str:
    """A date on the terminal: ``2024-02-18 Sun``; in Chinese ``2024年2月18日 星期日``."""
    return date_text(d)


def _month(m: object) -> str:
    return month_text(str(m))


# --------------------------------------------------------------------------- tables


@dataclass(frozen=True)
class Column:
    """A column of a table on the terminal. ``whole``: ids, dates, codes and numbers, never
    wrapped or cut; otherwise text that wraps between words."""

    heading: str
    whole: bool = True
    justify: str = "left"


def _min_width(cell: str, whole: bool) -> int:
    """The narrowest a cell can be without cutting an id, a date or a code: a whole cell's
    width; in text, its longest word that holds a letter or a digit of ASCII (Chinese prose
    may fold anywhere, as it is written)."""
    if whole:
        return max((cell_len(line) for line in cell.splitlines()), default=0)
    widths = [cell_len(w) for w in cell.split() if any(c.isascii() and c.isalnum() for c in w)]
    return max(widths, default=2)


def print_table(
    out: Console,
    columns: list[Column],
    rows: Sequence[tuple[Sequence[str], str | None]],
    title: str | None = None,
) -> None:
    """``rows`` (cells, style) as a table when it fits the console's width with every whole
    cell whole; else stacked: each row's first cell, then ``heading: cell`` lines below it."""
    if _fits(out, columns, rows):
        table = Table(title=title, box=box.SIMPLE_HEAVY, title_justify="left")
        for c in columns:
            table.add_column(
                c.heading,
                justify=c.justify,  # type: ignore[arg-type]
                no_wrap=c.whole,
                overflow="fold",
            )
        for cells, style in rows:
            table.add_row(*cells, style=style)
        out.print(table)
        return
    if title:
        out.print(Text(title, style="bold"))
    for cells, style in rows:
        out.print(Text(cells[0], style=style or ""))
        for c, cell in zip(columns[1:], cells[1:], strict=True):
            if cell:
                shown = cell.replace("\n", "\n    ")
                out.print(Text("  " + c.heading + _(": ") + shown, style=style or ""))


# --------------------------------------------------------------------------- calendar


def round_dict(r: RoundDates) -> dict[str, Any]:
    return {
        "month": str(r.month),
        "round": r.round,
        "due": r.due.isoformat(),
        "effective": r.effective.isoformat(),
        "deposit_by": r.deposit_by.isoformat(),
        "deposit_by_stated": r.deposit_by_stated.isoformat() if r.deposit_by_stated else None,
        "cutoff": r.cutoff.isoformat(sep=" "),
        "rolled": r.roll.rolled,
        "why": r.roll.explanation(),
        "calendar_source": r.roll.landing.source,
    }


def _deposit_by(pack: RulePack, r: RoundDates) -> str:
    """The deposit-by date (DESIGN §2: the day before the effective date), and, when the round
    rolled away from it, the day the source itself names (000 §一: 11日 / 24日 / 2月21日)."""
    shown = _day(r.deposit_by)
    if r.deposit_by_stated is None or r.deposit_by_stated == r.deposit_by:
        return shown
    s = pack.schedule
    cited = s.deposit_day_round_1 if r.round == 1 else s.deposit_day_round_2
    return f"{shown}\n({cited.source}: {_day(r.deposit_by_stated)})"


def why(roll: Roll) -> str:
    """Why a round's date is what it is (:meth:`Roll.explanation`), in the language."""
    return roll.explanation(current_lang())


def render_calendar(
    out: Console, pack: RulePack, calendar_name: str, rounds: list[RoundDates], title: str
) -> None:
    """Both rounds' dates per month and why; at a narrow width the reasons go below the table,
    narrower still the rounds are stacked."""
    columns = [
        Column(_("month")),
        Column(_("round")),
        Column(_("due")),
        Column(_("effective")),
        Column(_("deposit by"), whole=False),
    ]
    rows = [
        (
            [_month(r.month), str(r.round), _day(r.due), _day(r.effective), _deposit_by(pack, r)],
            "yellow" if r.roll.rolled else None,
        )
        for r in rounds
    ]
    reasons = [why(r.roll) for r in rounds]
    full = [([*cells, reason], style) for (cells, style), reason in zip(rows, reasons, strict=True)]
    wide = [*columns, Column(_("why"), whole=False)]
    if _fits(out, wide, full) or not _fits(out, columns, rows):
        print_table(out, wide, full, title)
    else:
        print_table(out, columns, rows, title)
        for r, reason in zip(rounds, reasons, strict=True):
            head = _("{month} round {round}").format(month=_month(r.month), round=r.round)
            out.print(f"{head}: {reason}", markup=False, style="yellow" if r.roll.rolled else None)
    sources = sorted({r.roll.landing.source for r in rounds})
    s = pack.schedule
    out.print(
        _(
            "rules {pack}: round 1 on the {day_1}, round 2 on the {day_2} ({day_feb} in "
            "February), rest days rolled to the next working day ({cited}); calendar {calendar} "
            "({sources})"
        ).format(
            pack=pack.id,
            day_1=_ordinal(s.round_1_day.value),
            day_2=_ordinal(s.round_2_day.value),
            day_feb=_ordinal(s.round_2_day_february.value),
            cited=pack.cite(s.round_1_day),
            calendar=calendar_name,
            sources=", ".join(sources),
        ),
        markup=False,
    )
    out.print(_("deposits count if posted before 00:00 of the effective date"), style="dim")
    if any(r.deposit_by_stated not in (None, r.deposit_by) for r in rounds):
        out.print(
            _(
                "deposit by: the day before the effective date (DESIGN §2); in brackets, the day "
                "the source names for a round that does not roll ({cited})"
            ).format(cited=s.deposit_day_round_1.source),
            style="dim",
            markup=False,
        )


def _fits(
    out: Console, columns: list[Column], rows: Sequence[tuple[Sequence[str], str | None]]
) -> bool:
    needed = 1 + sum(
        3 + max([_min_width(c.heading, True), *(_min_width(r[i], c.whole) for r, _ in rows)])
        for i, c in enumerate(columns)
    )
    return needed <= out.width


# --------------------------------------------------------------------------- rules


def render_pack_list(out: Console, packs: list[RulePack], default: str) -> None:
    rows = []
    for p in packs:
        local = sum(1 for _k, v, _s in p.items() if v.is_local)
        marker = " " + _("(default)") if p.id == default else ""
        rows.append(([p.id + marker, p.region, p.title, count(local)], None))
    columns = [
        Column(_("id")),
        Column(_("region"), whole=False),
        Column(_("title"), whole=False),
        Column(_("local settings"), justify="right"),
    ]
    print_table(out, columns, rows)


def pack_dict(pack: RulePack) -> dict[str, Any]:
    return {
        "id": pack.id,
        "title": pack.title,
        "region": pack.region,
        "summary": pack.summary,
        "path": pack.path,
        "sources": {k: {"file": s.file, "title": s.title} for k, s in pack.sources.items()},
        "rules": {
            key: {"value": value.value, "source": value.source, "note": value.note}
            for key, value, _ in pack.items()
        },
    }


def render_pack(out: Console, pack: RulePack) -> None:
    """Every value with its source; through a pager on a terminal when longer than the
    screen (the regulations' own words are shown as they are)."""
    if out.is_terminal:
        with out.capture() as captured:
            _render_pack(out, pack)
        if captured.get().count("\n") > out.height:
            with out.pager():
                _render_pack(out, pack)
            return
    _render_pack(out, pack)


def _render_pack(out: Console, pack: RulePack) -> None:
    out.print(Text.assemble((pack.id, "bold"), "  ", pack.title))
    out.print(f"{pack.region} — {pack.summary}", markup=False)
    out.print(_("file: {path}").format(path=pack.path), markup=False)
    for key, source in pack.sources.items():
        out.print(
            _("source {key}: {file} {title}").format(key=key, file=source.file, title=source.title),
            markup=False,
        )
    rows = []
    for key, value, _s in pack.items():
        shown = (
            _("not stated")
            if value.value is None
            else str(value.value).lower()
            if isinstance(value.value, bool)
            else str(value.value)
        )
        cited = _("local setting") if value.is_local else value.source
        rows.append(([key, shown, cited, value.note], "yellow" if value.is_local else None))
    columns = [
        Column(_("rule")),
        Column(_("value"), whole=False),
        Column(_("source"), whole=False),
        Column(_("note"), whole=False),
    ]
    print_table(out, columns, rows)


# --------------------------------------------------------------------------- validation


def inputs_summary(inputs: Validated) -> dict[str, Any]:
    """Counts an operator checks before a run; no personal data."""
    import polars as pl

    from mediins_cli.inputs import extra_columns
    from mediins_cli.rounds import account_key

    e, ledger = inputs.enrollees, inputs.ledger
    per_account = e.group_by("account_no").len()
    # the ledger's balances are keyed by rounds.account_key (its accounts are all digits)
    keys = e.select(account_key().alias("account_key"))
    missing = keys.join(ledger.balances.select("account_key"), on="account_key", how="anti").height
    status = dict(e.group_by("status").len().sort("status").iter_rows())
    return {
        "files": inputs.encodings,
        "enrollees": {
            "rows": e.height,
            "by_status": status,
            "agencies": e["agency"].n_unique(),
            "accounts": per_account.height,
            "shared_accounts": per_account.filter(pl.col("len") > 1).height,
            "without_ledger_rows": missing,
            "extra_columns": extra_columns(e),
        },
        "ledger": {
            "rows": ledger.rows,
            "accounts": ledger.balances.height,
            "first_posted": _when(ledger.first_posted),
            "last_posted": _when(ledger.last_posted),
            "with_reference": ledger.with_reference,
        },
        "warnings": inputs.warnings.height,
    }


def _when(moment: datetime | None) -> str | None:
    return None if moment is None else str(moment)


def render_inputs_summary(out: Console, summary: dict[str, Any]) -> None:
    e, ledger = summary["enrollees"], summary["ledger"]
    for path, encoding in summary["files"].items():
        out.print(_("read {path} ({encoding})").format(path=path, encoding=encoding), markup=False)
    by_status = _(", ").join(f"{word(k)} {count(v)}" for k, v in e["by_status"].items())
    out.print(
        _(
            "enrollees: {rows} ({by_status}); {agencies} agencies; {accounts} accounts, "
            "{shared} shared; {missing} without any ledger row"
        ).format(
            rows=count(e["rows"]),
            by_status=by_status,
            agencies=count(e["agencies"]),
            accounts=count(e["accounts"]),
            shared=count(e["shared_accounts"]),
            missing=count(e["without_ledger_rows"]),
        ),
        markup=False,
    )
    if e["extra_columns"]:
        out.print(
            _("extra columns carried through: {columns}").format(
                columns=", ".join(e["extra_columns"])
            ),
            markup=False,
        )
    out.print(
        _(
            "ledger: {rows} rows on {accounts} accounts, {first} to {last}; {references} with a "
            "reference"
        ).format(
            rows=count(ledger["rows"]),
            accounts=count(ledger["accounts"]),
            first=ledger["first_posted"],
            last=ledger["last_posted"],
            references=count(ledger["with_reference"]),
        ),
        markup=False,
    )


def render_problems(
    out: Console,
    problems: pl.DataFrame,
    limit: int = SHOWN_PROBLEMS,
    warnings_per_code: int = SHOWN_WARNINGS_PER_CODE,
) -> None:
    """The first ``limit`` errors, then a few warnings of each kind, then what was left out.
    One problem, one line: never wrapped, so an editor or grep can use it."""
    import polars as pl

    errors = problems.filter(pl.col("severity") == "error")
    warnings = problems.filter(pl.col("severity") != "error")
    for line in format_problems(errors, limit):
        out.print(line, markup=False, style="red", soft_wrap=True)
    if errors.height > limit:
        out.print(
            _("… and {n} more errors (--errors PATH writes every one)").format(
                n=count(errors.height - limit)
            ),
            markup=False,
        )
    for (code,), group in warnings.group_by("code", maintain_order=True):
        for line in format_problems(group, warnings_per_code):
            out.print(line, markup=False, style="yellow", soft_wrap=True)
        if group.height > warnings_per_code:
            out.print(
                _("… and {n} more {code} warnings").format(
                    n=count(group.height - warnings_per_code), code=code
                ),
                markup=False,
            )
    if problems.height > 1:
        out.print(
            _("{errors} error(s), {warnings} warning(s)").format(
                errors=count(errors.height), warnings=count(warnings.height)
            )
        )


# --------------------------------------------------------------------------- deduction rounds


def _yuan(text: str) -> str:
    return _("{amount} yuan").format(amount=amount(text))


def render_round(out: Console, outcome: DeductOutcome) -> None:
    """The terminal summary of a round: dates and why, outcomes by reason, what comes next.
    A line that ends in a path is never wrapped: it is copied whole from the screen."""
    s = outcome.summary
    d = s["dates"]
    heading = {
        "ran": _("done"),
        "unchanged": _("already ran with these inputs: nothing to do"),
        "dry_run": _("dry run: nothing written"),
    }[outcome.status]
    title = _("{month} round {round}").format(month=_month(s["month"]), round=s["round"])
    out.print(Text.assemble((title, "bold"), f" — {heading}"))
    reason = why(outcome.dates.roll) if outcome.dates is not None else d["why"]
    out.print(
        _(
            "rules {rules}, calendar {calendar}; due {due}, effective {effective} ({why}); "
            "deposits counted up to {cutoff}"
        ).format(
            rules=s["rules"],
            calendar=s["calendar"],
            due=_day(_iso(d["due"])),
            effective=_day(_iso(d["effective"])),
            why=reason,
            cutoff=d["cutoff"],
        ),
        markup=False,
    )
    if "ledger" in s:
        ledger = s["ledger"]
        out.print(
            _("ledger: {rows} rows, posted {first} to {last}").format(
                rows=count(ledger["rows"]), first=ledger["first_posted"], last=ledger["last_posted"]
            ),
            markup=False,
        )
    if "bank" in s:
        bank = s["bank"]
        out.print(
            _("bank format {format}; return files: {files}").format(
                format=bank["format"], files=", ".join(bank["return_files"])
            ),
            markup=False,
        )
    rows: list[tuple[Sequence[str], str | None]] = [
        (
            [
                _("succeeded"),
                "",
                count(s["succeeded"]["enrollees"]),
                amount(s["succeeded"]["amount"]),
            ],
            "green",
        )
    ]
    for code, v in s["failed"]["by_reason"].items():
        rows.append(([_("failed"), word(code), count(v["enrollees"]), amount(v["amount"])], "red"))
    for code, n in s["skipped"]["by_reason"].items():
        rows.append(([_("skipped"), word(code), count(n), ""], "dim"))
    rows.append(
        (
            [
                _("attempted"),
                "",
                count(s["attempted"]["enrollees"]),
                amount(s["attempted"]["amount"]),
            ],
            "bold",
        )
    )
    columns = [
        Column(_("outcome")),
        Column(_("reason")),
        Column(_("enrollees"), justify="right"),
        Column(_("amount (yuan)"), justify="right"),
    ]
    print_table(out, columns, rows)
    rate = s["collection_rate"]
    out.print(
        _("collection rate {amount} of the amount due, {enrollees} of the enrollees").format(
            amount=percent(rate["amount"]), enrollees=percent(rate["enrollees"])
        )
    )
    if "retry_permanent" in s and s["retry_permanent"]["enrollees"]:
        p = s["retry_permanent"]
        reasons = _("; ").join(
            f"{word(code)} {count(n)}" for code, n in p.get("by_reason", {}).items()
        )
        out.print(
            _(
                "{n} enrollees ({amount}) failed for a reason round 2 does not retry "
                "({reasons}): the agencies' lists say what to correct in the master system "
                "before next month"
            ).format(n=count(p["enrollees"]), amount=_yuan(p["amount"]), reasons=reasons),
            markup=False,
        )
    if s.get("milestones", {}).get("retirement"):
        m = s["milestones"]
        agencies = ", ".join(f"{a} {count(n)}" for a, n in m["by_agency"].items())
        out.print(
            _(
                "{n} enrollees due have reached retirement by the month's end (milestones.csv; "
                "by agency: {agencies}): debited as usual, the master system decides by their "
                "contribution years"
            ).format(n=count(m["retirement"]), agencies=agencies),
            markup=False,
        )
    if "retry" in s:
        r = s["retry"]
        out.print(
            _(
                "{n} enrollees ({amount}) must deposit by {deposit_by} for round 2 on {retry_on}"
            ).format(
                n=count(r["enrollees"]),
                amount=_yuan(r["amount"]),
                deposit_by=_day(_iso(r["deposit_by"])),
                retry_on=_day(_iso(r["retry_on"])),
            ),
            markup=False,
        )
    if "month_total" in s:
        t = s["month_total"]
        out.print(
            _(
                "month {month}: {collected} of {due} yuan collected ({rate}); {unpaid} enrollees "
                "unpaid after round 2"
            ).format(
                month=_month(s["month"]),
                collected=amount(t["collected"]["amount"]),
                due=amount(t["due"]["amount"]),
                rate=percent(t["collection_rate"]),
                unpaid=count(t["unpaid"]["enrollees"]),
            ),
            markup=False,
        )
    if "continuity" in s:
        render_continuity(out, s["continuity"])
    if outcome.moved_aside is not None:
        out.print(
            _("the earlier run was moved aside to {path}").format(path=outcome.moved_aside),
            markup=False,
            soft_wrap=True,
        )
    if outcome.status != "dry_run":
        out.print(_("files: {path}").format(path=outcome.run_dir), markup=False, soft_wrap=True)


def render_instructions(out: Console, outcome: InstructOutcome) -> None:
    """The terminal summary of ``instruct``: per instruction file, the control totals."""
    s = outcome.summary
    heading = {
        "ran": _("written"),
        "unchanged": _("already written from these inputs: nothing to do"),
    }
    title = _("{month} round {round} instructions").format(
        month=_month(s["month"]), round=s["round"]
    )
    out.print(Text.assemble((title, "bold"), f" — {heading[outcome.status]}"))
    d = s["dates"]
    out.print(
        _("bank format {format}; effective {effective}; {skipped} enrollees not due").format(
            format=s["format"], effective=_day(_iso(d["effective"])), skipped=count(s["skipped"])
        ),
        markup=False,
    )
    rows: list[tuple[Sequence[str], str | None]] = [
        ([name, count(f["count"]), amount(f["amount"])], None) for name, f in s["files"].items()
    ]
    total = s["instructed"]
    rows.append(([_("total"), count(total["enrollees"]), amount(total["amount"])], "bold"))
    columns = [
        Column(_("file")),
        Column(_("instructions"), justify="right"),
        Column(_("amount (yuan)"), justify="right"),
    ]
    print_table(out, columns, rows)
    if outcome.moved_aside is not None:
        out.print(
            _("the earlier instructions were moved aside to {path}").format(
                path=outcome.moved_aside
            ),
            markup=False,
            soft_wrap=True,
        )
    out.print(_("files: {path}").format(path=outcome.dir), markup=False, soft_wrap=True)


def render_bank_formats(out: Console, formats: list[BankFormat], default: str) -> None:
    rows: list[tuple[Sequence[str], str | None]] = []
    for f in formats:
        marker = " " + _("(default)") if f.id == default else ""
        rows.append(
            (
                [
                    f.id + marker,
                    f.name,
                    f.encoding,
                    repr(f.delimiter),
                    _("yes") if f.header else _("no: by position"),
                    f.amount_unit,
                ],
                None,
            )
        )
    columns = [
        Column(_("id")),
        Column(_("name"), whole=False),
        Column(_("encoding")),
        Column(_("delimiter")),
        Column(_("header"), whole=False),
        Column(_("amounts")),
    ]
    print_table(out, columns, rows)


def bank_format_dict(f: BankFormat) -> dict[str, Any]:
    return {
        "id": f.id,
        "name": f.name,
        "encoding": f.encoding,
        "delimiter": f.delimiter,
        "header": f.header,
        "amount_unit": f.amount_unit,
        "instruction_columns": list(f.instruction),
        "return_columns": list(f.returns),
        "results": f.results,
    }


#: what each category means, in the operator's language where it is shown
CATEGORY_MEANING = {
    "NEW_BREAK": N_("first unpaid month is this one; continuity can still be kept"),
    "ONGOING": N_("gap began earlier; still inside the window"),
    "WAITING_RESET": N_("gap inside the waiting period: a new one starts on resuming"),
    "CONTINUITY_LOST": N_("this month takes the gap past the window"),
    "LOST_BEFORE": N_("past the window already; still unpaid"),
    "RESUMED_CONTINUOUS": N_("paid after a gap inside the window: continuous"),
    "RESUMED_WAITING_RESET": N_("paid after a gap in the waiting period: new waiting period"),
    "RESUMED_NEW_ENROLLMENT": N_(
        "paid after a gap past the window: new enrollee, new waiting period"
    ),
    "FIRST_PAYMENT": N_("paid for the first time: the waiting period starts the next day"),
    "CONTINUOUS_TRANSFER": N_("first payment soon after earlier coverage: continuous, no waiting"),
}


def render_continuity(out: Console, c: dict[str, Any]) -> None:
    """Who now has a gap, by category and agency, how long the gaps are, what comes next."""
    out.print(
        Text.assemble(
            (_("continuity"), "bold"),
            _(": {n} enrollees unpaid after round 2, {amount} not collected this month").format(
                n=count(c["breaks"]), amount=_yuan(c["amount_not_collected"])
            ),
        )
    )
    rows: list[tuple[Sequence[str], str | None]] = []
    for category, n in c["by_category"].items():
        if n:
            rows.append(([word(category), count(n), _(CATEGORY_MEANING[category])], None))
    for category, n in c["resumptions"].items():
        rows.append(([word(category), count(n), _(CATEGORY_MEANING[category])], "green"))
    for event, key in (
        ("FIRST_PAYMENT", "first_payments"),
        ("CONTINUOUS_TRANSFER", "continuous_transfers"),
    ):
        if c.get(key):
            rows.append(([word(event), count(c[key]), _(CATEGORY_MEANING[event])], "green"))
    if rows:
        columns = [
            Column(_("category")),
            Column(_("enrollees"), justify="right"),
            Column(_("meaning"), whole=False),
        ]
        print_table(out, columns, rows)
    else:
        out.print(_("no breaks and no resumptions this month"))
    if c["by_agency"]:
        worst = ", ".join(
            f"{a['agency']} {count(a['breaks'])} ({amount(a['amount'])})"
            for a in c["by_agency"][:10]
        )
        more = len(c["by_agency"]) - 10
        line = _("by agency, most first: {agencies}").format(agencies=worst)
        if more > 0:
            line += _(", … {n} more").format(n=count(more))
        out.print(line, markup=False)
    if c["unpaid_months"]:
        lengths = ", ".join(
            # "4+" gathers the long gaps (continuity.summarize_continuity): plural
            ngettext("{k} month: {n}", "{k} months: {n}", int(k.rstrip("+"))).format(
                k=k, n=count(n)
            )
            for k, n in c["unpaid_months"].items()
        )
        out.print(_("gap lengths: {lengths}").format(lengths=lengths), markup=False)
    if c["resume_by"]:
        deadlines = ", ".join(
            _("{n} by {month}").format(n=count(n), month=_month(m))
            for m, n in c["resume_by"].items()
        )
        out.print(_("to keep continuity, pay again: {deadlines}").format(deadlines=deadlines))
    if c["next_round_one"]:
        out.print(
            _("next month's round 1: {day}").format(day=_day(_iso(c["next_round_one"]))),
            markup=False,
        )
    else:
        out.print(
            _("next month's round 1: no calendar covers it yet (add rules/calendars/<year>.toml)"),
            markup=False,
        )


def _iso(text: str) -> date:
    return date.fromisoformat(text)


# --------------------------------------------------------------------------- replay


def render_replay(out: Console, result: ReplayReport) -> None:
    """Every difference by file, row and column (masked), then one line of totals."""
    for note in result.notes:
        out.print(note, markup=False, style="dim", soft_wrap=True)
    for difference in result.differences:
        out.print(str(difference), markup=False, style="red", soft_wrap=True)
    months = (
        _("{n} months ({first} … {last})").format(
            n=len(result.months), first=result.months[0], last=result.months[-1]
        )
        if result.months
        else _("no months")
    )
    if result.updated:
        out.print(
            _("replayed {months}; rewrote {n} expected folders").format(
                months=months, n=len(result.updated)
            ),
            markup=False,
        )
    elif result.ok:
        out.print(
            Text.assemble(
                _("replayed {months}: {n} files compared, ").format(
                    months=months, n=count(result.files_compared)
                ),
                (_("no differences"), "green"),
            )
        )
    else:
        files = len({(d.month, d.round, d.file) for d in result.differences})
        out.print(
            Text.assemble(
                _("replayed {months}: {n} files compared, ").format(
                    months=months, n=count(result.files_compared)
                ),
                (_("{n} differ").format(n=files), "red"),
            )
        )
