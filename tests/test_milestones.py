"""Retirement milestones of round 1 (issue 11, item 4), hand-worked from the seeds' ages:
002 四 (男年满60周岁，女年满55周岁), 004 (男性在60周岁以下, 女性在55周岁以下)."""

from __future__ import annotations

import csv
import json
from datetime import date

import polars as pl
from stdnum.cn import ric

from conftest import SAMPLE
from mediins_cli.milestones import retirements
from mediins_cli.months import Month


def due(*rows: tuple[str, str | None, date | None, date | None]) -> pl.DataFrame:
    """(enrollee_id, sex, birth_date, retirement_date) of people due."""
    return pl.DataFrame(
        {
            "enrollee_id": [r[0] for r in rows],
            "name": ["张三"] * len(rows),
            "agency": ["DC01"] * len(rows),
            "sex": [r[1] for r in rows],
            "birth_date": [r[2] for r in rows],
            "retirement_date": [r[3] for r in rows],
        },
        schema_overrides={"birth_date": pl.Date, "retirement_date": pl.Date, "sex": pl.String},
    )


def reached(frame: pl.DataFrame) -> dict[str, tuple[date, str, int | None]]:
    return {
        r["enrollee_id"]: (r["reached_on"], r["basis"], r["retirement_age"])
        for r in frame.iter_rows(named=True)
    }


def test_men_at_60_and_women_at_55_by_the_months_last_day():
    people = due(
        ("A", "M", date(1964, 2, 10), None),  # 60 on 2024-02-10: in February
        ("B", "M", date(1964, 3, 1), None),  # 60 on 2024-03-01: not yet
        ("C", "F", date(1969, 2, 29 - 1), None),  # 55 on 2024-02-28
        ("D", "F", date(1969, 3, 1), None),  # 55 on 2024-03-01: not yet
        ("E", "F", date(1964, 2, 10), None),  # 60, a woman: reached at 55 in 2019
    )
    got = reached(retirements(people, Month(2024, 2), 60, 55))
    assert got == {
        "A": (date(2024, 2, 10), "age", 60),
        "C": (date(2024, 2, 28), "age", 55),
        "E": (date(2019, 2, 10), "age", 55),
    }


def test_a_29_february_birthday_is_reached_on_28_february_of_a_common_year():
    """Born 1968-02-29: 55 years on in 2023 there is no 29 February; the age is reached on the
    28th, so by the end of February 2023."""
    people = due(("F", "F", date(1968, 2, 29), None))
    assert reached(retirements(people, Month(2023, 2), 60, 55)) == {
        "F": (date(2023, 2, 28), "age", 55)
    }
    assert retirements(people, Month(2023, 1), 60, 55).height == 0


def test_the_master_systems_retirement_date_wins_and_needs_no_age():
    people = due(
        ("G", "M", date(1970, 5, 1), date(2024, 2, 15)),  # given: retires in February
        ("H", "M", date(1964, 2, 10), date(2025, 2, 10)),  # given later than the age: not yet
        ("I", None, None, date(2024, 2, 1)),  # a passport without birth date or sex
    )
    got = reached(retirements(people, Month(2024, 2), 60, 55))
    assert got == {
        "G": (date(2024, 2, 15), "retirement_date", None),
        "I": (date(2024, 2, 1), "retirement_date", None),
    }
    # a pack that states no age (Beijing, Jilin) judges only by the given date
    assert reached(retirements(people, Month(2024, 2), None, None)) == {
        "G": (date(2024, 2, 15), "retirement_date", None),
        "I": (date(2024, 2, 1), "retirement_date", None),
    }


def test_unknown_sex_or_birth_date_is_never_judged_by_age():
    people = due(("J", None, date(1950, 1, 1), None), ("K", "M", None, None))
    assert retirements(people, Month(2024, 2), 60, 55).height == 0


