"""The I/O floor of a round (DESIGN §10): read both inputs and write the enrollees back out.

No implementation can do less: every cell of enrollees.csv and ledger.csv is read (as text,
without any check), and one CSV as large as the enrollee file is written. ``make bench``
compares validate and the rounds with the time and memory of this script.

    python bench/floor.py ENROLLEES LEDGER OUT
"""

from __future__ import annotations

import sys

import polars as pl


def main(enrollees: str, ledger: str, out: str) -> None:
    people = pl.read_csv(enrollees, infer_schema=False)
    rows = pl.read_csv(ledger, infer_schema=False)
    people.write_csv(out)
    print(f"{people.height} enrollees, {rows.height} ledger rows; wrote {out}")


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit("usage: python bench/floor.py ENROLLEES LEDGER OUT")
    main(*sys.argv[1:])
