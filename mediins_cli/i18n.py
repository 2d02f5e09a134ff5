"""The operator's language (DESIGN §13): English or Chinese on the terminal, in help text, in the
agency lists; machine files (CSV columns, codes, JSON keys) never change.

Messages are written in English and wrapped in ``_()`` (``N_()`` marks a message kept in a table
and translated where it is shown); the Chinese catalog is a gettext catalog managed with Babel
(``mediins_cli/locale/zh/LC_MESSAGES/mediins.po``; ``make messages`` extracts and updates it,
the build compiles it to ``.mo``: ``hatch_build.py``). ``set_lang`` chooses the language of the
process; the command line does it once per command (``--lang``, ``MEDIINS_LANG``, the setting
``lang``, the locale: :func:`resolve`). Files whose bytes depend on the language (the agency
lists) take it as an argument (:func:`translation`), never from this module's state, so a run's
output is decided by its request alone.
"""

from __future__ import annotations

import contextlib
import gettext
import os
from collections.abc import Iterator, Mapping
from datetime import date
from functools import cache
from pathlib import Path

DOMAIN = "mediins"
LOCALE_DIR = Path(__file__).parent / "locale"
LANGS = ("zh", "en")
#: Chinese weekdays, Monday first (date.weekday())
_WEEKDAYS_ZH = "一二三四五六日"
_EN_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")

_translation: gettext.NullTranslations = gettext.NullTranslations()
_lang = "en"


def default_lang(environ: Mapping[str, str] | None = None) -> str:
    """``zh`` when the first non-empty of ``LC_ALL``, ``LC_MESSAGES``, ``LANG`` is ``zh`` or
    ``zh_*``, read as given (not Python's locale guess, which the C.UTF-8 fallback distorts)."""
    env = os.environ if environ is None else environ
    for key in ("LC_ALL", "LC_MESSAGES", "LANG"):
        value = env.get(key)
        if value:
            lowered = value.lower()
            return "zh" if lowered == "zh" or lowered.startswith(("zh_", "zh.", "zh-")) else "en"
    return "en"


def env_lang(environ: Mapping[str, str] | None = None) -> str:
    """The environment's language: ``MEDIINS_LANG`` when it names one, else the locale's. Help
    text follows it (typer's help strings are made when the command line is built)."""
    env = os.environ if environ is None else environ
    named = (env.get("MEDIINS_LANG") or "").strip().lower()
    return named if named in LANGS else default_lang(env)


def resolve(
    given: str | None,
    setting: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> str:
    """The language of a command (DESIGN §13): ``--lang``, else ``MEDIINS_LANG``, else the
    setting ``lang``, else the locale. A value that is not ``zh`` or ``en`` is a ValueError."""
    env = os.environ if environ is None else environ
    for origin, value in (
        ("--lang", given),
        ("MEDIINS_LANG", env.get("MEDIINS_LANG")),
        ("lang", setting),
    ):
        if value:
            lang = value.strip().lower()
            if lang not in LANGS:
                raise ValueError(f"{origin}: {value!r} is not one of {', '.join(LANGS)}")
            return lang
    return default_lang(env)


@cache
def translation(lang: str) -> gettext.NullTranslations:
    """The catalog of ``lang`` (English: the messages as written)."""
    if lang not in LANGS:
        raise ValueError(f"unknown language {lang!r}: expected one of {', '.join(LANGS)}")
    if lang == "en":
        return gettext.NullTranslations()
    return gettext.translation(DOMAIN, localedir=LOCALE_DIR, languages=[lang], fallback=True)


def set_lang(lang: str) -> None:
    """Use ``lang`` (``zh`` or ``en``) for every message from now on."""
    global _translation, _lang
    _translation = translation(lang)
    _lang = lang


def current_lang() -> str:
    return _lang


@contextlib.contextmanager
def using(lang: str) -> Iterator[None]:
    """Messages in ``lang`` inside the block, the earlier language after it."""
    before = _lang
    set_lang(lang)
    try:
        yield
    finally:
        set_lang(before)


def _(message: str) -> str:
    """``message`` in the current language."""
    return _translation.gettext(message)


def N_(message: str) -> str:
    """Marks ``message`` for the catalog where it is defined (a table of meanings); it is
    translated with ``_()`` where it is shown."""
    return message


def ngettext(singular: str, plural: str, n: int) -> str:
    return _translation.ngettext(singular, plural, n)


# --------------------------------------------------------------------------- dates and numbers


def date_text(day: date, lang: str | None = None) -> str:
    """A date for people: ``2024-02-18 Sun``, in Chinese ``2024年2月18日 星期日``."""
    if (lang or _lang) == "zh":
        return f"{day.year}年{day.month}月{day.day}日 星期{_WEEKDAYS_ZH[day.weekday()]}"
    return f"{day} {_EN_DAYS[day.weekday()]}"


def day_text(day: date, lang: str | None = None) -> str:
    """A date without its weekday: ``2024-02-18``, in Chinese ``2024年2月18日``."""
    if (lang or _lang) == "zh":
        return f"{day.year}年{day.month}月{day.day}日"
    return day.isoformat()


def month_text(month: str, lang: str | None = None) -> str:
    """A month ``YYYY-MM`` for people: as it is, in Chinese ``2024年2月``."""
    if (lang or _lang) == "zh":
        year, _sep, number = month.partition("-")
        return f"{year}年{int(number)}月"
    return month


def count(n: int) -> str:
    """A count with thousands separators, on the terminal only: ``405,406``."""
    return f"{n:,}"


def percent(rate: str | None) -> str:
    """A rate as the summaries write it (``"0.7610"``) in percent: ``"76.10 %"``, exactly
    (rounded half up to two places); ``—`` when there is none."""
    if rate is None:
        return "—"
    from decimal import ROUND_HALF_UP, Decimal

    value = (Decimal(rate) * 100).quantize(Decimal("0.01"), ROUND_HALF_UP)
    return f"{value} %"


def amount(yuan: str) -> str:
    """A yuan amount as written in the files (``299626877.16``) with thousands separators:
    ``299,626,877.16``. The digits are the file's: nothing is rounded or converted."""
    sign = "-" if yuan.startswith("-") else ""
    whole, dot, fraction = yuan.lstrip("-").partition(".")
    if not whole.isdigit():
        return yuan
    return f"{sign}{int(whole):,}{dot}{fraction}"