def test_round_one_writes_milestones_and_counts_them(run, tmp_path):
    """The sample month under Jiangsu's ages (in force 2022): the due men born on or before
    1964-02-29 and women on or before 1969-02-28 are listed; a retirement_date column given
    for one person puts him in whatever his age."""
    with (SAMPLE / "enrollees.csv").open(encoding="utf-8", newline="") as fh:
        rows = list(csv.reader(fh))
    header = rows[0]
    rows[0] = [*header, "retirement_date"]
    young = next(
        i for i, r in enumerate(rows[1:], 1) if r[0].startswith("1101") and r[0][6:10] > "1990"
    )
    for i, row in enumerate(rows[1:], 1):
        row.append("2024-02-20" if i == young else "")
    # and one man of 60 in February by his ID alone: born 1964-02-15 (sex and birth date
    # cells emptied, so they come from the ID)
    old = next(i for i, r in enumerate(rows[1:], 1) if i != young and r[0].startswith("1101"))
    body = "11010119640215101"
    sixty = body + ric.calc_check_digit(body + "0")
    for column in ("sex", "birth_date"):
        if column in header:
            rows[old][header.index(column)] = ""
    rows[old][0] = sixty
    enrollees = tmp_path / "enrollees.csv"
    with enrollees.open("w", encoding="utf-8", newline="") as fh:
        csv.writer(fh, lineterminator="\n").writerows(rows)
    out = tmp_path / "out"
    result = run(
        "deduct",
        "--round",
        "1",
        "--month",
        "2024-02",
        "--rules",
        "jiangsu-huaian-2021",
        "--enrollees",
        str(enrollees),
        "--ledger",
        str(SAMPLE / "ledger.csv"),
        "--out",
        str(out),
        "--json",
    )
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)["summary"]
    listed = list(csv.DictReader((out / "2024-02" / "round-1" / "milestones.csv").open()))
    success = {
        r["enrollee_id"]
        for r in csv.DictReader((out / "2024-02" / "round-1" / "success.csv").open())
    }
    failure = {
        r["enrollee_id"]
        for r in csv.DictReader((out / "2024-02" / "round-1" / "failure.csv").open())
    }
    attempted = success | failure
    # worked out from the IDs of everyone attempted: birth date digits 7–14, sex digit 17
    expected = set()
    for ident in attempted:
        if len(ident) != 18:
            continue
        born = date(int(ident[6:10]), int(ident[10:12]), int(ident[12:14]))
        male = int(ident[16]) % 2 == 1
        limit = date(1964, 2, 29) if male else date(1969, 2, 28)
        if born <= limit:
            expected.add(ident)
    expected.add(rows[young][0])
    assert sixty in expected and sixty in attempted
    assert {r["enrollee_id"] for r in listed} == expected & attempted
    man = next(r for r in listed if r["enrollee_id"] == sixty)
    assert (man["basis"], man["reached_on"], man["retirement_age"]) == ("age", "2024-02-15", "60")
    assert summary["milestones"]["retirement"] == len(listed)
    assert sum(summary["milestones"]["by_agency"].values()) == len(listed)
    given = next(r for r in listed if r["enrollee_id"] == rows[young][0])
    assert (given["basis"], given["reached_on"]) == ("retirement_date", "2024-02-20")


def test_a_document_without_a_birth_date_is_warned_about_where_ages_are_stated(run, tmp_path):
    with (SAMPLE / "enrollees.csv").open(encoding="utf-8", newline="") as fh:
        rows = list(csv.reader(fh))
    header = rows[0]
    kind, born = header.index("id_type"), header.index("birth_date")
    at = next(i for i, r in enumerate(rows[1:], 1) if r[kind] not in ("", "ric") and r[born])
    rows[at][born] = ""
    enrollees = tmp_path / "enrollees.csv"
    with enrollees.open("w", encoding="utf-8", newline="") as fh:
        csv.writer(fh, lineterminator="\n").writerows(rows)
    base = ["deduct", "--round", "1", "--month", "2024-02", "--enrollees", str(enrollees)]
    base += ["--ledger", str(SAMPLE / "ledger.csv")]
    jiangsu = run(*base, "--rules", "jiangsu-huaian-2021", "--out", str(tmp_path / "j"))
    assert jiangsu.exit_code == 0, jiangsu.stderr
    line = at + 1  # the header is line 1
    said = f"enrollees.csv:{line}: warning: birth_date: the document gives no birth date"
    assert said in jiangsu.stderr
    # Beijing's pack states no age: nothing to tell, nothing said
    beijing = run(*base, "--out", str(tmp_path / "b"))
    assert beijing.exit_code == 0 and "no birth date" not in beijing.stderr
