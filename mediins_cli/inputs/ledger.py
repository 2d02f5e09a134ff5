"""Checks of ``ledger.csv``, and the lazy pass that reduces it to balances."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import polars as pl

from mediins_cli.errors import BadInput, message_expr, problems_frame
from mediins_cli.i18n import _
from mediins_cli.inputs.columns import LEDGER_COLUMNS, SHAPED_COLUMNS
from mediins_cli.inputs.source import PARQUET, Source
from mediins_cli.inputs.table import (
    _DATE_RE,
    Checked,
    _amount_check,
    _cell_checks,
    _Check,
    _collect,
    _empty,
    _map_header,
    _quoted,
    _read_header,
    excel_number_check,
    read_checked,
    read_path,
    scan_text,
    strip_cells,
)
from mediins_cli.mask import mask_account_expr
from mediins_cli.money import MAX_ACCOUNT_FEN, MAX_AMOUNT_FEN, fen_to_yuan, yuan_to_fen
from mediins_cli.words import NP_

#: how many rows of a ledger show whether it is written in shape (:func:`_in_shape`)
_FIRST_ROWS = 1000
_POSTED_AT_FORMATS = (
    (_DATE_RE[:-1] + r" [0-9]{2}:[0-9]{2}:[0-9]{2}$", "%Y-%m-%d %H:%M:%S"),
    (_DATE_RE[:-1] + r" [0-9]{2}:[0-9]{2}$", "%Y-%m-%d %H:%M"),
)


def check_ledger(source: Source) -> Checked:
    """The ledger, typed, with its problems (frame is None if unusable)."""
    return read_checked(source, LEDGER_COLUMNS, _check_ledger, NP_("no rows", "ledger rows"))


def read_ledger(
    path: Path, encoding: str = "auto"
) -> tuple[pl.DataFrame | None, pl.DataFrame, str]:
    """:func:`check_ledger` of a file by path: (frame, problems, encoding used)."""
    return read_path(path, encoding, check_ledger)


def _ledger_parsed(columns: list[str]) -> list[pl.Expr]:
    """Typed ledger columns from the text ones: ``__posted``, ``amount_fen``, ``reference``."""
    text = pl.col("posted_at")
    (long_re, long_fmt), (short_re, short_fmt) = _POSTED_AT_FORMATS
    # cache=False: the times of a ledger are nearly all different, and looking each up among
    # those seen cost as much again as parsing it (2.6 M times: 0.16 s, not 0.08)
    posted = (
        pl.when(text.str.contains(_DATE_RE))
        .then(text.str.to_date("%Y-%m-%d", strict=False, cache=False).cast(pl.Datetime("us")))
        .when(text.str.contains(long_re))
        .then(text.str.to_datetime(long_fmt, strict=False, time_unit="us", cache=False))
        .when(text.str.contains(short_re))
        .then(text.str.to_datetime(short_fmt, strict=False, time_unit="us", cache=False))
    )
    reference = pl.col("reference") if "reference" in columns else pl.lit(None, dtype=pl.String)
    return [
        posted.alias("__posted"),
        yuan_to_fen(pl.col("amount")).alias("amount_fen"),
        reference.alias("reference"),
    ]


#: an account number: 6–32 digits
ACCOUNT_SHAPE = r"^[0-9]{6,32}$"


def in_account_shape(account: pl.Expr, key: pl.Expr) -> pl.Expr:
    """``account.str.contains(ACCOUNT_SHAPE)`` (false where null), told from the account's
    :func:`rounds.account_key` ``key``, which a pass makes anyway: a key exists exactly where
    the text is ASCII digits only (the "1" before them leaves no room for a sign), so the
    shape is a key and 6–32 bytes. The pattern cost the ledger's pass a search per row (38 M
    rows: 1 s of CPU); tests compare the two on text of every kind."""
    return key.is_not_null() & account.str.len_bytes().is_between(6, 32)


def _account_checks(excel: pl.Expr | None = None, shaped: pl.Expr | None = None) -> list[_Check]:
    """An account number, in either file: present and 6–32 digits. ``excel``: true where Excel
    turned it into a number (an enrollee workbook, :func:`.xlsx.excel_number`), which is said
    as such, not as a bad account number. ``shaped``: the shape told already
    (:func:`in_account_shape`), else the pattern is tried."""
    mangled = pl.lit(False) if excel is None else excel
    if shaped is None:
        shaped = pl.col("account_no").str.contains(ACCOUNT_SHAPE)
    return [
        _empty("account_no"),
        *([] if excel is None else [excel_number_check("account_no", excel)]),
        _Check(
            "account_no",
            "BAD_ACCOUNT",
            pl.col("account_no").is_not_null() & ~mangled & ~shaped,
            message_expr(
                _("an account number is 6–32 digits ({account})"),
                account=mask_account_expr(pl.col("account_no")),
            ),
        ),
    ]


def _ledger_row_checks() -> list[_Check]:
    """Checks of one ledger row by itself (repeated references are checked across rows)."""
    return [
        *_account_checks(),
        _empty("posted_at"),
        _Check(
            "posted_at",
            "BAD_DATE",
            pl.col("posted_at").is_not_null() & pl.col("__posted").is_null(),
            message_expr(
                _("{value} is not YYYY-MM-DD or YYYY-MM-DD HH:MM[:SS]"), value=_quoted("posted_at")
            ),
        ),
        _empty("amount"),
        *_amount_check("amount"),
    ]


def _check_ledger(raw: pl.DataFrame, shown: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    f = raw.with_columns(_ledger_parsed(raw.columns)).with_columns(
        pl.when(pl.col("reference").is_not_null())
        .then(pl.col("line").first().over("reference"))
        .alias("__first_line"),
    )
    duplicate = _Check(
        "reference",
        "DUPLICATE_REFERENCE",
        pl.col("line") != pl.col("__first_line"),
        message_expr(
            _("{value} already on line {line}"),
            value=_quoted("reference"),
            line=pl.col("__first_line").cast(pl.String),
        ),
    )
    problems = pl.concat(
        [_collect(f, [*_ledger_row_checks(), duplicate], shown), _account_bounds(f, shown)]
    )
    typed = f.select(
        "account_no",
        pl.col("__posted").alias("posted_at"),
        "amount_fen",
        "reference",
        *[
            c
            for c in f.columns
            if c not in {"account_no", "posted_at", "amount", "amount_fen", "reference", "line"}
            and not c.startswith("__")
        ],
        "line",
    )
    return typed, problems


def _flows() -> tuple[pl.Expr, pl.Expr]:
    """An account's deposits and withdrawals, each as a positive Int128 amount per row."""
    amount = pl.col("amount_fen").cast(pl.Int128)
    return amount.clip(lower_bound=0), amount.clip(upper_bound=0).abs()


