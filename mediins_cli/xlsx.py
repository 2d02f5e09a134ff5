"""Excel workbooks of a run (DESIGN §13): ``workbook.xlsx`` with a sheet per CSV file of the run
and ``agencies/<agency>.xlsx`` beside each agency list.

A workbook is made from the CSV file as it was written (read back as text), so a sheet holds
exactly what its file holds, formulas neutralised alike (DESIGN §8: a leading ``'``; every text
cell is also written as a string, never a formula). IDs, account numbers, references, codes and
dates stay text; amounts become numbers shown with two decimals, made from integer fen divided
by 100 once (the nearest double to the exact amount, as Excel holds any number); counts of
months and days become whole numbers. Each sheet has its header frozen, filters on (an Excel
table) and columns as wide as their text, a Chinese character counted twice.

Written in memory by polars (xlsxwriter underneath) and handed to the run's staging as bytes,
so a workbook is written, hashed and listed in the manifest like every other file. The same
files give the same bytes: the document's dates are the run month's first day, and the zip
entries carry xlsxwriter's fixed time.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator, Mapping
from datetime import datetime
from pathlib import PurePosixPath

import polars as pl

from mediins_cli.money import yuan_to_fen
from mediins_cli.outputs import PRIVATE, OutputFormat, Staging

WORKBOOK = "workbook.xlsx"
#: columns that hold yuan (DESIGN §8): numbers in a workbook, shown with two decimals
MONEY_COLUMNS = frozenset({"amount", "balance_at_cutoff", "balance_available", "monthly_premium"})
#: columns that hold counts of months, days or years: whole numbers
COUNT_COLUMNS = frozenset(
    {"unpaid_months", "unpaid_days", "gap_months", "gap_days", "retirement_age"}
)
MONEY_FORMAT = "0.00"
COUNT_FORMAT = "0"
TEXT_FORMAT = "@"  # what Excel keeps as typed: an 18-digit ID stays an ID
#: rows of a sheet below its header; a longer file goes on in "name (2)", "name (3)", …
MAX_ROWS = 1_048_575
#: characters a terminal or a spreadsheet shows twice as wide (East Asian Wide and Fullwidth)
_WIDE = (
    r"[\u1100-\u115f\u2e80-\u303e\u3041-\u33ff\u3400-\u4dbf\u4e00-\u9fff\ua000-\ua4cf"
    r"\uac00-\ud7a3\uf900-\ufaff\ufe30-\ufe4f\uff00-\uff60\uffe0-\uffe6\U00020000-\U0003fffd]"
)
_PIXELS_PER_CHAR = 7  # Calibri 11, Excel's default: a digit is 7 pixels
_FILTER_BUTTON = 24  # the header's filter arrow, so the header stays readable
_MAX_CHARS = 60


def write_workbooks(
    staging: Staging, fmt: OutputFormat, created: datetime, aliases: Mapping[str, str] = {}
) -> None:
    """``workbook.xlsx`` from the CSV files at the top of the run directory and an
    ``agencies/<agency>.xlsx`` from each agency list, from the files staged so far.
    ``aliases``: headers (an agency list's in Chinese) → the column each stands for."""
    csvs = [name for name in staging.written if name.endswith(".csv")]
    top = [name for name in csvs if "/" not in name]
    sheets = [
        (sheet, part)
        for name in top
        for sheet, part in _parts(PurePosixPath(name).stem, _read(staging, name, fmt))
    ]
    staging.write(WORKBOOK, workbook_bytes(sheets, created, aliases), PRIVATE)
    for name in csvs:
        if name.startswith("agencies/") and name.count("/") == 1:
            stem = PurePosixPath(name).stem
            sheets = list(_parts(sheet_name(stem), _read(staging, name, fmt)))
            data = workbook_bytes(sheets, created, aliases)
            staging.write(f"agencies/{stem}.xlsx", data, PRIVATE)


def list_headers(lang: str) -> dict[str, str]:
    """An agency list's headers in ``lang`` → the columns they stand for
    (:func:`mediins_cli.words.agency_list`), so a Chinese list's 应缴金额 is a number too."""
    if lang == "en":
        return {}
    from mediins_cli.i18n import translation
    from mediins_cli.words import HEADERS

    t = translation(lang)
    return {t.pgettext("agency list", name): name for name in HEADERS}


def _read(staging: Staging, name: str, fmt: OutputFormat) -> pl.DataFrame:
    """A staged CSV file as text, cell for cell as written."""
    return pl.read_csv(staging.path / name, infer_schema=False, encoding=fmt.read_encoding)


def _parts(name: str, frame: pl.DataFrame) -> Iterator[tuple[str, pl.DataFrame]]:
    """A file's sheets: one, or as many as the rows need (``name (2)``, …)."""
    yield name, frame.slice(0, MAX_ROWS)
    for n, start in enumerate(range(MAX_ROWS, frame.height, MAX_ROWS), start=2):
        yield f"{name[: 31 - len(f' ({n})')]} ({n})", frame.slice(start, MAX_ROWS)


def sheet_name(stem: str) -> str:
    """An agency list's file stem as a sheet name: at most 31 characters, none of ``[]:*?/\\``
    and no ``'`` at either end (Excel's rules)."""
    name = re.sub(r"[\[\]:*?/\\]", "_", stem)[:31].strip("'")
    return name or "_"


def workbook_bytes(
    sheets: list[tuple[str, pl.DataFrame]], created: datetime, aliases: Mapping[str, str] = {}
) -> bytes:
    """An .xlsx file of ``sheets`` (name, frame of text cells), the same bytes for the same
    sheets and ``created``; ``aliases`` as for :func:`write_workbooks`."""
    import xlsxwriter  # loads only where a workbook is written

    buffer = io.BytesIO()
    book = xlsxwriter.Workbook(
        buffer,
        {
            "in_memory": True,
            "strings_to_formulas": False,  # a name like "=1+2" is text, never run
            "strings_to_numbers": False,
            "strings_to_urls": False,
        },
    )
    book.set_properties({"created": created})
    for name, frame in sheets:
        money = [c for c in frame.columns if aliases.get(c, c) in MONEY_COLUMNS]
        counts = [c for c in frame.columns if aliases.get(c, c) in COUNT_COLUMNS]
        formats = dict.fromkeys(frame.columns, TEXT_FORMAT)
        formats.update(dict.fromkeys(money, MONEY_FORMAT) | dict.fromkeys(counts, COUNT_FORMAT))
        _typed(frame, money, counts).write_excel(
            book,
            worksheet=name,
            column_formats=formats,  # type: ignore[arg-type]
            column_widths=_widths(frame),  # type: ignore[arg-type]
            autofilter=True,
            freeze_panes=(1, 0),
            include_header=True,
            autofit=False,
        )
    book.close()
    return buffer.getvalue()


def _typed(frame: pl.DataFrame, money: list[str], counts: list[str]) -> pl.DataFrame:
    """Amounts as yuan numbers from exact fen (one division each), counts as integers; every
    other column stays the text it was."""
    return frame.with_columns(
        *((yuan_to_fen(pl.col(c)) / 100).alias(c) for c in money),
        *(pl.col(c).cast(pl.Int64, strict=False) for c in counts),
    )


def _widths(frame: pl.DataFrame) -> dict[str, int]:
    """Each column as wide as its longest text (header included), a wide character counted
    twice, in pixels; at most :data:`_MAX_CHARS` characters."""
    if frame.height:
        longest = frame.select(
            (pl.col(c).str.len_chars() + pl.col(c).str.count_matches(_WIDE)).max().fill_null(0)
            for c in frame.columns
        ).row(0)
    else:
        longest = (0,) * frame.width
    widths = {}
    for column, cells in zip(frame.columns, longest, strict=True):
        header = len(column) + len(re.findall(_WIDE, column))
        chars = min(max(cells, header + _FILTER_BUTTON // _PIXELS_PER_CHAR, 4), _MAX_CHARS)
        widths[column] = chars * _PIXELS_PER_CHAR + 10
    return widths
