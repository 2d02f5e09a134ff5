"""An enrollee file given as an Excel workbook (DESIGN §13): its first sheet, every cell as text.

The workbook is read with fastexcel (calamine) from the very bytes that were hashed, then goes
through the same checks as a CSV file (:mod:`.table`, :mod:`.enrollees`): rows are numbered as
Excel numbers them (the header is usually row 1), so a problem points at the row an operator
sees. Two things Excel does to what is typed are undone or reported, never guessed at:

- a date typed into a cell becomes a date cell, read as ``YYYY-MM-DD 00:00:00``: it is read as
  the date ``YYYY-MM-DD`` (and ``YYYY-MM`` typed into ``paid_through``, which Excel makes the
  1st of that month, as the month);
- an ID or account number typed or pasted into a cell not formatted as Text becomes a number
  and loses every digit after the 15th (and any leading zero): such a cell, or text such as
  ``1.10101E+17`` left by a CSV that went through Excel, is bad input at its row (EXCEL_NUMBER).

A workbook is checked before calamine reads it: calamine sets aside memory for the whole
rectangle a sheet's cells span before it reads one, so a 5 KB file naming cell XFD1048576
would take tens of gigabytes. fastexcel offers no bound, so the sheets' cell positions are
scanned first (a streaming pass over the compressed parts, itself bounded).
"""

from __future__ import annotations

import io
import re
import zipfile
from dataclasses import dataclass
from typing import Any

import polars as pl

from mediins_cli.i18n import N_, _

#: Source.encoding of a workbook
XLSX = "xlsx"
#: names that say "workbook" whatever the bytes are
SUFFIXES = (".xlsx", ".xlsm", ".xls")
_ZIP = b"PK\x03\x04"
_OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # an encrypted .xlsx, or an old .xls

#: the largest workbook read (a full sheet of 1,048,576 rows is far less, compressed)
MAX_WORKBOOK_BYTES = 512 << 20
#: the most its parts may unpack to, all together
MAX_UNPACKED_BYTES = 4 << 30
#: the most cells a sheet's extent may span (calamine holds 32 bytes for each: 1.3 GB)
MAX_CELLS = 40_000_000
#: columns read, as for a CSV file (columns.MAX_COLUMNS): a wider sheet is refused
MAX_WIDTH = 256

#: text an ID or account number becomes once Excel has turned it into a number and back:
#: ``1.10101E+17``, or ``110101199003077000.0``
EXCEL_NUMBER_TEXT = r"^[0-9]+(\.[0-9]+)?[Ee]\+?[0-9]+$|^[0-9]{9,}\.[0-9]+$"
#: how an operator stops Excel doing it
EXCEL_NUMBER_FIX = N_(
    "format the column as Text (设置单元格格式 → 文本) before typing or pasting, then enter "
    "them again from the master system"
)

_DATE_CELL = r"^([0-9]{4}-[0-9]{2}-[0-9]{2}) 00:00:00$"
_FIRST_OF_MONTH = r"^([0-9]{4}-[0-9]{2})-01 00:00:00$"
#: columns that hold a month YYYY-MM (columns.ENROLLEE_COLUMNS)
MONTH_COLUMNS = ("paid_through",)


