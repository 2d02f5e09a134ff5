"""Rule packs (DESIGN §6): the regulations of one region, as data.

A pack is a TOML file in ``rules/``. Every value is a small table that names where it comes from::

    round_1_day = { value = 12, source = "000 §一", note = "每月12日（遇工休日顺延）" }

``source`` is ``"<key> <section>"`` with ``<key>`` declared under ``[sources]`` (a seed file), or
``"local"`` for a setting the region's sources do not give, which must then say why in ``note``.
The schema is declared once, on the dataclasses below; the loader checks a file against it and
collects every problem (file, key, what was expected) before refusing the pack (Kill Bill's
overdue rules: configuration validated on load, all errors at once).
"""

from __future__ import annotations

import hashlib
import re
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from datetime import date, datetime
from pathlib import Path
from typing import Any, Generic, TypeVar

from mediins_cli.errors import BadInput, Problem
from mediins_cli.i18n import N_, _
from mediins_cli.months import Month
from mediins_cli.resources import display_path, rules_dir

DEFAULT_PACK = "beijing-2007"
LOCAL = "local"
NOT_STATED = "not_stated"

T = TypeVar("T")


@dataclass(frozen=True)
class Cited(Generic[T]):
    """A rule value with the seed section it comes from (or ``local``) and a note."""

    value: T
    source: str
    note: str = ""

    @property
    def is_local(self) -> bool:
        return self.source == LOCAL

    @property
    def stated(self) -> bool:
        return self.value is not None


@dataclass(frozen=True)
class Spec:
    """What a key must hold. ``kind``: int, choice, bool, text, optional_int, optional_text."""

    kind: str
    doc: str
    choices: tuple[str, ...] = ()
    lo: int | None = None
    hi: int | None = None

    def expectation(self) -> str:
        if self.kind in ("int", "optional_int"):
            text = _("an integer {lo}–{hi}").format(lo=self.lo, hi=self.hi)
        elif self.kind == "choice":
            text = _("one of {choices}").format(choices=", ".join(repr(c) for c in self.choices))
        elif self.kind == "bool":
            text = _("true or false")
        elif self.kind == "date":
            text = _("a date YYYY-MM-DD")
        else:
            text = _("a non-empty string")
        if self.kind.startswith("optional_"):
            text = _("{expected} or {not_stated}").format(
                expected=text, not_stated=repr(NOT_STATED)
            )
        return text


def cited(kind: str, doc: str, **kw: Any) -> Any:
    return field(metadata={"spec": Spec(kind, doc, **kw)})


@dataclass(frozen=True)
class Schedule:
    round_1_day: Cited[int] = cited("int", N_("day of the month round 1 is due"), lo=1, hi=28)
    round_2_day: Cited[int] = cited("int", N_("day of the month round 2 is due"), lo=1, hi=28)
    round_2_day_february: Cited[int] = cited("int", N_("round 2's day in February"), lo=1, hi=28)
    roll: Cited[str] = cited(
        "choice", N_("what happens to a due date on a rest day"), choices=("next_working_day",)
    )
    calendar: Cited[str] = cited(
        "choice", N_("working-day calendar used by default"), choices=("official", "weekends")
    )
    deposit_by_days_before: Cited[int] = cited(
        "int", N_("deposit-by date shown to enrollees: days before the effective date"), lo=0, hi=7
    )
    deposit_day_round_1: Cited[int | None] = cited(
        "optional_int",
        N_(
            "the day of the month the source names for round 1's deposits (shown beside a "
            "rolled date)"
        ),
        lo=1,
        hi=28,
    )
    deposit_day_round_2: Cited[int | None] = cited(
        "optional_int", N_("the day the source names for round 2's deposits"), lo=1, hi=28
    )
    deposit_day_round_2_february: Cited[int | None] = cited(
        "optional_int",
        N_("the day the source names for round 2's deposits in February"),
        lo=1,
        hi=28,
    )


@dataclass(frozen=True)
class Coverage:
    starts: Cited[str] = cited(
        "choice", N_("when coverage and deductions start"), choices=("month_after_enrollment",)
    )


@dataclass(frozen=True)
class Continuity:
    window_unit: Cited[str] = cited(
        "choice", N_("unit the continuity window is counted in"), choices=("days", "months")
    )
    window_length: Cited[int] = cited(
        "int", N_("a gap longer than this loses continuity; up to it keeps it"), lo=1, hi=366
    )


