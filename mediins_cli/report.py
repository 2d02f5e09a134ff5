"""Rendering for people (rich) and machines (JSON). Nothing here computes a rule.

Colour only on a terminal (rich's detection; ``NO_COLOR`` honoured). Personal numbers never reach
this module unmasked: problem messages are masked where they are made, summaries are counts.
"""

from __future__ import annotations

import json
import sys
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from rich import box
from rich.console import Console
from rich.table import Table

from mediins_cli.calendar import RoundDates, weekday_name
from mediins_cli.errors import format_problems
from mediins_cli.rules import RulePack

if TYPE_CHECKING:  # the engine's modules and polars load when a command uses them
    import polars as pl

    from mediins_cli.bank.formats import BankFormat
    from mediins_cli.bank.run import InstructOutcome
    from mediins_cli.inputs import Validated
    from mediins_cli.replay import ReplayReport
    from mediins_cli.runs import DeductOutcome

SHOWN_PROBLEMS = 50
SHOWN_WARNINGS_PER_CODE = 5


def console(stderr: bool = False) -> Console:
    stream = sys.stderr if stderr else sys.stdout
    # Off a terminal rich would wrap at 80 columns; a log or a pipe is better served wider.
    width = None if stream.isatty() else 160
    return Console(file=stream, width=width, highlight=False, soft_wrap=False, emoji=False)


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2, default=str) + "\n")


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _day(d: date) -> str:
    return f"{d} {weekday_name(d)[:3]}"


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


def render_calendar(
    out: Console, pack: RulePack, calendar_name: str, rounds: list[RoundDates], title: str
) -> None:
    table = Table(title=title, box=box.SIMPLE_HEAVY, title_justify="left")
    for heading in ("month", "round", "due", "effective", "deposit by", "why"):
        table.add_column(heading, no_wrap=heading != "why")
    for r in rounds:
        style = "yellow" if r.roll.rolled else None
        table.add_row(
            str(r.month),
            str(r.round),
            _day(r.due),
            _day(r.effective),
            _deposit_by(pack, r),
            r.roll.explanation(),
            style=style,
        )
    out.print(table)
    sources = sorted({r.roll.landing.source for r in rounds})
    s = pack.schedule
    out.print(
        f"rules {pack.id}: round 1 on the {_ordinal(s.round_1_day.value)}, round 2 on the "
        f"{_ordinal(s.round_2_day.value)} ({_ordinal(s.round_2_day_february.value)} in February), "
        f"rest days rolled to the next working day ({pack.cite(s.round_1_day)}); "
        f"calendar {calendar_name} ({', '.join(sources)})",
        markup=False,
    )
    out.print("deposits count if posted before 00:00 of the effective date", style="dim")
    if any(r.deposit_by_stated not in (None, r.deposit_by) for r in rounds):
        out.print(
            "deposit by: the day before the effective date (DESIGN §2); in brackets, the day "
            f"the source names for a round that does not roll ({s.deposit_day_round_1.source})",
            style="dim",
            markup=False,
        )


# --------------------------------------------------------------------------- rules


def render_pack_list(out: Console, packs: list[RulePack], default: str) -> None:
    table = Table(box=box.SIMPLE_HEAVY)
    for heading in ("id", "region", "title", "local settings"):
        table.add_column(heading)
    for p in packs:
        local = sum(1 for _, v, _ in p.items() if v.is_local)
        marker = " (default)" if p.id == default else ""
        table.add_row(p.id + marker, p.region, p.title, str(local))
    out.print(table)


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
    out.print(f"[bold]{pack.id}[/bold]  {pack.title}")
    out.print(f"{pack.region} — {pack.summary}")
    out.print(f"file: {pack.path}")
    for key, source in pack.sources.items():
        out.print(f"source {key}: {source.file} {source.title}")
    table = Table(box=box.SIMPLE_HEAVY)
    table.add_column("rule", no_wrap=True)
    table.add_column("value")
    table.add_column("source")
    table.add_column("note", overflow="fold")
    for key, value, _ in pack.items():
        shown = (
            "not stated"
            if value.value is None
            else str(value.value).lower()
            if isinstance(value.value, bool)
            else str(value.value)
        )
        cited = "[yellow]local setting[/yellow]" if value.is_local else value.source
        table.add_row(key, shown, cited, value.note)
    out.print(table)