class BadWorkbook(Exception):
    """A workbook that cannot be read: the problem's code and message (no cell quoted)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def looks_like_workbook(name: str, head: bytes) -> bool:
    """A workbook by its name or its first bytes (a zip archive, an OLE compound file)."""
    return name.lower().endswith(SUFFIXES) or head.startswith((_ZIP, _OLE))


@dataclass
class Sheet:
    """The first sheet of a workbook: its header row (as text) and its cells after it."""

    reader: Any  # fastexcel.ExcelReader over the bytes that were hashed
    header: list[str]
    header_row: int  # 0-based index of the header in the sheet as loaded
    cells: pl.DataFrame  # every column as text, rows from the top of the sheet
    kept: list[int]  # positions of the columns read (empty trailing columns left out)

    def text(self, names: list[str]) -> pl.DataFrame:
        """The rows after the header, columns named ``names`` (the header mapped), dates typed
        into date cells as ``YYYY-MM-DD`` (months into ``paid_through`` as ``YYYY-MM``)."""
        rows = self.cells.slice(self.header_row + 1).select(
            pl.col(self.cells.columns[p]) for p in self.kept
        )
        rows.columns = names
        return rows.with_columns(
            _months(pl.col(c)) if c in MONTH_COLUMNS else _dates(pl.col(c)) for c in names
        )

    def lines(self, height: int) -> pl.Expr:
        """Excel's row number of each row after the header (the header's is its own)."""
        return (pl.int_range(height, dtype=pl.Int64) + self.header_row + 2).alias("line")

    def numbers(self, names: list[str], wanted: list[str]) -> dict[str, pl.Series]:
        """For each column of ``wanted`` (by its mapped name): True on a row whose cell Excel
        holds as a number (or a true/false), not as text."""
        positions = {n: self.kept[i] for i, n in enumerate(names) if n in wanted}
        if not positions:
            return {}
        # fastexcel reads a number (or a boolean) as a boolean and a text or date cell as
        # null: which cells are numbers, without reading the sheet's XML ourselves
        probe = pl.DataFrame(
            self.reader.load_sheet(
                0,
                header_row=None,
                skip_rows=0,
                use_columns=sorted(positions.values()),
                dtypes=dict.fromkeys(positions.values(), "boolean"),
            )
        ).slice(self.header_row + 1)
        order = sorted(positions.values())
        return {
            name: probe.to_series(order.index(position)).is_not_null().alias(f"__number_{name}")
            for name, position in positions.items()
        }


def _dates(cell: pl.Expr) -> pl.Expr:
    return cell.str.replace(_DATE_CELL, "${1}")


def _months(cell: pl.Expr) -> pl.Expr:
    return _dates(cell.str.replace(_FIRST_OF_MONTH, "${1}"))


def read_workbook(data: bytes) -> Sheet:
    """The first sheet of the workbook ``data``; :class:`BadWorkbook` if it is none, or one
    mediins will not read (encrypted, an old .xls, too large)."""
    if data.startswith(_OLE):
        raise BadWorkbook(
            "BAD_WORKBOOK",
            _(
                "a password-protected workbook or an old .xls one: save it from Excel or WPS as "
                "an Excel Workbook (.xlsx) without a password, or as CSV"
            ),
        )
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        parts = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError):
        raise BadWorkbook(
            "BAD_WORKBOOK", _("not an Excel workbook (.xlsx): save it as .xlsx or as CSV")
        ) from None
    names = {p.filename for p in parts}
    sheets = [p for p in parts if re.fullmatch(r"xl/worksheets/[^/]+\.xml", p.filename)]
    if "[Content_Types].xml" not in names or not sheets:
        raise BadWorkbook(
            "BAD_WORKBOOK",
            _("a zip archive but not an Excel workbook (.xlsx): save it as .xlsx or as CSV"),
        )
    if sum(p.file_size for p in parts) > MAX_UNPACKED_BYTES:
        raise _too_large(
            _("its parts unpack to more than {n} GB").format(n=MAX_UNPACKED_BYTES >> 30)
        )
    for part in sheets:
        _check_extent(archive, part)
    return _first_sheet(data)


def _too_large(why: str) -> BadWorkbook:
    return BadWorkbook(
        "WORKBOOK_TOO_LARGE",
        _("the workbook is too large to read ({why}); give CSV").format(why=why),
    )


#: a cell's reference (letters and digits: only cells have one) and a row's (digits); a tag
#: with a namespace prefix (``<x:c``), which few writers use, is looked for only when present
#: (starting at ``r=``, which lets the regex engine search for it fast; another attribute
#: whose name ends in r can only make the bound larger)
_CELL_COLUMN = re.compile(rb'r="([A-Z]{1,3})[0-9]')
_CELL_ROW = re.compile(rb'r="[A-Z]{1,3}([0-9]{1,9})"')
_ROW_NUMBER = re.compile(rb'r="([0-9]{1,9})"')
_PREFIXED_CELL = re.compile(rb"<[A-Za-z_][\w.-]*:c[\s>/]")
_PREFIXED_ROW = re.compile(rb"<[A-Za-z_][\w.-]*:row[\s>]")


def _tags(text: bytes, name: bytes, prefixed: re.Pattern[bytes]) -> int:
    """How many ``<name`` tags ``text`` holds, with or without a namespace prefix."""
    found = sum(text.count(b"<" + name + end) for end in (b" ", b">", b"/>", b"\n", b"\t"))
    if b":" + name in text:
        found += len(prefixed.findall(text))
    return found


def _column_number(letters: bytes) -> int:
    number = 0
    for letter in letters:
        number = number * 26 + letter - 64
    return number


def _check_extent(archive: zipfile.ZipFile, part: zipfile.ZipInfo) -> None:
    """Refuse a sheet whose cells span more than :data:`MAX_CELLS`, or more than
    :data:`MAX_WIDTH` columns, as calamine would place them (a cell without a reference goes
    right of the one before it, a row without one below the one before): a conservative
    bound from one streaming pass, which also stops at :data:`MAX_UNPACKED_BYTES`."""
    rows = width = loose_cells = loose_rows = unpacked = 0
    carry = b""
    with archive.open(part) as stream:
        while chunk := stream.read(1 << 22):
            unpacked += len(chunk)
            if unpacked > MAX_UNPACKED_BYTES:
                raise _too_large(
                    _("a sheet unpacks to more than {n} GB").format(n=MAX_UNPACKED_BYTES >> 30)
                )
            text = carry + chunk
            end = text.rfind(b">") + 1
            text, carry = text[:end], text[end:]
            if len(carry) > 1 << 20:
                raise BadWorkbook("BAD_WORKBOOK", _("the workbook's sheet is not well-formed"))
            # a few passes of C over the text, no Python loop over its cells
            columns = set(_CELL_COLUMN.findall(text))
            cell_rows, row_numbers = _CELL_ROW.findall(text), _ROW_NUMBER.findall(text)
            loose_cells += max(0, _tags(text, b"c", _PREFIXED_CELL) - len(cell_rows))
            loose_rows += max(0, _tags(text, b"row", _PREFIXED_ROW) - len(row_numbers))
            if columns:
                width = max(width, max(map(_column_number, columns)))
            if cell_rows or row_numbers:  # each row's number once, as a number
                rows = max(rows, *map(int, set(cell_rows) | set(row_numbers)))
    width, rows = width + loose_cells, rows + loose_rows  # the most they can reach
    if width > MAX_WIDTH:
        raise _too_large(
            _("a sheet spans {width} columns; at most {most} are read").format(
                width=width, most=MAX_WIDTH
            )
        )
    if width * rows > MAX_CELLS:
        raise _too_large(
            _("a sheet spans {rows} rows by {width} columns; at most {most} cells").format(
                rows=rows, width=width, most=f"{MAX_CELLS:,}"
            )
        )


def _first_sheet(data: bytes) -> Sheet:
    import fastexcel  # loads only where a workbook is read

    try:
        reader = fastexcel.read_excel(data)
        if not reader.sheet_names:
            raise BadWorkbook("EMPTY_FILE", _("the workbook has no sheet"))
        cells = pl.DataFrame(reader.load_sheet(0, header_row=None, skip_rows=0, dtypes="string"))
    except fastexcel.FastExcelError:  # its message may quote cells: never shown
        raise BadWorkbook(
            "BAD_WORKBOOK", _("the workbook cannot be read (damaged?): save it again, or as CSV")
        ) from None
    found = None
    if cells.width:  # the header: the first row with anything in it
        filled = (pl.col(c).str.strip_chars() != "" for c in cells.columns)
        found = cells.select(pl.any_horizontal(*filled).arg_true().first()).item()
    if found is None:
        raise BadWorkbook("EMPTY_FILE", _("the first sheet is empty: expected a header row"))
    header = [v or "" for v in cells.row(found)]
    # columns with neither a header nor a value (formatted, never filled) are not read
    used = cells.select(pl.col(c).is_not_null().any() for c in cells.columns).row(0)
    kept = [i for i, (h, u) in enumerate(zip(header, used, strict=True)) if h.strip() or u]
    return Sheet(reader, [header[i] for i in kept], found, cells, kept)