@dataclass(frozen=True)
class WaitingPeriod:
    unit: Cited[str] = cited("choice", N_("unit of the waiting period"), choices=("days", "months"))
    length: Cited[int] = cited("int", N_("length of a new waiting period"), lo=1, hi=366)
    starts: Cited[str] = cited(
        "choice", N_("when a new waiting period begins"), choices=("day_after_payment",)
    )
    reset_gap_months: Cited[int | None] = cited(
        "optional_int",
        N_("a gap of this many months inside the waiting period resets it"),
        lo=1,
        hi=12,
    )


@dataclass(frozen=True)
class Transfer:
    window_unit: Cited[str | None] = cited(
        "choice",
        N_("unit of the window after earlier coverage ended in which enrolling is continuous"),
        choices=("days", "months", NOT_STATED),
    )
    window_length: Cited[int | None] = cited(
        "optional_int",
        N_("enrolled within this long after prior_coverage_end: continuous"),
        lo=1,
        hi=366,
    )


@dataclass(frozen=True)
class Suspension:
    benefits_suspended_from: Cited[str | None] = cited(
        "choice",
        N_("when benefits stop after a missed payment"),
        choices=("month_after_unpaid", NOT_STATED),
    )


@dataclass(frozen=True)
class Backpay:
    allowed: Cited[str] = cited(
        "choice", N_("whether a gap can be paid afterwards"), choices=("never", "within_window")
    )
    within_months: Cited[int | None] = cited(
        "optional_int",
        N_("months after the gap began in which back-payment is possible"),
        lo=1,
        hi=24,
    )
    channel: Cited[str | None] = cited("optional_text", N_("where a back-payment is made"))
    via_bank_withholding: Cited[bool] = cited(
        "bool", N_("whether arrears are collected by bank withholding (never: 000 §七, 004)")
    )


@dataclass(frozen=True)
class Retirement:
    age_male: Cited[int | None] = cited("optional_int", N_("retirement age, men"), lo=40, hi=80)
    age_female: Cited[int | None] = cited("optional_int", N_("retirement age, women"), lo=40, hi=80)


@dataclass(frozen=True)
class Premium:
    rate_percent: Cited[str | None] = cited(
        "optional_text",
        N_("premium rate of the approved base (informational; amounts come from input)"),
    )


@dataclass(frozen=True)
class Validity:
    in_force_from: Cited[date] = cited(
        "date", N_("the day the sources are in force from: an earlier run month is refused")
    )


SECTIONS: dict[str, type] = {
    "validity": Validity,
    "schedule": Schedule,
    "coverage": Coverage,
    "continuity": Continuity,
    "waiting_period": WaitingPeriod,
    "transfer": Transfer,
    "suspension": Suspension,
    "backpay": Backpay,
    "retirement": Retirement,
    "premium": Premium,
}
PACK_KEYS = ("id", "title", "region", "summary")


@dataclass(frozen=True)
class Source:
    key: str
    file: str
    title: str


@dataclass(frozen=True)
class RulePack:
    id: str
    title: str
    region: str
    summary: str
    path: str
    sha256: str  # of the bytes that were parsed (DESIGN §8)
    sources: dict[str, Source]
    validity: Validity
    schedule: Schedule
    coverage: Coverage
    continuity: Continuity
    waiting_period: WaitingPeriod
    transfer: Transfer
    suspension: Suspension
    backpay: Backpay
    retirement: Retirement
    premium: Premium

    def items(self) -> list[tuple[str, Cited[Any], Spec]]:
        """Every rule value as (``section.key``, value, spec), in schema order."""
        out = []
        for section in SECTIONS:
            obj = getattr(self, section)
            for f in fields(obj):
                out.append((f"{section}.{f.name}", getattr(obj, f.name), f.metadata["spec"]))
        return out

    def cite(self, value: Cited[Any]) -> str:
        """``000 §一`` → ``000 §一 (京社保发[2007]19号)``; ``local`` stays."""
        if value.is_local:
            return _("local setting")
        key = value.source.split(" ", 1)[0]
        source = self.sources.get(key)
        return f"{value.source} ({source.title})" if source else value.source


# --------------------------------------------------------------------------- loading

_SOURCE_REF = re.compile(r"^(\S+) (\S.*)$")


