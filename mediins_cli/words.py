"""Words for people in place of the engine's codes (STYLE: the core returns codes; rendering turns
them into English or Chinese), and the agencies' lists in the operator's language (DESIGN §13).

A code's words are its catalog entry in the context ``code``: in English the code itself (an
operator greps for ``INSUFFICIENT_FUNDS`` and finds it in README), in Chinese the words a
social-insurance centre uses (余额不足). The agency lists (``agencies/<agency>.csv``) are for
people: in Chinese their headers and coded cells are words; every other file of a run is the
master system's contract and keeps its English headers and codes in both languages.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mediins_cli.bank.formats import TO_DO
from mediins_cli.i18n import translation

if TYPE_CHECKING:
    import polars as pl


def NP_(context: str, message: str) -> str:
    """Marks ``message`` for the catalog in ``context``; translated where it is shown."""
    return message


#: every code an operator reads in a summary or an agency list (tests/test_i18n.py checks the
#: engine's codes are all here)
CODES = (
    # failed debits (rounds, bank results)
    NP_("code", "INSUFFICIENT_FUNDS"),
    NP_("code", "NO_ACCOUNT"),
    NP_("code", "BANK_ERROR"),
    NP_("code", "ACCOUNT_CLOSED"),
    NP_("code", "ACCOUNT_FROZEN"),
    NP_("code", "NAME_MISMATCH"),
    NP_("code", "NO_AGREEMENT"),
    NP_("code", "OK"),
    # not due this month
    NP_("code", "INACTIVE"),
    NP_("code", "NOT_STARTED"),
    NP_("code", "ALREADY_PAID"),
    # after round 2: gaps, resumptions, first payments
    NP_("code", "NEW_BREAK"),
    NP_("code", "ONGOING"),
    NP_("code", "WAITING_RESET"),
    NP_("code", "CONTINUITY_LOST"),
    NP_("code", "LOST_BEFORE"),
    NP_("code", "RESUMED_CONTINUOUS"),
    NP_("code", "RESUMED_WAITING_RESET"),
    NP_("code", "RESUMED_NEW_ENROLLMENT"),
    NP_("code", "FIRST_PAYMENT"),
    NP_("code", "CONTINUOUS_TRANSFER"),
    NP_("code", "PAID"),
    # why a gap
    NP_("code", "PERSONAL"),
    NP_("code", "ACCOUNT_PROBLEM"),
    NP_("code", "BANK"),
    # back-payment channels mediins writes itself (a pack's own channel is its text)
    NP_("code", "none"),
    NP_("code", "none: past the window"),
    NP_("code", "not_stated"),
)

#: the agency lists' columns, in the context ``agency list`` (extra columns of the enrollee
#: file keep the names the master system gave them)
HEADERS = frozenset(
    (
        NP_("agency list", "enrollee_id"),
        NP_("agency list", "name"),
        NP_("agency list", "agency"),
        NP_("agency list", "account_no"),
        NP_("agency list", "amount"),
        NP_("agency list", "reason"),
        NP_("agency list", "to_do"),
        NP_("agency list", "retry_on"),
        NP_("agency list", "deposit_by"),
        NP_("agency list", "category"),
        NP_("agency list", "unpaid_since"),
        NP_("agency list", "unpaid_months"),
        NP_("agency list", "unpaid_days"),
        NP_("agency list", "resume_by_month"),
        NP_("agency list", "benefits_suspended_from"),
        NP_("agency list", "backpay_until"),
        NP_("agency list", "backpay_channel"),
        NP_("agency list", "cause"),
        NP_("agency list", "waiting_until"),
    )
)
#: columns of an agency list that hold codes
CODE_COLUMNS = ("reason", "category", "cause", "backpay_channel")


def word(code: str, lang: str | None = None) -> str:
    """A code in words: itself in English, 余额不足 for ``INSUFFICIENT_FUNDS`` in Chinese."""
    from mediins_cli.i18n import current_lang

    return translation(lang or current_lang()).pgettext("code", code)


def agency_list(frame: pl.DataFrame, lang: str, columns: tuple[str, ...]) -> pl.DataFrame:
    """An agency list in ``lang``: in Chinese the headers of mediins's own ``columns`` and the
    codes in their cells as words (what to do, too); the enrollee file's extra columns as they
    are. English: ``frame`` unchanged."""
    if lang == "en":
        return frame
    import polars as pl

    t = translation(lang)
    words = {code: t.pgettext("code", code) for code in CODES}
    to_do = {text: t.gettext(text) for text in TO_DO.values()}
    frame = frame.with_columns(
        *(pl.col(c).replace(words) for c in CODE_COLUMNS if c in columns and c in frame.columns),
        *([pl.col("to_do").replace(to_do)] if "to_do" in columns else []),
    )
    renamed: dict[str, str] = {}
    for name in columns:
        header = t.pgettext("agency list", name) if name in HEADERS else name
        # an extra column that already bears the word keeps it; ours stays in English
        if header not in frame.columns and header not in renamed.values():
            renamed[name] = header
    return frame.rename(renamed)
