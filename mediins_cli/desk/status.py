"""``mediins status``: the history of an output folder on the terminal, or as one JSON document.

The JSON document is stable: the same keys in the same order for every run, amounts as exact
yuan text and rates as the summaries' four-place fractions, ``null`` where a run does not say.
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

from rich.cells import cell_len
from rich.console import Console
from rich.text import Text

from mediins_cli.desk.history import (
    DAMAGED,
    INSTRUCTIONS,
    SUPERSEDED,
    History,
    MonthHistory,
    NextRound,
    Run,
)
from mediins_cli.i18n import (
    _,
    amount,
    count,
    current_lang,
    date_text,
    day_text,
    month_text,
    percent,
)

#: the version of the JSON document's shape
SCHEMA = 1


def status_dict(history: History) -> dict[str, Any]:
    return {
        "schema": SCHEMA,
        "out": str(history.out),
        "months": [_month_dict(m) for m in history.months],
        "next": history.next.as_dict() if history.next else None,
        "next_command": next_command(history.next, history.out) if history.next else None,
    }


def _month_dict(m: MonthHistory) -> dict[str, Any]:
    return {
        "month": str(m.month),
        "rules": m.rules,
        "calendar": m.calendar,
        "mode": m.mode,
        "runs": [_run_dict(r) for r in m.runs],
        "total": m.total(),
        "next": m.next.as_dict() if m.next else None,
    }


def _run_dict(r: Run) -> dict[str, Any]:
    return {
        "name": r.name,
        "kind": r.kind,
        "round": r.number,
        "status": r.status,
        "current": r.current,
        "ran_at": r.ran_at,
        "rules": r.rules,
        "calendar": r.calendar,
        "mode": r.mode,
        "damaged_files": list(r.damaged_files),
        **r.figures(),
    }


# --------------------------------------------------------------------------- terminal


def _count(c: dict[str, Any] | None) -> str:
    if c is None:
        return "—"
    return _("{n} ({amount} yuan)").format(n=count(c["enrollees"]), amount=amount(c["amount"]))


def _run_label(r: Run) -> str:
    if r.kind == INSTRUCTIONS:
        return _("instructions {n}").format(n=r.number)
    return _("round {n}").format(n=r.number)


def _status_word(status: str) -> str:
    return {SUPERSEDED: _("superseded"), DAMAGED: _("damaged")}.get(status, _("ran"))


def _run_text(r: Run) -> str:
    parts = [
        _("{status}, {when}").format(status=_status_word(r.status), when=r.ran_at or "—")
        + (_(" ({text})").format(text=r.name) if r.name != f"{r.kind}-{r.number}" else "")
    ]
    f = r.figures()
    if r.summary is None:
        parts.append(_("no summary to show"))
    elif r.kind == INSTRUCTIONS:
        parts.append(_("instructed {count}").format(count=_count(f["due"])))
    else:
        parts.append(
            _("due {due}; collected {collected}; failed {failed}; rate {rate}").format(
                due=_count(f["due"]),
                collected=_count(f["collected"]),
                failed=_count(f["failed"]),
                rate=percent(f["collection_rate"]),
            )
        )
        if f["breaks"] is not None:
            from mediins_cli.words import word

            shown = _(", ").join(
                f"{word(category)} {count(n)}"
                for category, n in (f["breaks_by_category"] or {}).items()
                if n
            )
            parts.append(
                _("breaks {n}").format(n=count(f["breaks"]))
                + (_(" ({text})").format(text=shown) if shown else "")
            )
    if r.damaged_files:
        parts.append(
            _("changed or missing since it ran: {files}").format(
                files=_(", ").join(r.damaged_files)
            )
        )
    return _("; ").join(parts)


def _total_text(total: dict[str, Any]) -> str:
    text = _(
        "after round {n}: collected {collected} of {due} yuan ({rate}); {unpaid} enrollees unpaid"
    ).format(
        n=total["after_round"],
        collected=amount(total["collected"]["amount"]) if total["collected"] else "—",
        due=amount(total["due"]["amount"]) if total["due"] else "—",
        rate=percent(total["collection_rate"]),
        unpaid=count(total["unpaid"]["enrollees"]) if total["unpaid"] else "—",
    )
    if total["breaks"] is not None:
        text += _("; ") + _("breaks {n}").format(n=count(total["breaks"]))
    return text


def next_text(n: NextRound) -> str:
    """What comes next, in a line an operator can act on."""
    what = _("round {round} of {month}").format(round=n.round, month=month_text(str(n.month)))
    if n.effective is None:
        when = _("date unknown")
    elif n.deposit_by is None:
        when = _("on {day}").format(day=date_text(n.effective))
    else:
        when = _("on {day}, deposit by {deposit}").format(
            day=date_text(n.effective), deposit=day_text(n.deposit_by)
        )
    text = f"{what} {when}"
    why = n.roll.explanation(current_lang()) if n.roll is not None else n.why
    if why:
        text += _(" ({text})").format(text=why)
    text += _("; ") + _("rules {rules}, calendar {calendar}").format(
        rules=n.rules or "—", calendar=n.calendar or "—"
    )
    if n.note:
        text += _(" ({text})").format(text=n.note)
    return text


def render_status(out: Console, history: History) -> None:
    if not history.months:
        out.print(_("no runs in {out} yet").format(out=history.out), markup=False, soft_wrap=True)
        return
    for m in history.months:
        mode = _("return mode") if m.mode == "returns" else _("ledger mode")
        pack = _("rules {rules}, calendar {calendar}").format(
            rules=m.rules or "—", calendar=m.calendar or "—"
        )
        out.print(Text.assemble((month_text(str(m.month)), "bold"), f" — {pack}, {mode}"))
        rows = [(_run_label(r), _run_text(r), _style(r)) for r in m.runs]
        total = m.total()
        if total is not None:
            rows.append((_("month"), _total_text(total), "bold"))
        if m.next is not None and m.next is not history.next:
            rows.append((_("pending"), next_text(m.next), "yellow"))
        indent = max(cell_len(label) for label, _text, _style_ in rows) + 2
        for label, text, style in rows:
            _hanging(out, label, text, indent, style)
    if history.next is not None:
        n = history.next
        _hanging(out, _("next"), next_text(n), cell_len(_("next")) + 2, None)
        out.print(f"  {next_command(n, history.out)}", markup=False, soft_wrap=True)


def next_command(n: NextRound, out: Path) -> str:
    """The command of the next step, with the folder it reads when it is not the default: the
    operator copies it as it stands (the inputs come from the settings or are added)."""
    line = f"mediins {n.step} --round {n.round} --month {n.month}"
    if out != Path("out"):
        line += f" --out {shlex.quote(str(out))}"
    return line


def _style(r: Run) -> str | None:
    return "red" if r.status == DAMAGED else "dim" if r.status == SUPERSEDED else None


def _hanging(out: Console, label: str, text: str, indent: int, style: str | None) -> None:
    """``label`` then ``text`` wrapped between words below the console's width, each line after
    the first indented to line up; no line is padded (a pipe gets no trailing blanks)."""
    width = max(out.width - indent, 20)
    lines = Text(text, style=style or "").wrap(out, width)
    for i, line in enumerate(lines):
        line.rstrip()
        head = label + " " * (indent - cell_len(label)) if i == 0 else " " * indent
        out.print(Text.assemble(Text(head, style=style or ""), line), soft_wrap=True)
