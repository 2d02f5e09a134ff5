"""The bank's return files (回盘, DESIGN §11): every kind of bad file is bad input — exit 2,
``file:line: column: problem`` on stderr, nothing written, the --errors CSV if asked — and no
full ID number, account number or name reaches the terminal (DESIGN §7)."""

from __future__ import annotations

import csv
import shutil
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import pytest
from bank_helpers import (
    ENROLLEES,
    LEDGER_1,
    PIPE,
    RETURN_HEADER,
    TINY,
    answer_all,
    deduct_returns,
    instruct,
    instruct_args,
    instructions_dir,
    ok,
    ref,
    round_dir,
    rows,
    simulate,
    write_enrollees,
    write_generic_returns,
)

from mediins_cli.bank.instructions import by_reference, reference_key

#: everything personal in the sample month: none of it may reach stdout or stderr
_SAMPLE = rows(ENROLLEES)
SECRETS = sorted(
    {r["enrollee_id"] for r in _SAMPLE if len(r["enrollee_id"]) == 18}
    | {r["account_no"] for r in _SAMPLE}
    | {r["name"] for r in _SAMPLE}
)


@dataclass(frozen=True)
class Month:
    """Round 1 of the sample month instructed and answered by the simulated bank (read-only)."""

    out: Path
    bank: Path


def _answered(factory, *fmt: str) -> Month:
    root = factory.mktemp("month")
    out, bank = root / "out", root / "bank"
    assert instruct(out, 1, *fmt).exit_code == 0
    assert simulate(out, 1, LEDGER_1, bank).exit_code == 0
    return Month(out, bank)


@pytest.fixture(scope="module")
def generic_month(tmp_path_factory) -> Month:
    return _answered(tmp_path_factory)


@pytest.fixture(scope="module")
def pipe_month(tmp_path_factory) -> Month:
    return _answered(tmp_path_factory, "--bank-format", PIPE)


class Case:
    """A fresh copy of a month's instructions and return files to spoil."""

    def __init__(self, month: Month, tmp_path: Path) -> None:
        self.out = tmp_path / "out"
        self.bank = tmp_path / "bank"
        shutil.copytree(instructions_dir(month.out, 1), instructions_dir(self.out, 1))
        shutil.copytree(month.bank, self.bank)

    def lines(self, name: str, encoding: str = "utf-8") -> list[str]:
        return (self.bank / name).read_bytes().decode(encoding).splitlines()

    def write(self, name: str, lines: list[str], encoding: str = "utf-8") -> Path:
        path = self.bank / name
        path.write_bytes(("\n".join(lines) + "\n").encode(encoding))
        return path

    def edit(self, name: str, line: int, old: str, new: str, encoding: str = "utf-8") -> None:
        """Replace ``old`` by ``new`` on physical line ``line`` (1 = the first)."""
        text = self.lines(name, encoding)
        assert old in text[line - 1], (old, text[line - 1])
        text[line - 1] = text[line - 1].replace(old, new)
        self.write(name, text, encoding)

    def run(self, *extra: object, returns: Path | list[Path] | None = None):
        return deduct_returns(self.out, 1, self.bank if returns is None else returns, *extra)

    def bad(self, *expected: str, returns: Path | list[Path] | None = None, errors=None):
        """Run; assert bad input with each of ``expected`` in a line of stderr and nothing
        written; return the result."""
        extra = ("--errors", errors) if errors is not None else ()
        result = self.run(*extra, returns=returns)
        assert result.exit_code == 2, (result.stdout, result.stderr)
        for e in expected:
            assert any(e in line for line in result.stderr.splitlines()), (e, result.stderr)
        assert result.stdout == ""
        assert not round_dir(self.out, 1).exists()
        assert not list((self.out / "2024-02").glob("round-1*"))
        for secret in SECRETS:
            assert secret not in result.stderr, secret
        return result


@pytest.fixture
def generic(generic_month, tmp_path) -> Case:
    return Case(generic_month, tmp_path)


@pytest.fixture
def pipe(pipe_month, tmp_path) -> Case:
    return Case(pipe_month, tmp_path)


def _first_line(case: Case, name: str) -> list[str]:
    """The first answer of a generic return file, as cells."""
    return next(csv.reader([case.lines(name)[1]]))


# --------------------------------------------------------------------------- the good case


@pytest.mark.parametrize("which", ["generic", "pipe"])
def test_the_simulated_answers_run(request, which):
    case = request.getfixturevalue(which)
    result = case.run()
    assert result.exit_code == 0, result.stderr
    assert round_dir(case.out, 1).is_dir()


