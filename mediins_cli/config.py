"""Settings: command-line options over ``MEDIINS_*`` environment variables over ``mediins.toml``.

A crontab line stays short when the rule pack, calendar, output folder and input path templates
live in ``mediins.toml`` (the working directory's, or the file ``MEDIINS_CONFIG`` names)::

    rules = "beijing-2007"
    calendar = "official"
    out = "/srv/mediins/out"
    enrollees = "/srv/exports/{month}/enrollees.csv"
    ledger = "/srv/bank/{month}/ledger-round{round}.csv"
    # or, in return mode (DESIGN §11), instead of the ledger:
    # returns = "/srv/bank/{month}/round{round}/*.txt"
    # bank_format = "generic"
    encoding = "auto"
    excel = true
    out_encoding = "utf-8"
    strict = true
    xlsx = true
    lang = "zh"

Each key may also come from ``MEDIINS_<KEY>`` (``MEDIINS_OUT``, ``MEDIINS_LEDGER``, …). An option
given on the command line always wins. The file is checked on load: an unknown key or a value of
the wrong type is exit status 2, naming the file and the key.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mediins_cli.errors import BadInput, Problem
from mediins_cli.i18n import N_, _
from mediins_cli.resources import display_path

#: key → (type, what it holds)
KEYS: dict[str, tuple[type, str]] = {
    "rules": (str, N_("rule pack id or path")),
    "calendar": (str, N_("official or weekends")),
    "out": (str, N_("output folder")),
    "enrollees": (str, N_("enrollee file, a path template with {month} and {round}")),
    "ledger": (str, N_("ledger file, a path template with {month} and {round}")),
    "returns": (
        str,
        N_(
            "the bank's return files (return mode): a path template with {month} and {round}, "
            "a folder or a pattern such as *.txt"
        ),
    ),
    "bank_format": (
        str,
        N_("bank format of the instruction files: id or path (default generic)"),
    ),
    "encoding": (str, N_("input encoding: auto, utf-8 or gb18030")),
    "excel": (bool, N_("write CSV that Excel opens with Chinese intact")),
    "out_encoding": (str, N_("output encoding: utf-8 or gb18030")),
    "strict": (bool, N_("refuse what pre-flight only warns about (a stale ledger); for cron")),
    "xlsx": (bool, N_("also write the run's files as Excel workbooks (workbook.xlsx, agencies/)")),
    "lang": (str, N_("language of the terminal and the agency lists: zh or en (DESIGN §13)")),
}
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


@dataclass(frozen=True)
class Settings:
    """Values from the environment and the configuration file, and where each came from."""

    values: dict[str, Any]
    origins: dict[str, str]

    def get(self, key: str, given: Any, default: Any = None) -> Any:
        """The command line's ``given`` value if there is one, else the setting, else default."""
        if given is not None:
            return given
        return self.values.get(key, default)


def config_path(cwd: Path | None = None) -> Path | None:
    named = os.environ.get("MEDIINS_CONFIG")
    if named:
        return Path(named)
    candidate = (cwd or Path.cwd()) / "mediins.toml"
    return candidate if candidate.is_file() else None


def load_settings(cwd: Path | None = None) -> Settings:
    values: dict[str, Any] = {}
    origins: dict[str, str] = {}
    path = config_path(cwd)
    if path is not None:
        values.update(_read_file(path))
        origins.update({k: display_path(path) for k in values})
    problems = []
    for key, (kind, _meaning) in KEYS.items():
        raw = os.environ.get(f"MEDIINS_{key.upper()}")
        if raw is None:
            continue
        if kind is bool:
            if raw.strip().lower() not in _TRUE | _FALSE:
                problems.append(
                    Problem(
                        f"MEDIINS_{key.upper()}", 0, "", "BAD_SETTING", _("expected true or false")
                    )
                )
                continue
            values[key] = raw.strip().lower() in _TRUE
        else:
            values[key] = raw
        origins[key] = f"MEDIINS_{key.upper()}"
    if problems:
        raise BadInput(problems)
    return Settings(values, origins)


def _read_file(path: Path) -> dict[str, Any]:
    shown = display_path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BadInput([Problem(shown, 0, "", "BAD_SETTING", _("no such file"))]) from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        message = _("not valid TOML: {problem}").format(problem=exc)
        raise BadInput([Problem(shown, 0, "", "BAD_SETTING", message)]) from None
    problems = []
    for key, value in data.items():
        if key not in KEYS:
            problems.append(
                Problem(
                    shown,
                    0,
                    key,
                    "BAD_SETTING",
                    _("unknown key (known: {keys})").format(keys=", ".join(KEYS)),
                )
            )
            continue
        kind, meaning = KEYS[key]
        if not isinstance(value, kind) or (isinstance(value, str) and not value.strip()):
            message = (
                _("expected true or false: {meaning}")
                if kind is bool
                else _("expected a non-empty string: {meaning}")
            ).format(meaning=_(meaning))
            problems.append(Problem(shown, 0, key, "BAD_SETTING", message))
    if problems:
        raise BadInput(problems)
    return data


def fill(template: str, month: str, round_no: int) -> Path:
    """A path template with ``{month}`` (YYYY-MM) and ``{round}`` (1 or 2) filled in."""
    return Path(template.replace("{month}", month).replace("{round}", str(round_no)))


def expand_returns(template: str, month: str, round_no: int) -> list[Path]:
    """The return files a ``--returns`` value names: a file; a folder (its files, not hidden);
    or a pattern (``*``, ``?``, ``[``) in the last part. Sorted; empty when nothing is there."""
    path = fill(template, month, round_no)
    if any(c in path.name for c in "*?["):
        if not path.parent.is_dir():
            return []
        return sorted(p for p in path.parent.glob(path.name) if p.is_file())
    if path.is_dir():
        return sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith("."))
    return [path] if path.exists() else []  # a folder the bank has not made yet: nothing
