"""Debit instructions (送盘) of a round, and their files in a bank's format. Pure: frames in,
frames and bytes out (DESIGN §11).

One instruction per enrollee attempted: everyone due in round 1, round 1's retryable failures in
round 2. Its reference is its identity, ``MI-<YYYYMM>-R<n>-<8 digits>``, numbered over the
round's attempts in ``enrollee_id`` order: the number the ledger mode gives the same person's
debit. Instructions are grouped into one file per bank code (``_`` for enrollees without one),
numbered ``seq`` 1, 2, … within the file.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import polars as pl

from mediins_cli.bank.formats import BankFormat
from mediins_cli.inputs import agency_file_stem
from mediins_cli.money import fen_to_yuan_expr, sum_fen
from mediins_cli.months import Month

NO_BANK = "_"

#: An instruction's file and its place in it, on the frame :func:`instructions` gives: named
#: ``__…``, as no file's column may be (RESERVED_COLUMN), so an extra column of the enrollee
#: file named ``file`` or ``seq`` goes through to the outputs as the operator wrote it.
FILE, SEQ = "__file", "__seq"


def reference_prefix(month: Month, round_no: int) -> str:
    return f"MI-{month.year:04d}{month.month:02d}-R{round_no}-"


def reference_key(prefix: str) -> pl.Expr:
    """``reference`` as an integer key, to match answers to instructions by: "1" and the digits
    after ``prefix`` as an Int64 (the "1" keeps "00000012" and "0000012" apart, so two
    references have one key only if they are the same text); null for a reference that is not
    ``prefix`` and at most 18 digits, as no instruction of the round is. A join by it holds a
    few bytes a row where a join by the text held about a hundred (1 M answers: 22 MB, not
    107; issue 9)."""
    reference = pl.col("reference")
    digits = reference.str.slice(len(prefix))  # the prefix is ASCII: characters are bytes
    return pl.when(reference.str.starts_with(prefix)).then(
        pl.concat_str(pl.lit("1"), digits).cast(pl.Int64, strict=False)
    )


def by_reference(
    frame: pl.DataFrame, other: pl.DataFrame, prefix: str, columns: dict[str, str]
) -> pl.DataFrame:
    """For each row of ``frame``, in its order, ``other``'s ``columns`` (renamed as given) of
    the row with the same reference (:func:`reference_key`), null where there is none: a join
    of the integer keys alone, never of the rows' text (issue 9)."""
    key = reference_key(prefix).alias("__key")
    # the keys made in streaming passes, a piece of the rows on each core (frames.streamed)
    keys, found = pl.collect_all(
        [
            frame.lazy().select(key),
            other.lazy().select(key, *(pl.col(c).alias(name) for c, name in columns.items())),
        ],
        engine="streaming",
    )
    return keys.join(found, on="__key", how="left", maintain_order="left").drop("__key")


def instructions(
    attempts: pl.DataFrame, month: Month, round_no: int, fmt: BankFormat
) -> pl.DataFrame:
    """One row per enrollee of ``attempts`` (sorted by ``enrollee_id``; with ``amount_fen``,
    ``account_no``, ``name``, ``agency`` and, where the file has it, ``bank``): ``reference``,
    ``file`` (the instruction file's name) and ``seq`` (its place in that file) added."""
    if attempts.height and not attempts["enrollee_id"].is_sorted():
        attempts = attempts.sort("enrollee_id")
    number = pl.int_range(1, pl.len() + 1).cast(pl.String).str.pad_start(8, "0")
    bank = pl.col("bank") if "bank" in attempts.columns else pl.lit(None, dtype=pl.String)
    stem = pl.when(bank.is_null()).then(pl.lit(NO_BANK)).otherwise(agency_file_stem(bank))
    # (not in a streaming pass, as rounds.with_references: the pieces made one would hold
    # the columns twice, near return mode's peak)
    framed = attempts.with_columns(
        pl.concat_str(pl.lit(reference_prefix(month, round_no)), number).alias("reference"),
        pl.concat_str(stem, pl.lit(f".{fmt.extension}")).alias(FILE),
    )
    return framed.with_columns(pl.int_range(1, pl.len() + 1).over(FILE).alias(SEQ))


def file_cells(rows: pl.DataFrame, month: Month, fmt: BankFormat) -> pl.DataFrame:
    """The instruction rows of one file as the text columns ``fmt`` writes, in its order."""
    amount = (
        fen_to_yuan_expr(pl.col("amount_fen"))
        if fmt.amount_unit == "yuan"
        else pl.col("amount_fen").cast(pl.String)
    )
    cells = {
        "seq": pl.col(SEQ).cast(pl.String),
        "reference": pl.col("reference"),
        "account_no": pl.col("account_no"),
        "account_name": pl.col("name"),
        "amount": amount,
        "enrollee_id": pl.col("enrollee_id"),
        "agency": pl.col("agency"),
        "month": pl.lit(str(month)),
        "purpose": pl.lit(f"医保费{month.year:04d}{month.month:02d}"),
    }
    return rows.select(cells[c].alias(c) for c in fmt.instruction)


def file_bytes(rows: pl.DataFrame, month: Month, fmt: BankFormat) -> bytes:
    """One instruction file, as the bank reads it. Not neutralised for spreadsheets as the
    operators' CSVs are: the bank compares ``account_name`` with its records (户名不符), so a
    name goes exactly as the master system holds it."""
    buffer = io.BytesIO()  # UTF-8 straight from polars; GB18030 re-encoded from it
    file_cells(rows, month, fmt).write_csv(
        buffer,
        include_header=fmt.header,
        separator=fmt.delimiter,
        quote_style="necessary" if fmt.quoted else "never",
    )
    data = buffer.getvalue()
    return data if fmt.encoding == "utf-8" else data.decode("utf-8").encode(fmt.encoding)


@dataclass(frozen=True)
class ControlTotal:
    """A file's control totals, as the manifest and the bank's covering letter carry them."""

    count: int
    sum_fen: int


def control_totals(frame: pl.DataFrame) -> dict[str, ControlTotal]:
    """Per instruction file: how many instructions and their sum in fen."""
    out = {}
    for (name,), rows in frame.group_by(FILE):
        out[str(name)] = ControlTotal(rows.height, sum_fen(rows["amount_fen"]))
    return dict(sorted(out.items()))


def unsafe_cells(frame: pl.DataFrame, fmt: BankFormat) -> pl.Expr:
    """True on a row whose cells would break a file of ``fmt`` that is not quoted: a value
    holding its delimiter (every later column would move)."""
    if fmt.quoted:
        return pl.lit(False)
    # the columns the format writes that come from the enrollee file (the others are mediins's
    # own: seq, reference, amount, month, purpose, which the format's check keeps apart)
    source = {"account_no": "account_no", "account_name": "name"}
    source |= {"enrollee_id": "enrollee_id", "agency": "agency"}
    written = [source[c] for c in fmt.instruction if c in source and source[c] in frame.columns]
    if not written:
        return pl.lit(False)
    return pl.any_horizontal(
        # (agency codes are held as categories: searched as their text)
        pl.col(c).cast(pl.String).str.contains(fmt.delimiter, literal=True).fill_null(False)
        for c in written
    )
