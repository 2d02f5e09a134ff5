"""A bank, for tests and demos: it answers a round's instruction files from a ledger, the way a
bank would debit them, so that return mode and ledger mode can be compared on one month.

It reads the instruction files as a bank does (in their format, through their manifest), takes
the balances at the round's cut-off from the ledger exactly as ``deduct --ledger`` does (in
round 2, less round 1's debits the ledger does not hold yet), debits each instruction all or
nothing — members of a shared account in the order of their references, which is
``enrollee_id`` order — and writes one return file per instruction file, of the same name, in the
same format. Outcomes are ``OK``, ``INSUFFICIENT_FUNDS`` and ``NO_ACCOUNT``: a ledger knows no
other. It is not part of a production run.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import polars as pl

from mediins_cli.bank.formats import BankFormat, load_format
from mediins_cli.bank.run import instructions_dir
from mediins_cli.calendar import make_calendar, schedule_dates
from mediins_cli.errors import BadInput, Refused
from mediins_cli.i18n import _
from mediins_cli.inputs import ledger_balances_at, open_sources
from mediins_cli.money import fen_to_yuan_expr, yuan_to_fen
from mediins_cli.months import Month
from mediins_cli.outputs import PRIVATE, atomic_write_bytes
from mediins_cli.rounds import SUCCESS, account_key, debit
from mediins_cli.rules import load_pack

#: what the simulated bank writes in the message column
MESSAGES = {"OK": "扣款成功", "INSUFFICIENT_FUNDS": "余额不足", "NO_ACCOUNT": "账号不存在"}


@dataclass(frozen=True)
class Simulated:
    files: dict[str, int]  # return file → rows
    outcomes: dict[str, int]  # result code → count


def simulate_bank(
    out: Path,
    month: Month,
    round_no: int,
    ledger: Path,
    to: Path,
    rules: str,
    calendar: str | None = None,
    bank_format: str | None = None,
) -> Simulated:
    """Answer ``<out>/<month>/instructions-<round>/`` from ``ledger`` into the folder ``to``
    (``bank_format``: the instructions' format by path, when it is not in ``rules/banks/``)."""
    from mediins_cli.runs import round_one_state

    folder = instructions_dir(out, month, round_no)
    manifest_path = folder / "manifest.json"
    if not manifest_path.is_file():
        raise Refused(
            _("no instructions of round {round} of {month} in {out}").format(
                round=round_no, month=month, out=out
            )
        )
    manifest = json.loads(manifest_path.read_bytes())
    fmt = load_format(bank_format or manifest["format"]["id"])
    if fmt.id != manifest["format"]["id"]:
        raise Refused(
            _("the instructions are in bank format {format}, not {given}").format(
                format=manifest["format"]["id"], given=fmt.id
            )
        )
    pack = load_pack(rules)
    calendar_obj = make_calendar(calendar or pack.schedule.calendar.value)
    dates = schedule_dates(pack.schedule, calendar_obj, month)[round_no - 1]
    sent = pl.concat(
        [
            read_instructions(folder / name, fmt).with_columns(pl.lit(name).alias("file"))
            for name in manifest["files"]
        ]
    )
    previous = round_one_state(out, month) if round_no == 2 else None
    references = previous.references if previous is not None else None
    with open_sources({"ledger": ledger}) as sources:
        passed = ledger_balances_at(sources["ledger"], dates.cutoff, references)
    balances = passed.balances
    if previous is not None:  # round 1's debits the ledger does not hold yet (DESIGN §4)
        # (the instructions answered are round 2's: the retry list's accounts, which
        # previous.pending covers)
        pending = previous.pending.select(account_key().alias("account_key"), "debited_fen")
        balances = (
            balances.join(pending, on="account_key", how="left")
            .with_columns(
                (
                    pl.col("balance_fen")
                    - pl.col("debited_fen").fill_null(0)
                    - pl.col("booked_fen").fill_null(0)
                ).alias("balance_fen")
            )
            .drop("debited_fen")
        )
    # references are numbered in enrollee_id order: sorted by them, a shared account's
    # members are debited in the order the ledger mode debits them
    attempts = sent.sort("reference").select(
        pl.col("reference").alias("enrollee_id"),
        "reference",
        "account_no",
        "amount_fen",
        "file",
        "seq",
    )
    decided = debit(attempts, balances.select("account_key", "balance_fen"))
    code = pl.when(pl.col("outcome") == SUCCESS).then(pl.lit("OK")).otherwise(pl.col("reason"))
    answered = decided.with_columns(code.alias("code"))
    to.mkdir(parents=True, exist_ok=True)
    files = {}
    for (name,), rows in sorted(answered.group_by("file"), key=lambda g: str(g[0][0])):
        data = return_bytes(rows.sort("seq"), fmt, dates.effective)
        atomic_write_bytes(to / str(name), data, PRIVATE)
        files[str(name)] = rows.height
    counts = answered.group_by("code").len().sort("code")
    return Simulated(files, {str(r["code"]): int(r["len"]) for r in counts.iter_rows(named=True)})


def read_instructions(path: Path, fmt: BankFormat) -> pl.DataFrame:
    """An instruction file as a bank reads it: ``seq``, ``reference``, ``account_no``,
    ``amount_fen`` (and the other columns the format has, as text)."""
    text = path.read_bytes().decode(fmt.encoding)
    frame = pl.read_csv(
        text.encode("utf-8"),
        has_header=fmt.header,
        new_columns=list(fmt.instruction),
        separator=fmt.delimiter,
        quote_char='"' if fmt.quoted else None,
        infer_schema=False,
    )
    amount = (
        yuan_to_fen(pl.col("amount"))
        if fmt.amount_unit == "yuan"
        else pl.col("amount").cast(pl.Int64)
    )
    seq = pl.col("seq").cast(pl.Int64) if "seq" in frame.columns else pl.int_range(1, pl.len() + 1)
    return frame.with_columns(amount.alias("amount_fen"), seq.alias("seq"))


def return_bytes(rows: pl.DataFrame, fmt: BankFormat, settled: date) -> bytes:
    """A return file in ``fmt``: each instruction's reference, account, amount, the format's
    value for its result, a message and the settle date (``YYYY-MM-DD`` in a file with a header,
    ``YYYYMMDD`` in one by position)."""
    value_of: dict[str, str] = {}
    for value, code in fmt.results.items():
        value_of.setdefault(code, value)
    missing = {str(c) for c in rows["code"].unique()} - set(value_of)
    if missing:
        raise BadInput(
            _("bank format {format} has no result value for {codes}").format(
                format=fmt.id, codes=", ".join(sorted(missing))
            )
        )
    day = settled.isoformat() if fmt.header else settled.strftime("%Y%m%d")
    amount = (
        fen_to_yuan_expr(pl.col("amount_fen"))
        if fmt.amount_unit == "yuan"
        else pl.col("amount_fen").cast(pl.String)
    )
    cells = {
        "reference": pl.col("reference"),
        "account_no": pl.col("account_no"),
        "amount": amount,
        "result": pl.col("code").replace_strict(value_of, return_dtype=pl.String),
        "message": pl.col("code").replace_strict(MESSAGES, return_dtype=pl.String),
        "settled_on": pl.when(pl.col("code") == "OK").then(pl.lit(day)).otherwise(pl.lit("")),
        "ignore": pl.col("seq").cast(pl.String),
    }
    names = [c if c != "ignore" else f"__ignore{i}" for i, c in enumerate(fmt.returns)]
    table = rows.select(cells[c].alias(n) for c, n in zip(fmt.returns, names, strict=True))
    text = table.write_csv(
        include_header=fmt.header,
        separator=fmt.delimiter,
        quote_style="necessary" if fmt.quoted else "never",
    )
    return text.encode(fmt.encoding)