# --------------------------------------------------------------------------- references


def test_an_unknown_reference(generic):
    first = _first_line(generic, "BOB.csv")
    assert first[0] == ref(1, 1)
    generic.edit("BOB.csv", 2, ref(1, 1), ref(1, 99))
    generic.bad(
        f"BOB.csv:2: reference: '{ref(1, 99)}' is not an instruction of round 1 of 2024-02",
        # and so the instruction it replaced has no answer
        "1 instructions of round 1 of 2024-02 have no answer in the return files "
        f"(by instruction file: BOB.csv: 1); first: {ref(1, 1)}.",
    )


def test_a_reference_answered_twice_in_one_file(generic):
    lines = generic.lines("BOB.csv")
    assert len(lines) == 26  # a header and BOB's 25 instructions
    generic.write("BOB.csv", [*lines, lines[2]])  # line 3 again, as line 27
    answered = lines[2].split(",")[0]
    generic.bad(f"BOB.csv:27: reference: '{answered}' is answered already at ")
    result = generic.run()
    assert result.stderr.split("is answered already at ")[1].split()[0].endswith("BOB.csv:3")


def test_a_reference_answered_in_two_files(generic):
    bob, psbc = generic.lines("BOB.csv"), generic.lines("PSBC.csv")
    assert len(psbc) == 20
    generic.write("PSBC.csv", [*psbc, bob[2]])  # line 21 of PSBC answers BOB's line 3
    answered = bob[2].split(",")[0]
    result = generic.bad(f"PSBC.csv:21: reference: '{answered}' is answered already at ")
    assert result.stderr.count("is answered already") == 1
    assert "BOB.csv:3" in result.stderr


def test_missing_answers_say_how_many_and_the_first_few(generic):
    lines = generic.lines("BOB.csv")
    dropped = [line.split(",")[0] for line in lines[1:8]]  # 7 answers
    generic.write("BOB.csv", [lines[0], *lines[8:]])
    generic.bad(
        "reference: 7 instructions of round 1 of 2024-02 have no answer in the return files "
        f"(by instruction file: BOB.csv: 7); first: {', '.join(dropped[:5])}, …. "
        "Is a return file missing?"
    )


def test_a_return_file_left_out(generic):
    result = generic.bad(
        "25 instructions of round 1 of 2024-02 have no answer in the return files "
        "(by instruction file: BOB.csv: 25)",
        returns=generic.bank / "PSBC.csv",
    )
    assert "PSBC.csv: " not in result.stderr


@pytest.mark.parametrize(
    ("old", "other"), [("-R1-", "round 2 of 2024-02"), ("202402", "round 1 of 2024-01")]
)
def test_a_return_file_of_another_round_or_month(generic, old, other):
    lines = generic.lines("BOB.csv")
    new = {"-R1-": "-R2-", "202402": "202401"}[old]
    generic.write("BOB.csv", [lines[0]] + [line.replace(old, new, 1) for line in lines[1:]])
    result = generic.bad(
        f"BOB.csv:2: reference: this file answers {other}, not round 1 of 2024-02 (25 such rows"
    )
    # said once for the file, not once per row
    assert result.stderr.count("this file answers") == 1
    assert "is not an instruction" not in result.stderr


# --------------------------------------------------------------------------- the answers


def test_a_changed_amount(generic):
    generic.edit("BOB.csv", 2, ",619.95,", ",619.96,")
    generic.bad("BOB.csv:2: amount: 619.96 yuan is not the amount instructed (619.95 yuan)")


def test_a_malformed_amount(generic):
    generic.edit("BOB.csv", 2, ",619.95,", ",619.9x,")
    generic.bad("BOB.csv:2: amount: '619.9x' is not an amount in yuan with at most two decimals")


def test_a_changed_account_is_named_masked(generic):
    first = _first_line(generic, "BOB.csv")
    account = first[1]
    assert account == "6223090000255986104"  # 林佳慧's, from sample_data/enrollees.csv
    changed = account[:-1] + "5"
    generic.edit("BOB.csv", 2, account, changed)
    result = generic.bad(
        "BOB.csv:2: account_no: '6223********6105' is not the account instructed "
        "('6223********6104')"
    )
    assert changed not in result.stderr