def _too_large(sums: list[pl.Expr]) -> pl.Expr:
    return pl.any_horizontal(total > MAX_ACCOUNT_FEN for total in sums)


def _account_bounds(f: pl.DataFrame, shown: str) -> pl.DataFrame:
    """An account whose deposits, or whose withdrawals, sum beyond 10^12 yuan (DESIGN §3),
    reported on the row where the sum, in file order, crosses the bound. Bounding both sides
    bounds every running balance, in whatever order the rows are posted. Found by one
    group-by; only the accounts beyond it are walked row by row."""
    flows = _flows()
    if f.select(pl.col("amount_fen").cast(pl.Int128).abs().sum()).item() <= MAX_ACCOUNT_FEN:
        return _collect(f.clear(), [], shown)  # the whole file's turnover is within one bound
    totals = [flow.sum().alias(f"__flow{i}") for i, flow in enumerate(flows)]
    beyond = (
        f.group_by("account_no")
        .agg(totals)
        .filter(_too_large([pl.col(f"__flow{i}") for i in range(len(flows))]))
    )
    if beyond.height == 0:
        return _collect(f.clear(), [], shown)
    rows = f.join(beyond.select("account_no"), on="account_no", how="semi").sort("line")
    crossed = []
    for flow in flows:
        running = flow.cum_sum().over("account_no")
        crossed.append((running > MAX_ACCOUNT_FEN) & (running - flow <= MAX_ACCOUNT_FEN))
    check = _Check(
        "amount",
        "ACCOUNT_TOO_LARGE",
        crossed[0] | crossed[1],
        message_expr(
            _(
                "account {account}: its deposits or its withdrawals pass ±{most} yuan here, more "
                "than one account's rows may sum to"
            ),
            account=mask_account_expr(pl.col("account_no")),
            most=pl.lit(fen_to_yuan(MAX_ACCOUNT_FEN)),
        ),
    )
    return _collect(rows, [check], shown)


