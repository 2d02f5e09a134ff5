"""``mediins report --month M``: ``<out>/<M>/report.html``, one self-contained page (DESIGN §13).

The page holds the month's dates and why they rolled, collection by round and by agency,
failures by reason, breaks by category and the collection rate of every month in the folder,
each chart with a table of its exact numbers beside it. Everything comes from the run
directories (:mod:`mediins_cli.desk.history`): the summaries, and the ``agency`` and ``amount``
columns of the rounds' success and failure files. No name, ID or account number is read into
it, so it is written readable by all (``PUBLIC``), atomically, and byte-identical when the same
runs are reported again. No network: the charts are inline SVG, the one script is inline, and
the page names no URL at all.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from mediins_cli import __version__
from mediins_cli.desk.history import (
    ROUND,
    AgencyCounts,
    MonthHistory,
    Run,
    by_agency,
    read_history,
)
from mediins_cli.errors import BadInput, Refused
from mediins_cli.i18n import _, amount, count, current_lang, date_text, month_text, percent
from mediins_cli.money import fen_to_yuan, yuan_text_to_fen
from mediins_cli.months import Month

REPORT_NAME = "report.html"


# --------------------------------------------------------------------------- the figures


@dataclass(frozen=True)
class Count:
    """Enrollees and an exact amount in fen."""

    enrollees: int
    fen: int

    @classmethod
    def of(cls, data: dict[str, Any] | None) -> Count | None:
        if data is None:
            return None
        return cls(int(data["enrollees"]), yuan_text_to_fen(data["amount"]))

    @property
    def yuan(self) -> str:
        return amount(fen_to_yuan(self.fen))


@dataclass(frozen=True)
class RoundRow:
    label: str
    due: Count | None
    collected: Count | None
    failed: Count | None
    rate: str | None  # the summary's four-place fraction


@dataclass(frozen=True)
class AgencyRow:
    agency: str
    due: Count
    round_1: Count
    round_2: Count | None  # None: round 2 has not run
    collected: Count
    unpaid: Count
    rate: str
    breaks: int | None


@dataclass(frozen=True)
class DateRow:
    round: int
    due: str | None
    effective: str | None
    deposit_by: str | None
    cutoff: str | None
    why: str | None
    ran: bool


@dataclass(frozen=True)
class TrendRow:
    month: str
    after_round: int
    due: Count
    collected: Count
    rate: str


@dataclass(frozen=True)
class MonthReport:
    month: Month
    rules: str | None
    calendar: str | None
    mode: str
    dates: list[DateRow]
    rounds: list[RoundRow]
    agencies: list[AgencyRow]
    reasons: list[tuple[str, Count | None, Count | None]]  # code, round 1, round 2
    breaks: dict[str, int] | None  # None: round 2 has not run
    trend: list[TrendRow]
    left_out: list[str]  # months of the trend whose runs are damaged
    sources: list[tuple[str, str]]  # run directory, SHA-256 of its manifest


def gather(out: Path, month: Month) -> MonthReport:
    """The month's figures as its run directories hold them. Bad input (exit 2) when the
    month has no round to report; refused (exit 3) when a round in place is damaged."""
    from mediins_cli.outputs import sha256_file
    from mediins_cli.rounds import rate

    history = read_history(out)
    m = history.of(month)
    for run in m.damaged:
        raise Refused(
            f"{run.path} is damaged ({', '.join(run.damaged_files)} missing or changed since "
            "it ran): no report is made from it; run the round again with --force"
        )
    r1, r2 = m.current(ROUND, 1), m.current(ROUND, 2)
    if r1 is None or r1.summary is None:
        raise BadInput(
            f"--month: round 1 of {month} has not run in {out}: there is nothing to report yet"
        )
    s1, s2 = r1.summary, r2.summary if r2 is not None else None

    rounds = [_round_row(_("round 1"), r1), *([_round_row(_("round 2"), r2)] if r2 else [])]
    total = m.total()
    if total is not None and total["after_round"] == 2:
        rounds.append(
            RoundRow(
                _("month"),
                Count.of(total["due"]),
                Count.of(total["collected"]),
                Count.of(total["unpaid"]),
                total["collection_rate"],
            )
        )

    first = by_agency(r1)
    second = by_agency(r2) if r2 is not None else None
    breaks_by_agency = {
        row["agency"]: int(row["breaks"])
        for row in ((s2 or {}).get("continuity") or {}).get("by_agency", [])
    }
    agencies = []
    for agency, c1 in first.items():
        c2 = second.get(agency, AgencyCounts()) if second is not None else None
        due = Count(c1.succeeded + c1.failed, c1.succeeded_fen + c1.failed_fen)
        collected = Count(
            c1.succeeded + (c2.succeeded if c2 else 0),
            c1.succeeded_fen + (c2.succeeded_fen if c2 else 0),
        )
        agencies.append(
            AgencyRow(
                agency=agency,
                due=due,
                round_1=Count(c1.succeeded, c1.succeeded_fen),
                round_2=Count(c2.succeeded, c2.succeeded_fen) if c2 else None,
                collected=collected,
                unpaid=Count(due.enrollees - collected.enrollees, due.fen - collected.fen),
                rate=rate(collected.fen, due.fen),
                breaks=breaks_by_agency.get(agency, 0) if r2 is not None else None,
            )
        )

    reasons_1 = s1["failed"].get("by_reason", {})
    reasons_2 = (s2 or {}).get("failed", {}).get("by_reason", {})
    reasons = [
        (code, Count.of(reasons_1.get(code)), Count.of(reasons_2.get(code)))
        for code in sorted({*reasons_1, *reasons_2})
    ]

    trend, left_out = [], []
    for other in history.months:
        if other.damaged:
            left_out.append(str(other.month))
            continue
        t = other.total()
        if t is None or t["due"] is None or t["collected"] is None or t["collection_rate"] is None:
            continue
        trend.append(
            TrendRow(
                str(other.month),
                t["after_round"],
                Count.of(t["due"]),  # type: ignore[arg-type]
                Count.of(t["collected"]),  # type: ignore[arg-type]
                t["collection_rate"],
            )
        )

    sources = [
        (r.name, sha256_file(r.path / "manifest.json"))
        for r in m.runs
        if r.current and r.manifest is not None
    ]
    return MonthReport(
        month=month,
        rules=m.rules,
        calendar=m.calendar,
        mode=m.mode,
        dates=_dates(m, s1, s2),
        rounds=rounds,
        agencies=agencies,
        reasons=reasons,
        breaks=dict((s2.get("continuity") or {}).get("by_category", {})) if s2 else None,
        trend=trend,
        left_out=left_out,
        sources=sources,
    )


def _round_row(label: str, run: Run) -> RoundRow:
    f = run.figures()
    return RoundRow(
        label,
        Count.of(f["due"]),
        Count.of(f["collected"]),
        Count.of(f["failed"]),
        f["collection_rate"],
    )


def _dates(m: MonthHistory, s1: dict[str, Any], s2: dict[str, Any] | None) -> list[DateRow]:
    """Both rounds' dates as their runs recorded them; a round that has not run yet, by the
    pack's schedule (as ``status`` tells it)."""
    rows = []
    for number, summary in ((1, s1), (2, s2)):
        d = (summary or {}).get("dates")
        if isinstance(d, dict):
            rows.append(
                DateRow(
                    number,
                    d.get("due"),
                    d.get("effective"),
                    d.get("deposit_by"),
                    d.get("cutoff"),
                    _recorded_why(m.month, number, summary or {}, d),
                    True,
                )
            )
        elif m.next is not None and m.next.month == m.month and m.next.round == number:
            n = m.next
            rows.append(
                DateRow(
                    number,
                    None,
                    n.effective.isoformat() if n.effective else None,
                    n.deposit_by.isoformat() if n.deposit_by else None,
                    None,
                    (n.roll.explanation(current_lang()) if n.roll else n.why) or n.note,
                    False,
                )
            )
    return rows