def test_an_unknown_result_value(generic):
    generic.edit("BOB.csv", 2, ",OK,", ",DONE,")
    generic.bad("BOB.csv:2: result: 'DONE' is not a result value of bank format generic")


def test_a_pipe_result_value_the_format_does_not_know(pipe):
    pipe.edit("BOB.txt", 1, "|0000|", "|0001|", "gb18030")
    pipe.bad("BOB.txt:1: result: '0001' is not a result value of bank format pipe-gb18030-fen")


def test_ok_with_an_empty_settle_date(generic):
    generic.edit("BOB.csv", 2, ",2024-02-18", ",")
    generic.bad("BOB.csv:2: settled_on: is empty on a debit the bank reports as done")


@pytest.mark.parametrize("day", ["2024-02-30", "18/02/2024", "2024-02-18 10:00"])
def test_a_bad_settle_date(generic, day):
    generic.edit("BOB.csv", 2, ",2024-02-18", f",{day}")
    generic.bad(f"BOB.csv:2: settled_on: '{day}' is not a date YYYY-MM-DD or YYYYMMDD")


def test_a_debit_settled_before_the_effective_date(generic):
    """Round 1 of 2024-02 is effective on Sunday 2024-02-18 (Spring Festival rolled): the bank
    debits that day or later; the 17th is another round's date, or a wrong one."""
    generic.edit("BOB.csv", 2, ",2024-02-18", ",2024-02-17")
    generic.bad("BOB.csv:2: settled_on: 2024-02-17 is before the round's effective date 2024-02-18")


def test_a_debit_settled_after_the_effective_date_is_its_deducted_on(generic):
    generic.edit("BOB.csv", 2, ",2024-02-18", ",20240219")
    result = generic.run()
    assert result.exit_code == 0, result.stderr
    first = _first_line(generic, "BOB.csv")[0]  # the reference of that answer
    done = {
        r["reference"]: r["deducted_on"] for r in rows(round_dir(generic.out, 1) / "success.csv")
    }
    assert done[first] == "2024-02-19"
    assert set(done.values()) == {"2024-02-18", "2024-02-19"}


def test_every_problem_goes_to_the_errors_csv(generic, tmp_path):
    generic.edit("BOB.csv", 2, ",619.95,", ",619.96,")
    generic.edit("BOB.csv", 3, ",OK,", ",DONE,")
    errors = tmp_path / "errors.csv"
    generic.bad("amount", errors=errors)
    found = rows(errors)
    assert sorted((r["line"], r["column"], r["code"], r["severity"]) for r in found) == [
        ("2", "amount", "CHANGED_AMOUNT", "error"),
        ("3", "result", "UNKNOWN_RESULT", "error"),
    ]
    assert all(r["file"].endswith("BOB.csv") for r in found)
    assert list(found[0]) == ["file", "line", "column", "code", "message", "severity"]


# --------------------------------------------------------------------------- the files


def test_a_utf8_file_for_the_gb18030_format(pipe):
    text = (pipe.bank / "BOB.txt").read_bytes().decode("gb18030")
    assert "扣款成功" in text  # Chinese text: the encodings differ
    (pipe.bank / "BOB.txt").write_bytes(text.encode("utf-8"))
    pipe.bad("BOB.txt: the file is utf-8, but bank format pipe-gb18030-fen is gb18030")


def test_a_gb18030_file_for_the_utf8_format(generic):
    text = (generic.bank / "BOB.csv").read_text(encoding="utf-8")
    (generic.bank / "BOB.csv").write_bytes(text.encode("gb18030"))
    generic.bad("BOB.csv: the file is gb18030, but bank format generic is utf-8")


def test_an_ascii_file_is_read_in_the_gb18030_format(pipe):
    """Codes only, no Chinese message: the same text in both encodings, so not refused."""
    for name in ("BOB.txt", "PSBC.txt"):
        lines = []
        for line in pipe.lines(name, "gb18030"):
            cells = line.split("|")
            cells[5] = ""  # the message
            lines.append("|".join(cells))
        pipe.write(name, lines, "ascii")
    result = pipe.run()
    assert result.exit_code == 0, result.stderr
    assert len(rows(round_dir(pipe.out, 1) / "success.csv")) == 33


def test_a_pipe_row_with_another_number_of_fields(pipe):
    pipe.edit("BOB.txt", 2, "|20240218", "|20240218|x", "gb18030")
    pipe.bad("BOB.txt:2: 8 fields separated by '|'; bank format pipe-gb18030-fen has 7")