# --------------------------------------------------------------------------- validation


def inputs_summary(inputs: Validated) -> dict[str, Any]:
    """Counts an operator checks before a run; no personal data."""
    import polars as pl

    from mediins_cli.inputs import extra_columns

    e, ledger = inputs.enrollees, inputs.ledger
    per_account = e.group_by("account_no").len()
    missing = e.join(ledger.balances.select("account_no"), on="account_no", how="anti").height
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
        out.print(f"read {path} ({encoding})", markup=False)
    by_status = ", ".join(f"{k} {v}" for k, v in e["by_status"].items())
    out.print(
        f"enrollees: {e['rows']} ({by_status}); {e['agencies']} agencies; "
        f"{e['accounts']} accounts, {e['shared_accounts']} shared; "
        f"{e['without_ledger_rows']} without any ledger row"
    )
    if e["extra_columns"]:
        out.print(f"extra columns carried through: {', '.join(e['extra_columns'])}")
    out.print(
        f"ledger: {ledger['rows']} rows on {ledger['accounts']} accounts, "
        f"{ledger['first_posted']} to {ledger['last_posted']}; "
        f"{ledger['with_reference']} with a reference"
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
        out.print(f"… and {errors.height - limit} more errors (--errors PATH writes every one)")
    for (code,), group in warnings.group_by("code", maintain_order=True):
        for line in format_problems(group, warnings_per_code):
            out.print(line, markup=False, style="yellow", soft_wrap=True)
        if group.height > warnings_per_code:
            out.print(f"… and {group.height - warnings_per_code} more {code} warnings")
    if problems.height > 1:
        out.print(f"{errors.height} error(s), {warnings.height} warning(s)")


# --------------------------------------------------------------------------- deduction rounds


def render_round(out: Console, outcome: DeductOutcome) -> None:
    """The terminal summary of a round: dates and why, outcomes by reason, what comes next."""
    s = outcome.summary
    d = s["dates"]
    heading = {
        "ran": "done",
        "unchanged": "already ran with these inputs: nothing to do",
        "dry_run": "dry run: nothing written",
    }[outcome.status]
    out.print(f"[bold]{s['month']} round {s['round']}[/bold] — {heading}")
    out.print(
        f"rules {s['rules']}, calendar {s['calendar']}; due {_day(_iso(d['due']))}, effective "
        f"{_day(_iso(d['effective']))} ({d['why']}); deposits counted up to {d['cutoff']}",
        markup=False,
        soft_wrap=True,
    )
    if "ledger" in s:
        ledger = s["ledger"]
        out.print(
            f"ledger: {ledger['rows']} rows, posted {ledger['first_posted']} to "
            f"{ledger['last_posted']}",
            markup=False,
            soft_wrap=True,
        )
    if "bank" in s:
        bank = s["bank"]
        out.print(
            f"bank format {bank['format']}; return files: {', '.join(bank['return_files'])}",
            markup=False,
            soft_wrap=True,
        )
    table = Table(box=box.SIMPLE_HEAVY)
    for heading_, justify in (
        ("outcome", "left"),
        ("reason", "left"),
        ("enrollees", "right"),
        ("amount (yuan)", "right"),
    ):
        table.add_column(heading_, justify=justify)  # type: ignore[arg-type]
    table.add_row(
        "succeeded", "", str(s["succeeded"]["enrollees"]), s["succeeded"]["amount"], style="green"
    )
    for reason, v in s["failed"]["by_reason"].items():
        table.add_row("failed", reason, str(v["enrollees"]), v["amount"], style="red")
    for reason, n in s["skipped"]["by_reason"].items():
        table.add_row("skipped", reason, str(n), "", style="dim")
    table.add_row(
        "attempted", "", str(s["attempted"]["enrollees"]), s["attempted"]["amount"], style="bold"
    )
    out.print(table)
    rate = s["collection_rate"]
    out.print(
        f"collection rate {_percent(rate['amount'])} of the amount due, "
        f"{_percent(rate['enrollees'])} of the enrollees"
    )
    if "retry_permanent" in s and s["retry_permanent"]["enrollees"]:
        p = s["retry_permanent"]
        reasons = ", ".join(f"{code} {n}" for code, n in p.get("by_reason", {}).items())
        out.print(
            f"{p['enrollees']} enrollees ({p['amount']} yuan) failed for a reason round 2 does "
            f"not retry ({reasons}): the agencies' lists say what to correct in the master "
            "system before next month",
            markup=False,
        )
    if s.get("milestones", {}).get("retirement"):
        m = s["milestones"]
        agencies = ", ".join(f"{a} {n}" for a, n in m["by_agency"].items())
        out.print(
            f"{m['retirement']} enrollees due have reached retirement by the month's end "
            f"(milestones.csv; by agency: {agencies}): debited as usual, the master system "
            "decides by their contribution years",
            markup=False,
            soft_wrap=True,
        )
    if "retry" in s:
        r = s["retry"]
        out.print(
            f"{r['enrollees']} enrollees ({r['amount']} yuan) must deposit by "
            f"{_day(_iso(r['deposit_by']))} for round 2 on {_day(_iso(r['retry_on']))}"
        )
    if "month_total" in s:
        t = s["month_total"]
        out.print(
            f"month {s['month']}: {t['collected']['amount']} of {t['due']['amount']} yuan "
            f"collected ({_percent(t['collection_rate'])}); {t['unpaid']['enrollees']} enrollees "
            f"unpaid after round 2"
        )
    if "continuity" in s:
        render_continuity(out, s["continuity"])
    if outcome.moved_aside is not None:
        out.print(f"the earlier run was moved aside to {outcome.moved_aside}", markup=False)
    if outcome.status != "dry_run":
        out.print(f"files: {outcome.run_dir}", markup=False)


def render_instructions(out: Console, outcome: InstructOutcome) -> None:
    """The terminal summary of ``instruct``: per instruction file, the control totals."""
    s = outcome.summary
    heading = {"ran": "written", "unchanged": "already written from these inputs: nothing to do"}
    out.print(
        f"[bold]{s['month']} round {s['round']} instructions[/bold] — {heading[outcome.status]}"
    )
    d = s["dates"]
    out.print(
        f"bank format {s['format']}; effective {_day(_iso(d['effective']))}; "
        f"{s['skipped']} enrollees not due",
        markup=False,
        soft_wrap=True,
    )
    table = Table(box=box.SIMPLE_HEAVY)
    table.add_column("file")
    table.add_column("instructions", justify="right")
    table.add_column("amount (yuan)", justify="right")
    for name, f in s["files"].items():
        table.add_row(name, str(f["count"]), f["amount"])
    total = s["instructed"]
    table.add_row("total", str(total["enrollees"]), total["amount"], style="bold")
    out.print(table)
    if outcome.moved_aside is not None:
        out.print(f"the earlier instructions were moved aside to {outcome.moved_aside}")
    out.print(f"files: {outcome.dir}", markup=False)


def render_bank_formats(out: Console, formats: list[BankFormat], default: str) -> None:
    table = Table(box=box.SIMPLE_HEAVY)
    for heading in ("id", "name", "encoding", "delimiter", "header", "amounts"):
        table.add_column(heading)
    for f in formats:
        marker = " (default)" if f.id == default else ""
        table.add_row(
            f.id + marker,
            f.name,
            f.encoding,
            repr(f.delimiter),
            "yes" if f.header else "no: by position",
            f.amount_unit,
        )
    out.print(table)


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


CATEGORY_MEANING = {
    "NEW_BREAK": "first unpaid month is this one; continuity can still be kept",
    "ONGOING": "gap began earlier; still inside the window",
    "WAITING_RESET": "gap inside the waiting period: a new one starts on resuming",
    "CONTINUITY_LOST": "this month takes the gap past the window",
    "LOST_BEFORE": "past the window already; still unpaid",
    "RESUMED_CONTINUOUS": "paid after a gap inside the window: continuous",
    "RESUMED_WAITING_RESET": "paid after a gap in the waiting period: new waiting period",
    "RESUMED_NEW_ENROLLMENT": "paid after a gap past the window: new enrollee, new waiting period",
    "FIRST_PAYMENT": "paid for the first time: the waiting period starts the next day",
    "CONTINUOUS_TRANSFER": "first payment soon after earlier coverage: continuous, no waiting",
}


def render_continuity(out: Console, c: dict[str, Any]) -> None:
    """Who now has a gap, by category and agency, how long the gaps are, what comes next."""
    out.print(
        f"[bold]continuity[/bold]: {c['breaks']} enrollees unpaid after round 2, "
        f"{c['amount_not_collected']} yuan not collected this month"
    )
    table = Table(box=box.SIMPLE_HEAVY)
    table.add_column("category")
    table.add_column("enrollees", justify="right")
    table.add_column("meaning")
    for category, n in c["by_category"].items():
        if n:
            table.add_row(category, str(n), CATEGORY_MEANING[category])
    for category, n in c["resumptions"].items():
        table.add_row(category, str(n), CATEGORY_MEANING[category], style="green")
    for event, key in (
        ("FIRST_PAYMENT", "first_payments"),
        ("CONTINUOUS_TRANSFER", "continuous_transfers"),
    ):
        if c.get(key):
            table.add_row(event, str(c[key]), CATEGORY_MEANING[event], style="green")
    if table.row_count:
        out.print(table)
    else:
        out.print("no breaks and no resumptions this month")
    if c["by_agency"]:
        worst = ", ".join(
            f"{a['agency']} {a['breaks']} ({a['amount']})" for a in c["by_agency"][:10]
        )
        more = len(c["by_agency"]) - 10
        out.print(
            f"by agency, most first: {worst}" + (f", … {more} more" if more > 0 else ""),
            markup=False,
            soft_wrap=True,
        )
    if c["unpaid_months"]:
        lengths = ", ".join(
            f"{k} month{'s' if k != '1' else ''}: {n}" for k, n in c["unpaid_months"].items()
        )
        out.print(f"gap lengths: {lengths}")
    if c["resume_by"]:
        deadlines = ", ".join(f"{n} by {m}" for m, n in c["resume_by"].items())
        out.print(f"to keep continuity, pay again: {deadlines}")
    if c["next_round_one"]:
        out.print(f"next month's round 1: {_day(_iso(c['next_round_one']))}")
    else:
        out.print(
            "next month's round 1: no calendar covers it yet (add rules/calendars/<year>.toml)"
        )


def _iso(text: str) -> date:
    return date.fromisoformat(text)


def _percent(rate: str) -> str:
    """``"0.7610"`` → ``"76.10 %"`` exactly (the rate is already rounded to four places)."""
    whole, _, frac = rate.partition(".")
    digits = (whole + frac.ljust(4, "0"))[:-2].lstrip("0") or "0"
    return f"{digits}.{frac.ljust(4, '0')[2:]} %"


# --------------------------------------------------------------------------- replay


def render_replay(out: Console, result: ReplayReport) -> None:
    """Every difference by file, row and column (masked), then one line of totals."""
    for note in result.notes:
        out.print(note, markup=False, style="dim", soft_wrap=True)
    for difference in result.differences:
        out.print(str(difference), markup=False, style="red", soft_wrap=True)
    months = (
        f"{len(result.months)} months ({result.months[0]} … {result.months[-1]})"
        if (result.months)
        else "no months"
    )
    if result.updated:
        out.print(f"replayed {months}; rewrote {len(result.updated)} expected folders")
    elif result.ok:
        out.print(
            f"replayed {months}: {result.files_compared} files compared, "
            "[green]no differences[/green]"
        )
    else:
        files = len({(d.month, d.round, d.file) for d in result.differences})
        out.print(
            f"replayed {months}: {result.files_compared} files compared, [red]{files} differ[/red]"
        )
