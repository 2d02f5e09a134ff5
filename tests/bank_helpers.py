"""Shared pieces of the bank-interface tests (DESIGN §11): the CLI in-process, small enrollee
files whose instructions are worked out by hand, and return files written as a bank would."""

from __future__ import annotations

import csv
import io
import json
import shutil
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from stdnum.cn import ric
from typer.testing import CliRunner, Result

from conftest import ROOT, SAMPLE
from mediins_cli.cli import app

MONTH = "2024-02"
ENROLLEES = SAMPLE / "enrollees.csv"
LEDGER_1 = SAMPLE / "ledger.csv"
LEDGER_2 = SAMPLE / "ledger-round2.csv"
PIPE = "pipe-gb18030-fen"
#: 2024-02 (official calendar): round 1 rolls over the Spring Festival to Sun 02-18, round 2 on
#: Thu 02-22 (DESIGN §2)
EFFECTIVE = {1: "2024-02-18", 2: "2024-02-22"}
RETURN_HEADER = ["reference", "account_no", "amount", "result", "message", "settled_on"]

_runner = CliRunner()


def mediins(*args: object, env: dict[str, str] | None = None) -> Result:
    """``mediins ARGS...`` in-process (stdout and stderr apart)."""
    return _runner.invoke(app, [str(a) for a in args], env=env, catch_exceptions=False)


def ok(*args: object, env: dict[str, str] | None = None) -> Result:
    result = mediins(*args, env=env)
    assert result.exit_code == 0, (result.stdout, result.stderr)
    return result


def instruct_args(
    out: Path, *extra: object, round_no: int = 1, enrollees: Path = ENROLLEES
) -> tuple[object, ...]:
    """The arguments of ``mediins instruct`` for the sample month."""
    args = ("instruct", "--round", round_no, "--month", MONTH, "--enrollees", enrollees)
    return (*args, "--out", out, *extra)


def instruct(
    out: Path, round_no: int, *extra: object, enrollees: Path = ENROLLEES, **kw: Any
) -> Result:
    return mediins(*instruct_args(out, *extra, round_no=round_no, enrollees=enrollees), **kw)


def simulate(out: Path, round_no: int, ledger: Path, to: Path, **kw: Any) -> Result:
    return mediins(
        "simulate-bank",
        "--round",
        round_no,
        "--month",
        MONTH,
        "--ledger",
        ledger,
        "--to",
        to,
        "--out",
        out,
        **kw,
    )


def deduct_returns(
    out: Path,
    round_no: int,
    returns: Path | list[Path],
    *extra: object,
    enrollees: Path = ENROLLEES,
    **kw: Any,
) -> Result:
    given = returns if isinstance(returns, list) else [returns]
    args: list[object] = []
    for r in given:
        args += ["--returns", r]
    return _deduct(out, round_no, enrollees, *args, *extra, **kw)


def deduct_ledger(out: Path, round_no: int, ledger: Path, enrollees: Path = ENROLLEES) -> Result:
    return _deduct(out, round_no, enrollees, "--ledger", ledger)


def _deduct(out: Path, round_no: int, enrollees: Path, *args: object, **kw: Any) -> Result:
    return mediins(
        "deduct",
        "--round",
        round_no,
        "--month",
        MONTH,
        "--enrollees",
        enrollees,
        "--out",
        out,
        *args,
        **kw,
    )


def instructions_dir(out: Path, round_no: int) -> Path:
    return out / MONTH / f"instructions-{round_no}"


def round_dir(out: Path, round_no: int) -> Path:
    return out / MONTH / f"round-{round_no}"