def test_a_pipe_row_with_too_few_fields(pipe):
    lines = pipe.lines("PSBC.txt", "gb18030")
    cells = lines[4].split("|")
    pipe.write("PSBC.txt", [*lines[:4], "|".join(cells[:-1]), *lines[5:]], "gb18030")
    pipe.bad("PSBC.txt:5: 6 fields separated by '|'; bank format pipe-gb18030-fen has 7")


def test_a_generic_row_with_too_many_fields(generic):
    generic.edit("BOB.csv", 4, ',余额不足,""', ',余额不足,"",extra')
    generic.bad("BOB.csv:4: 7 fields, the header has 6")


def test_an_unbalanced_quote(generic):
    generic.edit("BOB.csv", 4, "MI-", '"MI-')
    generic.bad("BOB.csv:4: a quote opened on this line is never closed")


def test_a_message_over_two_lines_keeps_the_line_numbers(generic):
    generic.edit("BOB.csv", 2, ",扣款成功,", ',"扣款\n成功",')
    lines = generic.lines("BOB.csv")
    assert lines[2] == '成功",2024-02-18'  # the quoted message spans lines 2 and 3
    assert lines[4].startswith(ref(1, 3)) and ",INSUFFICIENT_FUNDS," in lines[4]
    generic.edit("BOB.csv", 5, ",INSUFFICIENT_FUNDS,", ",NO_MONEY,")
    generic.bad("BOB.csv:5: result: 'NO_MONEY' is not a result value of bank format generic")


def test_the_header_is_matched_by_name_in_any_order(generic, generic_month, tmp_path):
    """DESIGN §11: with header = true, columns by name in any order (and any case); others
    are carried no further."""
    reference = tmp_path / "reference"
    shutil.copytree(generic.out, reference)
    assert deduct_returns(reference, 1, generic_month.bank).exit_code == 0
    order = ["Settled_On", "memo", "RESULT", "amount", "account_no", "message", "reference"]
    for name in ("BOB.csv", "PSBC.csv"):
        answers = rows(generic.bank / name)
        shuffled = [
            [
                a["settled_on"],
                "x",
                a["result"],
                a["amount"],
                a["account_no"],
                a["message"],
                a["reference"],
            ]
            for a in answers
        ]
        write_generic_returns(generic.bank / name, shuffled, header=order)
    result = generic.run()
    assert result.exit_code == 0, result.stderr
    for name in ("success.csv", "failure.csv", "retry.csv"):
        got = (round_dir(generic.out, 1) / name).read_bytes()
        assert got == (round_dir(reference, 1) / name).read_bytes(), name


def test_a_header_without_a_required_column(generic):
    lines = generic.lines("BOB.csv")
    header = lines[0].replace("result", "outcome")
    generic.write("BOB.csv", [header, *lines[1:]])
    generic.bad("BOB.csv:1: result: bank format generic needs this column")


def test_the_same_file_given_twice(generic):
    bob, psbc = generic.bank / "BOB.csv", generic.bank / "PSBC.csv"
    generic.bad("BOB.csv: the same file is given twice", returns=[bob, psbc, bob])


def test_the_same_file_under_two_names(generic):
    shutil.copy(generic.bank / "PSBC.csv", generic.bank / "PSBC-again.csv")
    generic.bad("the same file is given twice")