# --------------------------------------------------------------------------- lazy ledger


def _any_bad(names: list[str], known: set[str], nul_free: bool) -> pl.Expr:
    """True on a row that any check of :func:`_check_ledger` would flag, computed from the
    typed columns where they already say it (a null ``__posted`` or ``amount_fen`` is an empty
    or malformed cell, a null ``account_key`` an account number not all digits): the streaming
    pass only needs to know whether to read again and say where. A repeated reference and an
    account's bounds are checked across rows apart. The shaped columns' lengths are not looked
    at: a cell too long for a spreadsheet is no account number, date or amount, flagged as
    such already."""
    amount = pl.col("amount_fen")
    return pl.any_horizontal(
        ~in_account_shape(pl.col("account_no"), pl.col("account_key")),
        pl.col("__posted").is_null(),
        amount.is_null() | (amount.abs() > MAX_AMOUNT_FEN),
        *(
            c.failed.fill_null(False)
            for c in _cell_checks(
                [n for n in names if n not in SHAPED_COLUMNS], known, nul_free=nul_free
            )
        ),
    )


@dataclass(frozen=True)
class LedgerPass:
    """What the lazy pass learned: balances per account, and the ledger's extent for the
    pre-flight checks and the terminal (DESIGN §3)."""

    #: ``account_key`` (:func:`rounds.account_key` of the account number: every ledger account
    #: is 6–32 digits), ``balance_fen`` and, given references, ``booked_fen``
    balances: pl.DataFrame
    rows: int
    first_posted: datetime | None
    last_posted: datetime | None
    warnings: pl.DataFrame
    with_reference: int = 0  # rows carrying a reference (earlier mediins debits)


def ledger_balances_at(
    source: Source,
    cutoff: datetime,
    references: pl.DataFrame | None = None,
) -> LedgerPass:
    """The ledger checked and reduced to one balance per account at ``cutoff`` in one lazy,
    streaming pass (DESIGN §3, §10; two for a file with cells out of their shapes, see
    :func:`_typed`): a ledger larger than memory works. Only when the pass finds a problem (or
    a row spanning lines) is the file read again, eagerly and from the same open file, to list
    every problem with its line; then :class:`BadInput` is raised. ``references``: see
    :func:`rounds.ledger_balances`."""
    header, problem = _read_header(source)
    names, header_problems = _map_header(header or [], LEDGER_COLUMNS, source.shown)
    if problem is not None or header_problems:
        raise BadInput(check_ledger(source)[1])
    # the account number, time and amount as they are written when the first rows have them
    # in their shapes, as a bank writes them: not stripping them saves a sixth of the pass
    # (1 M rows: 2.3 → 1.9 s of CPU). Should a cell further on be out of its shape (a space
    # around it, a blank row, a problem), or that pass fail at all, the file is passed again
    # as check_ledger reads it.
    reduced = None
    try:
        text = scan_text(source, names)
        nul_free = source.nul_free  # then no cell is searched for a NUL
        if _in_shape(text, names, nul_free):
            with contextlib.suppress(pl.exceptions.PolarsError):
                reduced = _reduce(text, names, cutoff, references, True, nul_free)
        if reduced is None or reduced.bad:
            reduced = _reduce(text, names, cutoff, references, False, nul_free)
    except pl.exceptions.PolarsError:  # malformed: the eager reader names the line
        raise BadInput(check_ledger(source)[1]) from None
    balances = reduced.balances
    rows, lines = reduced.rows, source.newlines + (0 if source.ends_with_newline else 1)
    # no account can pass the bounds of DESIGN §3 if its rows times its largest amount stay
    # within them (a person's account, by far); any other is summed exactly by check_ledger
    too_large = pl.col("__rows").cast(pl.Int128) * pl.col("__largest") > MAX_ACCOUNT_FEN
    warnings = problems_frame([])
    if (
        reduced.bad
        or reduced.repeated
        or rows == 0
        or (source.encoding != PARQUET and rows + 1 != lines)  # a value spanning lines, or
        # blank lines (a warning each)
        or balances.select(too_large.any()).item()
    ):
        warnings = check_ledger(source)[1]
        if (warnings["severity"] == "error").any():
            raise BadInput(warnings)
    return LedgerPass(
        balances.select(
            "account_key", "balance_fen", *(["booked_fen"] if references is not None else [])
        ),
        rows,
        reduced.first,
        reduced.last,
        warnings,
        reduced.with_reference,
    )


