"""Generate ``sample_data/returns/``: the bank's return files (回盘) of the sample month 2024-02,
in the example positional format ``pipe-gb18030-fen``, for the return-mode demo and the tests.

How they are made (README.md in this folder lists every deliberate row and its outcome):

1. ``instruct`` round 1 of the sample month (``sample_data/enrollees.csv``, the default pack
   and calendar) in ``pipe-gb18030-fen``, into a temporary folder;
2. the simulated bank answers it from ``sample_data/ledger.csv`` (``OK``, ``INSUFFICIENT_FUNDS``,
   ``NO_ACCOUNT``, as ``deduct --ledger`` decides them);
3. five answers the simulated bank gave as ``OK`` are changed to failures, each written the way a
   bank writes it (a Chinese text or a code in the result column), and one ``OK`` gets a settle
   date a day after the effective date: ``ROUND_1`` below. Only successes are turned into
   failures, never the reverse, so no answer debits money the ledger does not have;
4. ``deduct --returns`` reads them (round 1), ``instruct`` writes round 2 (round 1's retryable
   failures: the ``INSUFFICIENT_FUNDS`` and the ``BANK_ERROR``), and the simulated bank answers
   round 2 from ``sample_data/ledger.csv`` again: it holds every row up to round 2's cut-off and
   none of round 1's debits, and the simulated bank subtracts the debits of *this* round 1 (not
   ``ledger-round2.csv``, which books the ledger-mode debits, the changed five among them);
5. ``deduct --returns`` runs round 2, and every outcome listed in README.md is checked. Only then
   are ``round1/*.txt`` and ``round2/*.txt`` written.

Deterministic (no clock, no randomness): a second run gives byte-identical files. Run from the
repository root with the project's environment::

    python sample_data/returns/make_returns.py
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import polars as pl

from mediins_cli.bank.run import InstructRequest, instruct
from mediins_cli.bank.simulate import simulate_bank
from mediins_cli.months import Month
from mediins_cli.rules import DEFAULT_PACK
from mediins_cli.runs import DeductRequest, deduct

HERE = Path(__file__).resolve().parent
SAMPLE = HERE.parent
ENROLLEES = SAMPLE / "enrollees.csv"
LEDGER = SAMPLE / "ledger.csv"
MONTH = Month(2024, 2)
FORMAT = "pipe-gb18030-fen"
ENCODING = "gb18030"

#: round 1's deliberate answers, by the enrollee's name (unique in the sample): the result
#: column, the message column and the settle date (``YYYYMMDD``, empty on a failure)
ROUND_1 = {
    "陈慧晶": ("账户已销户", "账户已销户", ""),  # ACCOUNT_CLOSED, by its Chinese text
    "贾霞": ("1004", "户名不符", ""),  # NAME_MISMATCH, by its code
    "贺文东": ("未签约", "未签约代扣协议", ""),  # NO_AGREEMENT, by its Chinese text
    "崔娜": ("账户止付", "账户止付", ""),  # ACCOUNT_FROZEN, by its Chinese text
    "高鑫": ("9999", "系统异常", ""),  # BANK_ERROR, by its code: retried in round 2
    "曹国庆": ("0000", "扣款成功", "20240219"),  # OK, settled the day after the effective date
}

# What mediins must make of them (README.md works each out by hand)
EXPECT_REASONS_1 = {
    "单丽": "INSUFFICIENT_FUNDS",
    "欧阳晓峰": "INSUFFICIENT_FUNDS",
    "查海涛": "INSUFFICIENT_FUNDS",
    "覃美玲": "INSUFFICIENT_FUNDS",
    "缪建华": "INSUFFICIENT_FUNDS",
    "翟雪": "INSUFFICIENT_FUNDS",
    "朴成浩": "INSUFFICIENT_FUNDS",
    "孙浩": "INSUFFICIENT_FUNDS",
    "马俊杰": "NO_ACCOUNT",
    "卢海燕": "INSUFFICIENT_FUNDS",
    "袁梦琪": "INSUFFICIENT_FUNDS",
    "陈慧晶": "ACCOUNT_CLOSED",
    "贾霞": "NAME_MISMATCH",
    "贺文东": "NO_AGREEMENT",
    "崔娜": "ACCOUNT_FROZEN",
    "高鑫": "BANK_ERROR",
}
RETRYABLE = {"INSUFFICIENT_FUNDS", "BANK_ERROR"}
PAID_2 = {"欧阳晓峰", "查海涛", "缪建华", "翟雪", "孙浩", "高鑫"}
UNPAID_2 = {"单丽", "覃美玲", "朴成浩", "卢海燕", "袁梦琪"}
#: round 2's breaks: name → category (round 2's failures and round 1's permanent ones)
EXPECT_BREAKS = {
    "单丽": "NEW_BREAK",
    "覃美玲": "NEW_BREAK",
    "朴成浩": "NEW_BREAK",
    "卢海燕": "ONGOING",
    "袁梦琪": "WAITING_RESET",
    "马俊杰": "NEW_BREAK",
    "陈慧晶": "NEW_BREAK",
    "贾霞": "NEW_BREAK",
    "贺文东": "NEW_BREAK",
    "崔娜": "NEW_BREAK",
}
#: round 1: (succeeded, amount), (failed, amount); round 2 likewise
EXPECT_TOTALS = {
    1: ((28, "19946.22"), (16, "10980.90")),
    2: ((6, "4208.76"), (5, "3266.91")),
}


def edit_answers(answers: bytes, instructions: bytes, changes: dict[str, tuple[str, ...]]) -> bytes:
    """The return file ``answers`` with the answers to the instructions of the named enrollees
    replaced (a line is ``seq|reference|account|amount|result|message|settled_on``; the
    instruction file names the enrollee in its ``account_name`` column, the fourth)."""
    reference_of = {}
    for line in instructions.decode(ENCODING).splitlines():
        fields = line.split("|")
        reference_of[fields[3]] = fields[1]
    wanted = {
        reference_of[name]: change for name, change in changes.items() if name in reference_of
    }
    lines = []
    for line in answers.decode(ENCODING).splitlines():
        fields = line.split("|")
        if fields[1] in wanted:
            assert fields[4] == "0000", f"only a success is changed: {fields[1]} was {fields[4]}"
            fields[4:7] = wanted.pop(fields[1])
        lines.append("|".join(fields))
    assert not wanted, wanted
    return ("\n".join(lines) + "\n").encode(ENCODING)


def rows(path: Path) -> list[dict[str, str]]:
    return pl.read_csv(path, infer_schema=False).to_dicts()


def main() -> None:
    names = {r["enrollee_id"]: r["name"] for r in rows(ENROLLEES)}
    made: dict[str, dict[str, bytes]] = {}
    with tempfile.TemporaryDirectory(prefix="mediins-returns-") as tmp:
        out = Path(tmp) / "out"
        command = "sample_data/returns/make_returns.py"

        def run_round(n: int) -> Path:
            bank = Path(tmp) / "bank" / f"round{n}"
            instruct(
                InstructRequest(round=n, month=MONTH, enrollees=ENROLLEES, out=out,
                                rules=DEFAULT_PACK, bank_format=FORMAT, command=command)
            )  # fmt: skip
            simulate_bank(out, MONTH, n, LEDGER, bank, DEFAULT_PACK)
            sent = out / str(MONTH) / f"instructions-{n}"
            files = {}
            for answer in sorted(bank.iterdir()):
                data = answer.read_bytes()
                if n == 1:
                    data = edit_answers(data, (sent / answer.name).read_bytes(), ROUND_1)
                answer.write_bytes(data)
                files[answer.name] = data
            made[f"round{n}"] = files
            outcome = deduct(
                DeductRequest(round=n, month=MONTH, enrollees=ENROLLEES, ledger=LEDGER,
                              out=out, rules=DEFAULT_PACK, command=command,
                              returns=tuple(sorted(bank.iterdir())))
            )  # fmt: skip
            summary = outcome.summary
            (ok, ok_amount), (failed, failed_amount) = EXPECT_TOTALS[n]
            got = tuple(
                {k: summary[part][k] for k in ("enrollees", "amount")}
                for part in ("succeeded", "failed")
            )
            assert got == (
                {"enrollees": ok, "amount": ok_amount},
                {"enrollees": failed, "amount": failed_amount},
            ), (n, got)
            return outcome.run_dir

        # round 1: every failure as planned, the retry list its retryable ones
        run1 = run_round(1)
        failure = {names[r["enrollee_id"]]: r["reason"] for r in rows(run1 / "failure.csv")}
        assert failure == EXPECT_REASONS_1, failure
        retry = {names[r["enrollee_id"]] for r in rows(run1 / "retry.csv")}
        assert retry == {n for n, r in EXPECT_REASONS_1.items() if r in RETRYABLE}, retry
        success = {names[r["enrollee_id"]]: r for r in rows(run1 / "success.csv")}
        assert success["曹国庆"]["deducted_on"] == "2024-02-19"
        assert {r["deducted_on"] for n, r in success.items() if n != "曹国庆"} == {"2024-02-18"}

        # round 2: the BANK_ERROR is answered OK, the month's breaks include round 1's
        # permanent failures
        run2 = run_round(2)
        paid = {names[r["enrollee_id"]]: r for r in rows(run2 / "success.csv")}
        assert set(paid) == PAID_2, set(paid)
        assert paid["高鑫"]["deducted_on"] == "2024-02-22"
        unpaid = {names[r["enrollee_id"]] for r in rows(run2 / "failure.csv")}
        assert unpaid == UNPAID_2, unpaid
        breaks = {names[r["enrollee_id"]]: r["category"] for r in rows(run2 / "breaks.csv")}
        assert breaks == EXPECT_BREAKS, breaks
        updates = {names[r["enrollee_id"]]: r for r in rows(run2 / "updates.csv")}
        cao = updates["曹国庆"]
        assert (cao["paid_through"], cao["waiting_until"]) == ("2024-02", "2024-08-17"), cao
        summary = json.loads((run2 / "summary.json").read_text(encoding="utf-8"))
        unpaid_total = summary["month_total"]["unpaid"]
        assert unpaid_total["enrollees"] == 10 and unpaid_total["amount"] == "6772.14", summary

    for folder, files in made.items():
        target = HERE / folder
        target.mkdir(exist_ok=True)
        for stale in target.glob("*.txt"):
            if stale.name not in files:
                stale.unlink()
        for name, data in files.items():
            (target / name).write_bytes(data)
            lines = data.count(b"\n")
            print(f"{target.relative_to(SAMPLE.parent)}/{name}: {lines} answers")


if __name__ == "__main__":
    sys.exit(main())