def test_an_empty_return_folder_is_bad_input(generic, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    result = generic.run(returns=empty)
    assert result.exit_code == 2
    assert "no return file" in result.stderr
    assert not round_dir(generic.out, 1).exists()


# --------------------------------------------------------------------------- amounts as values


def test_amounts_are_compared_as_values(tmp_path):
    """468.5 is 468.50 (DESIGN §11); 468.05 is not."""
    enrollees = write_enrollees(tmp_path / "e.csv", TINY)
    out = tmp_path / "out"
    assert instruct(out, 1, enrollees=enrollees).exit_code == 0
    folder = instructions_dir(out, 1)
    bank = tmp_path / "bank"
    for name in ("ICBC.csv", "CCB.csv", "_.csv"):
        answers = answer_all(folder / name, {})
        for a in answers:
            a[2] = {"468.50": "468.5", "100.00": "100"}.get(a[2], a[2])
        write_generic_returns(bank / name, answers)
    assert [a["amount"] for a in rows(bank / "ICBC.csv")] == ["468.5", "100"]
    wrong = tmp_path / "wrong"
    shutil.copytree(bank, wrong)
    text = (wrong / "ICBC.csv").read_text(encoding="utf-8").replace(",468.5,", ",468.05,")
    (wrong / "ICBC.csv").write_text(text, encoding="utf-8")
    refused = deduct_returns(out, 1, wrong, enrollees=enrollees)
    assert refused.exit_code == 2
    assert "ICBC.csv:2: amount: 468.05 yuan is not the amount instructed (468.50 yuan)" in (
        refused.stderr
    )
    done = deduct_returns(out, 1, bank, enrollees=enrollees)
    assert done.exit_code == 0, done.stderr
    success = rows(round_dir(out, 1) / "success.csv")
    assert {(s["enrollee_id"], s["amount"]) for s in success} == {
        (TINY[0].id, "468.50"),
        (TINY[1].id, "619.95"),
        (TINY[3].id, "858.27"),
        (TINY[5].id, "100.00"),
    }


def test_fen_with_leading_zeros_is_the_same_amount(pipe):
    pipe.edit("BOB.txt", 1, "|61995|", "|0061995|", "gb18030")
    result = pipe.run()
    assert result.exit_code == 0, result.stderr


def test_generic_header_constant_is_the_formats():
    from mediins_cli.bank.formats import load_format

    assert tuple(RETURN_HEADER) == load_format("generic").returns


def test_the_returns_problems_are_masked_in_ok_runs_too(generic):
    """A run that works prints no full account or ID either."""
    result = ok(
        "deduct",
        "--round",
        1,
        "--month",
        "2024-02",
        "--enrollees",
        ENROLLEES,
        "--out",
        generic.out,
        "--returns",
        generic.bank,
    )
    for secret in SECRETS:
        assert secret not in result.stdout + result.stderr, secret


def test_answers_are_found_by_an_integer_key_that_keeps_every_reference_apart():
    prefix = "MI-202402-R1-"
    refs = [f"{prefix}00000012", f"{prefix}0000012", "MI-202402-R2-00000012", f"{prefix}1x", None]
    keys = pl.DataFrame({"reference": refs}).select(reference_key(prefix)).to_series()
    assert keys.to_list()[:2] == [100000012, 10000012]  # a leading zero is not lost
    assert keys.to_list()[2:] == [None, None, None]  # another round, not digits, none
    sent = pl.DataFrame({"reference": [f"{prefix}00000002", f"{prefix}00000001"], "n": [2, 1]})
    answers = pl.DataFrame(
        {
            "reference": [f"{prefix}00000001", f"{prefix}0000001", f"{prefix}00000002"],
            "r": list("abc"),
        }
    )
    found = by_reference(sent, answers, prefix, {"r": "__r"})
    assert found.columns == ["__r"]
    assert found["__r"].to_list() == ["c", "a"]  # in the order of the rows looked up
    missing = by_reference(answers, sent, prefix, {"n": "__n"})
    assert missing["__n"].to_list() == [1, None, 2]


def test_extra_columns_named_like_the_banks_columns_go_through_as_written(tmp_path):
    """An enrollee file's own columns named ``file``, ``seq``, ``result``, ``settled_on`` or
    ``return_file`` are the operator's: instructions and answers carry theirs under names no
    file may use, so each output row keeps the value the enrollee file gave it (they were
    overwritten by the instruction's file and number)."""
    extra = ["file", "seq", "result", "settled_on", "return_file"]
    people = rows(ENROLLEES)
    for n, person in enumerate(people):
        person.update({c: f"{c}-{n}" for c in extra})
    enrollees = tmp_path / "enrollees.csv"
    with enrollees.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, list(people[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(people)
    out, bank = tmp_path / "out", tmp_path / "bank"
    ok(*instruct_args(out, enrollees=enrollees))
    assert simulate(out, 1, LEDGER_1, bank).exit_code == 0
    result = deduct_returns(out, 1, bank, enrollees=enrollees)
    assert result.exit_code == 0, result.stderr
    given = {p["enrollee_id"]: p for p in people}
    seen = 0
    for name in ("success.csv", "failure.csv", "skipped.csv"):
        for row in rows(round_dir(out, 1) / name):
            assert {c: row[c] for c in extra} == {c: given[row["enrollee_id"]][c] for c in extra}
            seen += 1
    assert seen == len(people)
    # the instruction files still number their rows 1, 2, … in each file
    for path in instructions_dir(out, 1).glob("*.csv"):
        assert [r["seq"] for r in rows(path)] == [str(i) for i in range(1, len(rows(path)) + 1)]