@dataclass(frozen=True)
class _Reduced:
    """One streaming pass over the ledger: balances and bounds per account (``__largest``,
    ``__rows``), and what the whole file holds."""

    balances: pl.DataFrame
    bad: int  # rows _any_bad flags
    repeated: bool  # a reference on more than one row
    rows: int
    first: datetime | None
    last: datetime | None
    with_reference: int


def _typed(text: pl.LazyFrame, names: list[str], as_written: bool, nul_free: bool) -> pl.LazyFrame:
    """The ledger's cells (:func:`scan_text`) as a plan of typed columns and ``__bad``
    (:func:`_any_bad`), known cells stripped and blank rows dropped as :func:`read_table` does.

    ``as_written``: the account number, time and amount as they are written, and no row
    dropped. A row where one of them is out of its shape is bad; and where none is, stripping
    would have changed nothing (no shape holds a space) and dropped no row (a blank row's cells
    are in no shape): the plan gives what the stripped one gives, or has bad rows."""
    shaped = [] if as_written else ["account_no", "posted_at", "amount"]
    text = strip_cells(text, [c for c in [*shaped, "reference"] if c in names])
    if not as_written:
        text = text.filter(~pl.all_horizontal(pl.col(c).is_null() for c in names))
    from mediins_cli.rounds import account_key

    known = {c.name for c in LEDGER_COLUMNS}
    return text.with_columns(*_ledger_parsed(names), account_key().alias("account_key")).select(
        "account_key",
        pl.col("__posted").alias("posted_at"),
        "amount_fen",
        "reference",
        _any_bad(names, known, nul_free).alias("__bad"),
    )


def _in_shape(text: pl.LazyFrame, names: list[str], nul_free: bool) -> bool:
    """Whether the ledger's first rows are all in their shapes as written (:func:`_typed`): a
    bank that pads its cells does so on every row, and such a file is passed once, stripped."""
    try:
        plan = _typed(text, names, True, nul_free).head(_FIRST_ROWS)
        return not plan.select(pl.col("__bad").any()).collect().item()
    except pl.exceptions.PolarsError:
        return False


def _reduce(
    text: pl.LazyFrame,
    names: list[str],
    cutoff: datetime,
    references: pl.DataFrame | None,
    as_written: bool,
    nul_free: bool,
) -> _Reduced:
    """The ledger reduced in one streaming pass over :func:`_typed`; the result is to be
    thrown away if ``as_written`` and any row is bad."""
    from mediins_cli.rounds import ledger_balances

    typed = _typed(text, names, as_written, nul_free)
    # grouped by the accounts' integer key (rounds.account_key: an account is 6–32 digits),
    # which the balances keep: the debit joins by it (text again per account, and a key made
    # of it again, cost 1.3 s at 10 M and held 0.2 GiB more; issue 9)
    plans = [
        # one group per account: balances, and the bounds of its rows
        ledger_balances(
            typed.rename({"account_key": "account_no"}),
            cutoff,
            references if "reference" in names else None,
            pl.col("amount_fen").abs().max().alias("__largest"),
            pl.len().alias("__rows"),
        ).rename({"account_no": "account_key"}),
        # the ledger's extent over all rows at once, not per account and then over the
        # accounts (10 M rows, 9 M accounts: 2.29 → 1.63 GiB at the peak, 1 s less CPU)
        typed.select(
            pl.col("__bad").sum().alias("bad"),
            pl.col("posted_at").min().alias("first"),
            pl.col("posted_at").max().alias("last"),
            pl.col("reference").is_not_null().sum().alias("references"),
        ),
    ]
    if "reference" in names:  # a repeated reference, if any: one row, however long
        plans.append(
            typed.filter(pl.col("reference").is_not_null())
            .group_by("reference")
            .len()
            .filter(pl.col("len") > 1)
            .head(1)
        )
    balances, extent, *rest = pl.collect_all(plans, engine="streaming")
    if references is not None and "reference" not in names:  # no row can be a debit
        balances = balances.with_columns(pl.lit(0, dtype=pl.Int64).alias("booked_fen"))
    return _Reduced(
        balances,
        extent["bad"].item(),
        bool(rest and rest[0].height),
        int(balances["__rows"].sum()),
        extent["first"].item(),
        extent["last"].item(),
        extent["references"].item() or 0,
    )