def _recorded_why(month: Month, number: int, summary: dict[str, Any], d: dict[str, Any]) -> Any:
    """Why a round's date rolled, as its run recorded it (in English, a machine file's words);
    in another language said again from the schedule of the run's rule pack and calendar, when
    it gives the date the run recorded (else the record as it is)."""
    recorded = d.get("why")
    rules, calendar = summary.get("rules"), summary.get("calendar")
    if current_lang() == "en" or not isinstance(rules, str) or not isinstance(calendar, str):
        return recorded
    from mediins_cli.runs import month_rules

    try:
        dates = month_rules(rules, calendar, month)[3]
    except BadInput:
        return recorded
    roll = dates[number - 1].roll
    if roll.effective.isoformat() != d.get("effective"):
        return recorded
    return roll.explanation(current_lang())


# --------------------------------------------------------------------------- the page


def _word(code: str) -> str:
    from mediins_cli.words import word

    return word(code)


def _coded(code: str) -> str:
    """A row heading: the code in words, and the code itself where the words differ."""
    shown = _word(code)
    if shown == code:
        return f"<th scope=row><code>{_e(code)}</code></th>"
    return f"<th scope=row>{_e(shown)} <code>{_e(code)}</code></th>"


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _num(text: object) -> str:
    return f'<td class="n">{_e(text)}</td>'