def read_toml(path: Path, bad: Callable[[str, str], None]) -> tuple[bytes, dict[str, Any]] | None:
    """A data file's bytes (for its hash) and its TOML; None, said through ``bad``, when it is
    missing or not TOML."""
    try:
        content = path.read_bytes()
        return content, tomllib.loads(content.decode("utf-8"))
    except FileNotFoundError:
        bad("", _("no such file"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        bad("", _("not valid TOML: {error}").format(error=exc))
    return None


def parse_pack(path: Path) -> tuple[RulePack | None, list[Problem]]:
    """Parse and validate one pack file; every problem is returned, none raised."""
    shown = display_path(path)
    problems: list[Problem] = []

    def bad(key: str, message: str) -> None:
        problems.append(Problem(shown, 0, key, "BAD_RULES", message))

    read = read_toml(path, bad)
    if read is None:
        return None, problems
    content, data = read

    known = {"pack", "sources", *SECTIONS}
    for key in sorted(set(data) - known):
        bad(key, _("unknown section (expected {names})").format(names=", ".join(sorted(known))))

    header = data.get("pack")
    meta: dict[str, Any] = {}
    if not isinstance(header, dict):
        bad("pack", _("missing [pack] table with {keys}").format(keys=", ".join(PACK_KEYS)))
    else:
        for key in sorted(set(header) - set(PACK_KEYS)):
            bad(f"pack.{key}", _("unknown key (expected {keys})").format(keys=", ".join(PACK_KEYS)))
        for key in PACK_KEYS:
            value = header.get(key)
            if not isinstance(value, str) or not value.strip():
                bad(f"pack.{key}", _("expected a non-empty string"))
            else:
                meta[key] = value
        if meta.get("id") and meta["id"] != path.stem:
            bad(
                "pack.id",
                _("expected {stem}, the file's name without .toml").format(stem=repr(path.stem)),
            )

    sources: dict[str, Source] = {}
    raw_sources = data.get("sources")
    if not isinstance(raw_sources, dict) or not raw_sources:
        bad("sources", _("expected at least one [sources.<key>] table with file and title"))
    else:
        for key, item in raw_sources.items():
            if (
                not isinstance(item, dict)
                or set(item) != {"file", "title"}
                or not all(isinstance(v, str) and v.strip() for v in item.values())
            ):
                bad(f"sources.{key}", _("expected a table with exactly file and title (strings)"))
                continue
            sources[key] = Source(key, item["file"], item["title"])

    built: dict[str, Any] = {}
    for section, cls in SECTIONS.items():
        raw = data.get(section)
        if not isinstance(raw, dict):
            bad(section, _("missing [{section}] table").format(section=section))
            continue
        names = [f.name for f in fields(cls)]
        for key in sorted(set(raw) - set(names)):
            bad(
                f"{section}.{key}", _("unknown key (expected {keys})").format(keys=", ".join(names))
            )
        values = {}
        for f in fields(cls):
            key = f"{section}.{f.name}"
            if f.name not in raw:
                spec: Spec = f.metadata["spec"]
                bad(key, _("missing: {what}").format(what=_(spec.doc)))
                continue
            value = _parse_cited(key, raw[f.name], f.metadata["spec"], sources, bad)
            if value is not None:
                values[f.name] = value
        if len(values) == len(names):
            built[section] = cls(**values)

    if problems:
        return None, problems
    pack = RulePack(
        path=shown, sha256=hashlib.sha256(content).hexdigest(), sources=sources, **meta, **built
    )
    for key, message in _cross_checks(pack):
        bad(key, message)
    return (None, problems) if problems else (pack, problems)


def _parse_cited(
    key: str, raw: Any, spec: Spec, sources: dict[str, Source], bad: Any
) -> Cited[Any] | None:
    if not isinstance(raw, dict) or "value" not in raw or "source" not in raw:
        bad(
            key,
            _('expected {{ value = …, source = "…" }} with value {expected}').format(
                expected=spec.expectation()
            ),
        )
        return None
    extra = set(raw) - {"value", "source", "note"}
    if extra:
        bad(
            key,
            _("unknown field(s) {fields} (expected value, source, note)").format(
                fields=", ".join(sorted(extra))
            ),
        )
        return None
    source, note = raw["source"], raw.get("note", "")
    ok = True
    if not isinstance(note, str):
        bad(f"{key}.note", _("expected a string"))
        ok = False
    if source == LOCAL:
        if not isinstance(note, str) or not note.strip():
            bad(f"{key}.note", _("a local setting must say why the sources do not give it"))
            ok = False
    else:
        match = _SOURCE_REF.match(source) if isinstance(source, str) else None
        if not match:
            bad(f"{key}.source", _('expected "<source key> <section>" (e.g. "000 §一") or "local"'))
            ok = False
        elif match.group(1) not in sources:
            bad(
                f"{key}.source",
                _("{key} is not declared under [sources]").format(key=repr(match.group(1))),
            )
            ok = False
    value = _check_value(key, raw["value"], spec, bad)
    if value is _INVALID or not ok:
        return None
    return Cited(value, source, note)


_INVALID = object()


def _check_value(key: str, value: Any, spec: Spec, bad: Any) -> Any:
    if spec.kind.startswith("optional_") and value == NOT_STATED:
        return None
    if spec.kind == "choice" and value in spec.choices:
        return None if value == NOT_STATED else value
    if spec.kind == "bool" and isinstance(value, bool):
        return value
    if spec.kind == "date" and isinstance(value, date) and not isinstance(value, datetime):
        return value  # a TOML date, written bare: in_force_from = { value = 2022-01-01, … }
    if (
        spec.kind in ("int", "optional_int")
        and isinstance(value, int)
        and not isinstance(value, bool)
        and (spec.lo is None or value >= spec.lo)
        and (spec.hi is None or value <= spec.hi)
    ):
        return value
    if spec.kind in ("text", "optional_text") and isinstance(value, str) and value.strip():
        return value
    bad(
        f"{key}.value",
        _("expected {expected}, got {value}").format(
            expected=spec.expectation(), value=repr(value)
        ),
    )
    return _INVALID


def _cross_checks(pack: RulePack) -> list[tuple[str, str]]:
    out = []
    t = pack.transfer
    if (t.window_unit.value is None) != (t.window_length.value is None):
        out.append(
            ("transfer.window_length", _("expected a length exactly when the unit is stated"))
        )
    s = pack.schedule
    if s.round_2_day.value <= s.round_1_day.value:
        out.append(("schedule.round_2_day", _("expected a day after round_1_day")))
    if s.round_2_day_february.value <= s.round_1_day.value:
        out.append(("schedule.round_2_day_february", _("expected a day after round_1_day")))
    b = pack.backpay
    if b.via_bank_withholding.value:
        out.append(
            (
                "backpay.via_bank_withholding",
                _("expected false: arrears are never collected by bank withholding (000 §七, 004)"),
            )
        )
    if b.allowed.value == "within_window" and b.within_months.value is None:
        out.append(("backpay.within_months", _("expected a number of months when allowed")))
    if b.allowed.value == "within_window" and b.channel.value is None:
        out.append(("backpay.channel", _("expected the channel when back-payment is allowed")))
    return out


def check_in_force(pack: RulePack, month: Month) -> None:
    """A run month before the month the pack's sources are in force from is bad input: the
    rules that applied then are not these (issue 11, DESIGN §12)."""
    since = pack.validity.in_force_from
    if month < Month.of(since.value):
        raise BadInput(
            _(
                "{month} is before rule pack {pack} is in force ({since}, {cited}): use the "
                "rules of that time"
            ).format(
                month=month, pack=pack.id, since=since.value.isoformat(), cited=pack.cite(since)
            )
        )


def pack_path(ref: str) -> Path:
    """A pack reference is an id in the rules folder or a path to a TOML file."""
    candidate = Path(ref)
    if ref.endswith(".toml") or "/" in ref:
        return candidate
    return rules_dir() / f"{ref}.toml"


def load_pack(ref: str = DEFAULT_PACK, given_as: str = "--rules") -> RulePack:
    """Load and validate a pack; an unusable one raises :class:`BadInput` with every problem.
    ``given_as``: how the operator named it, for the message (``""``: an argument)."""
    path = pack_path(ref)
    missing = _("no rule pack {ref}").format(ref=repr(ref))
    message = f"{given_as}: {missing}" if given_as else missing
    return load_file(path, rules_dir(), parse_pack, message)


def load_all_packs() -> list[RulePack]:
    """Every pack in the rules folder; one broken pack makes the whole call fail, listing all."""
    return load_folder(rules_dir(), parse_pack)


Parsed = TypeVar("Parsed")
Parser = Callable[[Path], tuple[Parsed | None, list[Problem]]]


def load_file(path: Path, folder: Path, parse: Parser[Parsed], missing: str) -> Parsed:
    """A data file (a rule pack, a bank format) parsed and validated: :class:`BadInput` with
    every problem, or ``missing`` and the ids ``folder`` holds when there is no such file."""
    if not path.is_file():
        known = ", ".join(p.stem for p in sorted(folder.glob("*.toml"))) or _("none")
        raise BadInput(
            _("{missing} (known: {known}; or give a path to a .toml)").format(
                missing=missing, known=known
            )
        )
    loaded, problems = parse(path)
    if loaded is None:
        raise BadInput(problems)
    return loaded


def load_folder(folder: Path, parse: Parser[Parsed]) -> list[Parsed]:
    """Every ``*.toml`` of ``folder``; one broken file fails the call, listing every problem."""
    loaded, problems = [], []
    for path in sorted(folder.glob("*.toml")):
        item, found = parse(path)
        problems.extend(found)
        if item is not None:
            loaded.append(item)
    if problems:
        raise BadInput(problems)
    return loaded
