"""Parquet inputs (issue 9, DESIGN §10): read as tables, checked as CSV files are, keyed by row."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest

from conftest import SAMPLE

ROUNDS = (("1", "ledger"), ("2", "ledger-round2"))


def _parquet(tmp_path: Path, name: str, frame: pl.DataFrame) -> Path:
    path = tmp_path / f"{name}.parquet"
    frame.write_parquet(path)
    return path


def _csv(name: str) -> pl.DataFrame:
    return pl.read_csv(SAMPLE / f"{name}.csv", infer_schema=False)


def _outputs(folder: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name not in ("manifest.json", "run.log", ".lock")
    }


def _both_rounds(run, out: Path, enrollees: Path, ledgers: dict[str, Path]) -> dict[str, bytes]:
    for number, name in ROUNDS:
        result = run(
            "deduct", "--round", number, "--month", "2024-02", "--enrollees", enrollees,
            "--ledger", ledgers[name], "--out", out,
        )  # fmt: skip
        assert result.exit_code == 0, result.stderr
    return _outputs(out)


def test_a_month_in_parquet_gives_the_bytes_its_csv_gives(run, tmp_path):
    from_csv = _both_rounds(
        run, tmp_path / "csv", SAMPLE / "enrollees.csv",
        {name: SAMPLE / f"{name}.csv" for _, name in ROUNDS},
    )  # fmt: skip
    typed = _csv("enrollees").with_columns(
        pl.col("enrolled_on").str.to_date(),
        pl.col("monthly_premium").cast(pl.Decimal(10, 2)),
    )
    ledgers = {
        name: _parquet(
            tmp_path,
            name,
            _csv(name).with_columns(pl.col("amount").cast(pl.Decimal(14, 2))),
        )
        for _, name in ROUNDS
    }
    from_parquet = _both_rounds(
        run, tmp_path / "parquet", _parquet(tmp_path, "enrollees", typed), ledgers
    )
    assert from_parquet == from_csv
    assert "2024-02/round-2/breaks.csv" in from_parquet


def test_a_parquet_timestamp_is_read_as_the_csv_writes_it(run, tmp_path):
    ledger = _csv("ledger").with_columns(
        pl.col("posted_at")
        .str.to_datetime("%Y-%m-%d %H:%M:%S", strict=False)
        .fill_null(pl.col("posted_at").str.to_datetime("%Y-%m-%d", strict=False))
    )
    assert ledger.schema["posted_at"] == pl.Datetime("us")
    result = run(
        "validate", "--enrollees", SAMPLE / "enrollees.csv",
        "--ledger", _parquet(tmp_path, "ledger", ledger),
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert "ledger: 136 rows on 45 accounts, 2023-12-31 00:00:00 to 2024-02-21 23:59:59" in (
        result.stdout
    )


def test_a_bad_cell_in_parquet_is_named_by_its_row(run, tmp_path):
    people = _csv("enrollees").with_columns(
        pl.when(pl.int_range(pl.len()) == 2)
        .then(pl.lit("61.999"))
        .otherwise(pl.col("monthly_premium"))
        .alias("monthly_premium")
    )
    path = _parquet(tmp_path, "enrollees", people)
    result = run("validate", "--enrollees", path, "--ledger", SAMPLE / "ledger.csv")
    assert result.exit_code == 2
    assert "enrollees.parquet:3: monthly_premium: '61.999' is not an amount" in result.stderr


def test_a_parquet_file_that_is_not_one_is_bad_input_and_nothing_is_written(run, tmp_path):
    path = tmp_path / "enrollees.parquet"
    path.write_bytes(b"PAR1" + b"\x00not a parquet file" * 20)
    out = tmp_path / "out"
    result = run(
        "deduct", "--round", "1", "--month", "2024-02", "--enrollees", path,
        "--ledger", SAMPLE / "ledger.csv", "--out", out,
    )  # fmt: skip
    assert result.exit_code == 2
    assert "enrollees.parquet: not a Parquet file of plain columns polars can read" in result.stderr
    assert not out.exists()


@pytest.mark.parametrize("premium", [Decimal("619.95"), Decimal("0.01")])
def test_parquet_amounts_as_decimals_are_exact(premium, tmp_path):
    from mediins_cli.inputs import read_enrollees

    people = _csv("enrollees").head(1).with_columns(pl.lit(premium).alias("monthly_premium"))
    frame, problems, encoding = read_enrollees(_parquet(tmp_path, "enrollees", people))
    assert encoding == "parquet" and problems.height == 0, problems
    assert frame is not None and frame["premium_fen"].to_list() == [int(premium * 100)]


@pytest.mark.parametrize(
    "extra",
    [pl.lit([1, 2]).alias("tags"), pl.lit(b"\xff\xfe110101198407220464").alias("blob")],
    ids=["nested", "binary"],
)
def test_a_parquet_column_that_is_not_plain_text_or_a_number_is_refused_unquoted(
    run, tmp_path, extra
):
    path = _parquet(tmp_path, "enrollees", _csv("enrollees").with_columns(extra))
    result = run("validate", "--enrollees", path, "--ledger", SAMPLE / "ledger.csv")
    assert result.exit_code == 2
    assert "BAD_PARQUET" not in result.stderr  # the message, not the code, is shown
    assert "not a Parquet file of plain columns" in result.stderr
    assert "110101198407220464" not in result.stderr + result.stdout