def _table(caption: str, head: list[str], rows: list[list[str]], numeric_from: int = 1) -> str:
    """A table; ``rows`` hold escaped cells, the columns from ``numeric_from`` right-aligned."""
    ths = "".join(
        f'<th scope="col"{" class=n" if i >= numeric_from else ""}>{_e(h)}</th>'
        for i, h in enumerate(head)
    )
    body = "\n".join("<tr>" + "".join(r) + "</tr>" for r in rows)
    return (
        f"<table>\n<caption>{_e(caption)}</caption>\n<thead><tr>{ths}</tr></thead>\n"
        f"<tbody>\n{body}\n</tbody>\n</table>"
    )


def _section(ident: str, title: str, svg: str | None, table: str, note: str = "") -> str:
    chart = f'<figure class="chart">\n{svg}</figure>\n' if svg else ""
    extra = f'<p class="note">{_e(note)}</p>\n' if note else ""
    return (
        f'<section id="{ident}">\n<h2>{_e(title)}</h2>\n{extra}'
        f'<div class="pair">\n{chart}<div class="numbers">\n{table}\n</div>\n</div>\n</section>'
    )


def _c(c: Count | None) -> list[str]:
    """Two cells: enrollees and yuan (dashes where there is nothing)."""
    if c is None:
        return [_num("—"), _num("—")]
    return [_num(count(c.enrollees)), _num(c.yuan)]


def _fraction(rate: str | None) -> float:
    """A rate for drawing only (the tables print the exact one)."""
    return float(rate) * 100 if rate is not None else 0.0


def _yuan_float(count: Count | None) -> float:
    return count.fen / 100 if count is not None else 0.0  # drawing only


def render(report: MonthReport) -> bytes:
    """The page, UTF-8; the same report gives the same bytes."""
    from mediins_cli.desk import charts

    two = any(r.round_2 is not None for r in report.agencies)
    sections = [
        _dates_section(report),
        _rounds_section(report, charts),
        _agencies_section(report, charts, two),
        _failures_section(report, charts, two),
        _breaks_section(report, charts),
        _trend_section(report, charts),
    ]
    title = _("Monthly report {month}").format(month=month_text(str(report.month)))
    mode = _("return mode") if report.mode == "returns" else _("ledger mode")
    facts = _("rules {rules}, calendar {calendar}").format(
        rules=report.rules or "—", calendar=report.calendar or "—"
    )
    sources = ", ".join(f"{name} {sha[:12]}" for name, sha in report.sources)
    footer = _(
        "Made by mediins {version} from the run directories (manifest SHA-256: {sources}). "
        "Agency codes, counts and amounts only: no names, ID or account numbers."
    ).format(version=__version__, sources=sources)
    page = _PAGE.format(
        lang="zh-CN" if current_lang() == "zh" else "en",
        title=_e(title),
        style=_STYLE,
        script=_SCRIPT,
        facts=_e(f"{facts}, {mode}"),
        sections="\n".join(sections),
        footer=_e(footer),
    )
    return page.encode("utf-8")


def _row_head(text: str) -> str:
    return f"<th scope=row>{_e(text)}</th>"


def _rounds_section(report: MonthReport, charts: Any) -> str:
    rounds = report.rounds
    svg = charts.stacked_bars(
        _("Collection by round"),
        [r.label for r in rounds],
        [
            (_("collected"), [_yuan_float(r.collected) for r in rounds], charts.COLLECTED),
            (_("not collected"), [_yuan_float(r.failed) for r in rounds], charts.UNPAID),
        ],
        _("yuan"),
    )
    rows = [
        [_row_head(r.label), *_c(r.due), *_c(r.collected), *_c(r.failed), _num(percent(r.rate))]
        for r in rounds
    ]
    head = [_("round"), _("due"), _("yuan"), _("collected"), _("yuan")]
    head += [_("not collected"), _("yuan"), _("rate")]
    table = _table(_("Enrollees and yuan by round"), head, rows)
    note = "" if len(rounds) > 1 else _("Round 2 has not run yet.")
    return _section("by-round", _("Collection by round"), svg, table, note)