def manifest(folder: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    return data


def summary(folder: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
    return data


def rows(path: Path, encoding: str = "utf-8") -> list[dict[str, str]]:
    with path.open(encoding=encoding, newline="") as fh:
        return list(csv.DictReader(fh))


def pipe_rows(path: Path, columns: list[str]) -> list[dict[str, str]]:
    """A file of the pipe format: GB18030, ``|``, no header, columns by position."""
    text = path.read_bytes().decode("gb18030")
    return [dict(zip(columns, line.split("|"), strict=True)) for line in text.splitlines()]


PIPE_INSTRUCTION = ["seq", "reference", "account_no", "account_name", "amount", "month", "purpose"]
PIPE_RETURN = ["seq", "reference", "account_no", "amount", "result", "message", "settled_on"]


def fen(yuan: str) -> int:
    """Yuan text to fen, exactly."""
    value = Decimal(yuan) * 100
    assert value == value.to_integral_value(), yuan
    return int(value)


def ric_id(n: int) -> str:
    """A valid resident ID numbered ``n`` (born 1980-01-01 in 110101); sorted as ``n``."""
    body = f"11010119800101{n:03d}"
    return body + ric.calc_check_digit(body + "0")


@dataclass(frozen=True)
class Person:
    n: int
    name: str
    premium: str
    account: str
    bank: str = ""
    agency: str = "DC01"
    status: str = "active"
    enrolled_on: str = "2015-01-01"
    paid_through: str = "2024-01"

    @property
    def id(self) -> str:
        return ric_id(self.n)


ENROLLEE_HEADER = (
    "enrollee_id,name,agency,status,enrolled_on,paid_through,monthly_premium,account_no,bank"
)


def write_enrollees(path: Path, people: list[Person]) -> Path:
    """An enrollee file of ``people`` (written in reverse order: mediins sorts by ID)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(ENROLLEE_HEADER.split(","))
    for p in reversed(people):
        w.writerow(
            [
                p.id,
                p.name,
                p.agency,
                p.status,
                p.enrolled_on,
                p.paid_through,
                p.premium,
                p.account,
                p.bank,
            ]
        )
    path.write_text(buf.getvalue(), encoding="utf-8")
    return path


#: A small month, worked by hand. Due in 2024-02: 1, 2, 4, 6 (3 has paid February, 5 is
#: suspended, 7's coverage starts in March), numbered R1-00000001 … 4 in ID order.
TINY = [
    Person(1, "张三", "468.50", "6222020000000000011", "ICBC"),
    Person(2, "李四", "619.95", "6214830000000022"),  # no bank code: _.csv
    Person(3, "王五", "703.53", "6222020000000000033", "ICBC", paid_through="2024-02"),
    Person(4, "赵六", "858.27", "6217000000000000044", "CCB"),
    Person(5, "钱七", "300.00", "6222020000000000055", "ICBC", status="suspended"),
    Person(6, "孙八", "100.00", "6222020000000000066", "ICBC"),
    Person(7, "周九", "200.00", "6217000000000000077", "CCB", enrolled_on="2024-02-03"),
]


def ref(round_no: int, number: int) -> str:
    return f"MI-202402-R{round_no}-{number:08d}"


def write_generic_returns(path: Path, answers: list[list[str]], header: list[str] | None = None):
    """A return file of the generic format: a header row and one row per answer."""
    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header or RETURN_HEADER)
    w.writerows(answers)
    path.write_text(buf.getvalue(), encoding="utf-8")
    return path


def answer_all(
    instruction_file: Path, results: dict[str, tuple[str, str]], default=("OK", "2024-02-18")
) -> list[list[str]]:
    """Generic answers to a generic instruction file: ``results`` by reference, else ``default``
    (result, settled_on)."""
    out = []
    for r in rows(instruction_file):
        result, settled = results.get(r["reference"], default)
        out.append([r["reference"], r["account_no"], r["amount"], result, "", settled])
    return out


def copy_rules(to: Path) -> Path:
    """A copy of ``rules/`` for MEDIINS_RULES_DIR (to add or edit a bank format)."""
    shutil.copytree(ROOT / "rules", to)
    return to


def assert_nothing_personal(text: str, *secrets: str) -> None:
    """No full ID, account number or name on the terminal (DESIGN §7)."""
    for secret in secrets:
        assert secret not in text, secret