def _agencies_section(report: MonthReport, charts: Any, two: bool) -> str:
    agencies = report.agencies
    svg = charts.stacked_bars(
        _("Collection by agency"),
        [a.agency for a in agencies],
        [
            (_("collected"), [_yuan_float(a.collected) for a in agencies], charts.COLLECTED),
            (_("unpaid"), [_yuan_float(a.unpaid) for a in agencies], charts.UNPAID),
        ],
        _("yuan"),
    )
    head = [_("agency"), _("due"), _("yuan"), _("round 1"), _("yuan")]
    head += [_("round 2"), _("yuan")] if two else []
    head += [_("unpaid"), _("yuan"), _("rate")]
    head += [_("breaks")] if two else []
    rows = []
    for a in agencies:
        row = [_row_head(a.agency), *_c(a.due), *_c(a.round_1)]
        row += _c(a.round_2) if two else []
        row += [*_c(a.unpaid), _num(percent(a.rate))]
        row += [_num("—" if a.breaks is None else count(a.breaks))] if two else []
        rows.append(row)
    table = _table(_("Enrollees and yuan by agency, the month so far"), head, rows)
    return _section("by-agency", _("Collection by agency"), svg, table)


def _failures_section(report: MonthReport, charts: Any, two: bool) -> str:
    reasons = report.reasons
    svg = None
    if reasons:
        series = [(_("round 1"), [float(r1.enrollees) if r1 else 0.0 for _k, r1, _r in reasons])]
        if two:
            series.append(
                (_("round 2"), [float(r2.enrollees) if r2 else 0.0 for _k, _r, r2 in reasons])
            )
        svg = charts.grouped_bars(
            _("Failures by reason"),
            [_word(code) for code, _r1, _r2 in reasons],
            series,
            _("enrollees"),
        )
    rows = [[_coded(code), *_c(r1)] + (_c(r2) if two else []) for code, r1, r2 in reasons]
    head = [_("reason"), _("round 1"), _("yuan")]
    head += [_("round 2"), _("yuan")] if two else []
    table = _table(_("Failed debits by reason"), head, rows)
    note = "" if reasons else _("No debit failed.")
    return _section("failures", _("Failures by reason"), svg, table, note)


def _breaks_section(report: MonthReport, charts: Any) -> str:
    title = _("Breaks by category")
    if report.breaks is None:
        note = _("Breaks are known after round 2, which has not run yet.")
        return (
            f'<section id="breaks">\n<h2>{_e(title)}</h2>\n'
            f'<p class="note">{_e(note)}</p>\n</section>'
        )
    breaks = report.breaks
    svg = charts.grouped_bars(
        title,
        [_word(c) for c in breaks],
        [(_("enrollees"), [float(n) for n in breaks.values()])],
        _("enrollees"),
    )
    rows = [[_coded(c), _num(count(n))] for c, n in breaks.items()]
    head = [_("category"), _("enrollees")]
    table = _table(_("Enrollees unpaid after round 2, by category"), head, rows)
    return _section("breaks", title, svg, table)


def _trend_section(report: MonthReport, charts: Any) -> str:
    trend = report.trend
    title = _("Collection rate by month")
    svg = charts.rate_line(
        title,
        [month_text(t.month) for t in trend],
        [_fraction(t.rate) for t in trend],
        _("collected, % of the amount due"),
    )
    rows = [
        [
            _row_head(month_text(t.month)),
            _num(_("round {n}").format(n=t.after_round)),
            _num(t.due.yuan),
            _num(t.collected.yuan),
            _num(percent(t.rate)),
        ]
        for t in trend
    ]
    head = [_("month"), _("after"), _("due (yuan)"), _("collected (yuan)"), _("rate")]
    table = _table(_("Every month in the folder"), head, rows)
    note = ""
    if report.left_out:
        months = ", ".join(report.left_out)
        note = _("Left out, their runs are damaged: {months}").format(months=months)
    return _section("trend", title, svg, table, note)


def _day(text: str | None) -> str:
    """An ISO date (or date and time) as the language writes dates: ``2024-02-18 Sun``,
    ``2024年2月18日 星期日``; a time stays beside it."""
    if not text:
        return "—"
    moment = text[11:16]
    shown = date_text(date.fromisoformat(text[:10]))
    return f"{shown} {moment}" if moment else shown


def _dates_section(report: MonthReport) -> str:
    rows = []
    for d in report.dates:
        why = d.why or "—"
        if not d.ran:
            why = _("not run yet; by the rule pack's schedule: {why}").format(why=why)
        rows.append(
            [
                "<th scope=row>" + _e(_("round {n}").format(n=d.round)) + "</th>",
                f"<td class=d>{_e(_day(d.due))}</td>",
                f"<td class=d>{_e(_day(d.effective))}</td>",
                f"<td class=d>{_e(_day(d.deposit_by))}</td>",
                f"<td class=d>{_e(_day(d.cutoff))}</td>",
                f"<td>{_e(why)}</td>",
            ]
        )
    head = [_("round"), _("due"), _("effective"), _("deposit by"), _("cut-off"), _("why")]
    table = _table(_("The month's dates and why they rolled"), head, rows, numeric_from=99)
    heading = _e(_("Dates"))
    return f'<section id="dates">\n<h2>{heading}</h2>\n{table}\n</section>'


def write_report(out: Path, month: Month) -> tuple[Path, MonthReport]:
    """Gather, render and write ``<out>/<month>/report.html`` at once (nothing is written on
    bad input or a refusal)."""
    from mediins_cli.outputs import PUBLIC, atomic_write_bytes

    report = gather(out, month)
    data = render(report)
    path = out / str(month) / REPORT_NAME
    atomic_write_bytes(path, data, PUBLIC)
    return path, report


_STYLE = """
:root { color-scheme: light; --ink: #1b1b1b; --muted: #5f6368; --rule: #d0d7de; }
* { box-sizing: border-box; }
body { margin: 0 auto; max-width: 1440px; padding: 1.5rem; color: var(--ink);
  font-family: system-ui, -apple-system, "Segoe UI", "Noto Sans CJK SC", "Microsoft YaHei",
  "PingFang SC", sans-serif; line-height: 1.45; }
h1 { font-size: 1.6rem; margin: 0 0 .25rem; }
h2 { font-size: 1.2rem; margin: 2rem 0 .5rem; border-bottom: 1px solid var(--rule); }
.facts, .note, footer { color: var(--muted); }
.pair { display: flex; flex-wrap: wrap; gap: 1.5rem; align-items: flex-start; }
figure.chart { margin: 0; flex: 0 1 460px; min-width: 300px; }
figure.chart svg { width: 100%; height: auto; display: block; }
.numbers { flex: 1 1 420px; min-width: 0; overflow-x: auto; }
table { border-collapse: collapse; font-variant-numeric: tabular-nums; font-size: .9rem; }
caption { text-align: left; color: var(--muted); padding-bottom: .25rem; }
th, td { padding: .2rem .6rem; border-bottom: 1px solid var(--rule); text-align: left;
  vertical-align: top; }
.n { text-align: right; }
th, .n, .d { white-space: nowrap; }
thead th { border-bottom: 2px solid var(--ink); }
code { font-size: .85em; }
footer { margin-top: 2rem; font-size: .85rem; }
@media print { .pair { display: block; } figure.chart { max-width: 16cm; } }
"""

#: the page's one script: it draws nothing (the charts are SVG); it records, for the browser
#: test, how many charts were laid out and any script error (DESIGN §13)
_SCRIPT = """
(function () {
  var errors = [];
  function note() {
    document.documentElement.setAttribute("data-errors", String(errors.length));
    if (errors.length) {
      document.documentElement.setAttribute("data-error-messages", errors.join(" | "));
    }
  }
  window.addEventListener("error", function (event) {
    errors.push(String(event.message || event.type));
    note();
  });
  window.addEventListener("load", function () {
    var charts = document.querySelectorAll("figure.chart svg");
    var drawn = 0;
    for (var i = 0; i < charts.length; i++) {
      var box = charts[i].getBoundingClientRect();
      if (box.width > 0 && box.height > 0 && charts[i].querySelector("path, use")) {
        drawn++;
      }
    }
    document.body.setAttribute("data-charts", String(charts.length));
    document.body.setAttribute("data-rendered", String(drawn));
    note();
  });
})();
"""

_PAGE = """<!DOCTYPE html>
<html lang="{lang}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>{style}</style>
<script>{script}</script>
</head>
<body>
<header>
<h1>{title}</h1>
<p class="facts">{facts}</p>
</header>
<main>
{sections}
</main>
<footer>{footer}</footer>
</body>
</html>
"""
