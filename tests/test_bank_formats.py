"""Bank formats as data (DESIGN §11: rules/banks/<id>.toml, validated on load) and the
instruction files of `mediins instruct` (送盘), worked out by hand on small enrollee files."""

from __future__ import annotations

import hashlib
import json
import os
import stat
from pathlib import Path

import pytest
from bank_helpers import (
    ENROLLEES,
    LEDGER_1,
    MONTH,
    PIPE,
    PIPE_INSTRUCTION,
    TINY,
    Person,
    answer_all,
    copy_rules,
    deduct_ledger,
    deduct_returns,
    fen,
    instruct,
    instruct_args,
    instructions_dir,
    manifest,
    mediins,
    ok,
    pipe_rows,
    ref,
    round_dir,
    rows,
    simulate,
    write_enrollees,
    write_generic_returns,
)

from conftest import ROOT
from mediins_cli.bank.formats import RESULT_CODES, load_all_formats, load_format, parse_format
from mediins_cli.outputs import month_lock

GENERIC_TOML = (ROOT / "rules" / "banks" / "generic.toml").read_text(encoding="utf-8")


# --------------------------------------------------------------------------- formats


def test_both_shipped_formats_load_as_documented():
    generic = load_format("generic")
    assert (generic.encoding, generic.delimiter, generic.header, generic.amount_unit) == (
        "utf-8",
        ",",
        True,
        "yuan",
    )
    assert generic.instruction == (
        "seq",
        "reference",
        "account_no",
        "account_name",
        "amount",
        "enrollee_id",
        "agency",
        "month",
    )
    assert generic.returns == (
        "reference",
        "account_no",
        "amount",
        "result",
        "message",
        "settled_on",
    )
    # the generic format reads and writes the codes as they are (DESIGN §11)
    assert generic.results == {code: code for code in RESULT_CODES}
    assert generic.extension == "csv"

    pipe = load_format(PIPE)
    assert (pipe.encoding, pipe.delimiter, pipe.header, pipe.amount_unit) == (
        "gb18030",
        "|",
        False,
        "fen",
    )
    assert pipe.extension == "txt"
    assert pipe.results["余额不足"] == "INSUFFICIENT_FUNDS"
    assert pipe.results["账户已销户"] == "ACCOUNT_CLOSED"
    assert pipe.results["户名不符"] == "NAME_MISMATCH"
    # every code has at least one value in the example format, so it can answer anything
    assert set(pipe.results.values()) == set(RESULT_CODES)
    assert [f.id for f in load_all_formats()] == ["generic", PIPE]


def test_rules_banks_lists_both_formats_and_the_default():
    result = ok("rules", "banks")
    assert "generic (default)" in result.stdout
    assert PIPE in result.stdout
    listed = json.loads(ok("rules", "banks", "--json").stdout)
    assert [f["id"] for f in listed] == ["generic", PIPE]
    assert listed[1]["delimiter"] == "|" and listed[1]["header"] is False
    assert listed[1]["amount_unit"] == "fen" and listed[1]["encoding"] == "gb18030"
    one = json.loads(ok("rules", "banks", PIPE, "--json").stdout)
    assert one["return_columns"][0] == "ignore"
    assert one["results"]["1001"] == "INSUFFICIENT_FUNDS"
    shown = ok("rules", "banks", PIPE).stdout
    assert "余额不足 → INSUFFICIENT_FUNDS" in shown


def _variant(tmp_path: Path, name: str, *edits: tuple[str, str]) -> Path:
    """generic.toml with ``edits`` (old → new, each present exactly once) as ``<name>.toml``,
    its id set to ``name``."""
    text = GENERIC_TOML.replace('id = "generic"', f'id = "{name}"')
    for old, new in edits:
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    path = tmp_path / f"{name}.toml"
    path.write_text(text, encoding="utf-8")
    return path


RETURN_LINE = 'columns = ["reference", "account_no", "amount", "result", "message", "settled_on"]'

BROKEN = {
    "unknown-key": (
        [("[instruction]", 'colour = "red"\n\n[instruction]')],
        "colour",
        "unknown key",
    ),
    "missing-key": ([('amount_unit = "yuan"\n', "")], "amount_unit", "missing"),
    "bad-encoding": (
        [('encoding = "utf-8"', 'encoding = "latin-1"')],
        "encoding",
        "expected one of utf-8, gb18030",
    ),
    "two-char-delimiter": (
        [('delimiter = ","', 'delimiter = ";;"')],
        "delimiter",
        "expected one character",
    ),
    "dash-delimiter": (
        [('delimiter = ","', 'delimiter = "-"')],
        "delimiter",
        "'-' is in the values mediins writes",  # MI-202402-R1-…, 2024-02
    ),
    "digit-delimiter": (
        [('delimiter = ","', 'delimiter = "0"')],
        "delimiter",
        "'0' is in the values mediins writes",
    ),
    "header-not-bool": ([("header = true", 'header = "yes"')], "header", "expected true"),
    "unknown-column": (
        [('"agency", "month"]', '"agency", "month", "iban"]')],
        "instruction.columns",
        "'iban' is not one of",
    ),
    "duplicate-column": (
        [(RETURN_LINE, RETURN_LINE.replace('"message"', '"amount"'))],
        "return.columns",
        "'amount' is listed twice",
    ),
    "unknown-code": (
        [('BANK_ERROR = "BANK_ERROR"', 'BANK_ERROR = "SYSTEM_DOWN"')],
        "results.BANK_ERROR",
        "expected one of OK,",
    ),
    "no-ok": ([('OK = "OK"\n', "")], "results", "no value means OK"),
    "missing-results": (
        [(GENERIC_TOML[GENERIC_TOML.index("[results]") :], "")],
        "results",
        "missing",
    ),
}
for required in ("reference", "account_no", "amount", "result"):
    BROKEN[f"no-{required.replace('_', '-')}"] = (
        [(RETURN_LINE, RETURN_LINE.replace(f'"{required}", ', ""))],
        "return.columns",
        f"'{required}' is required",
    )


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_a_broken_format_is_refused_naming_the_file_and_the_key(tmp_path, name):
    edits, key, expected = BROKEN[name]
    path = _variant(tmp_path, name, *edits)
    fmt, problems = parse_format(path)
    assert fmt is None
    assert [(p.column, p.code) for p in problems if p.column == key] == [(key, "BAD_BANK_FORMAT")]
    assert any(expected in p.message for p in problems if p.column == key), problems
    assert all(p.file.endswith(f"{name}.toml") for p in problems)
    # through the CLI: exit 2, the file and the key on stderr, nothing on stdout
    result = mediins("rules", "banks", path)
    assert result.exit_code == 2
    assert f"{name}.toml" in result.stderr and f"{key}: " in result.stderr
    assert result.stdout == ""


def test_every_key_but_name_is_required(tmp_path):
    """DESIGN §11: a format without ``name`` loads, named by its id."""
    path = tmp_path / "no-name.toml"
    text = GENERIC_TOML.replace('id = "generic"', 'id = "no-name"')
    text = "\n".join(line for line in text.splitlines() if not line.startswith("name ="))
    path.write_text(text + "\n", encoding="utf-8")
    fmt, problems = parse_format(path)
    assert problems == [] and fmt is not None
    assert (fmt.id, fmt.name) == ("no-name", "no-name")
    without_id = tmp_path / "x.toml"
    without_id.write_text(text.replace('id = "no-name"\n', ""), encoding="utf-8")
    fmt, problems = parse_format(without_id)
    assert fmt is None and [(p.column, p.message) for p in problems] == [("id", "missing")]


def test_a_format_whose_id_is_not_its_file_name_is_refused(tmp_path):
    path = tmp_path / "mybank.toml"
    path.write_text(GENERIC_TOML, encoding="utf-8")  # id = "generic"
    result = mediins("rules", "banks", path)
    assert result.exit_code == 2
    assert "mybank.toml: id: expected 'mybank'" in result.stderr


def test_a_broken_format_in_rules_banks_fails_the_listing_and_instruct(tmp_path):
    rules = copy_rules(tmp_path / "rules")
    _variant(rules / "banks", "broken", ("header = true", "header = 1"))
    env = {"MEDIINS_RULES_DIR": str(rules)}
    result = mediins("rules", "banks", env=env)
    assert result.exit_code == 2
    assert "broken.toml: header:" in result.stderr
    out = tmp_path / "out"
    refused = instruct(out, 1, "--bank-format", "broken", env=env)
    assert refused.exit_code == 2 and "broken.toml: header:" in refused.stderr
    assert not out.exists()


def test_an_unknown_format_id_names_the_known_ones(tmp_path):
    result = instruct(tmp_path / "out", 1, "--bank-format", "nosuchbank")
    assert result.exit_code == 2
    assert "no bank format 'nosuchbank'" in result.stderr
    assert "generic" in result.stderr and PIPE in result.stderr
    assert not (tmp_path / "out").exists()


def test_a_format_given_by_path_writes_its_files(tmp_path):
    path = _variant(tmp_path, "semicolon", ('delimiter = ","', 'delimiter = ";"'))
    out = tmp_path / "out"
    ok(*instruct_args(out, "--bank-format", path))
    folder = instructions_dir(out, 1)
    assert manifest(folder)["format"]["id"] == "semicolon"
    assert sorted(p.name for p in folder.glob("*.txt")) == ["BOB.txt", "PSBC.txt"]
    first = (folder / "BOB.txt").read_text(encoding="utf-8").splitlines()[0]
    assert first == "seq;reference;account_no;account_name;amount;enrollee_id;agency;month"


# --------------------------------------------------------------------------- instruct, round 1


@pytest.fixture
def tiny(tmp_path) -> Path:
    return write_enrollees(tmp_path / "enrollees.csv", TINY)


def test_round_one_instructs_everyone_due_one_file_per_bank(tmp_path, tiny):
    out = tmp_path / "out"
    result = ok(*instruct_args(out, "--json", enrollees=tiny))
    folder = instructions_dir(out, 1)
    # 3 paid February, 5 is suspended, 7 starts in March: 1, 2, 4, 6 are due, numbered in
    # enrollee_id order; 2 has no bank code
    assert sorted(p.name for p in folder.iterdir()) == [
        "CCB.csv",
        "ICBC.csv",
        "_.csv",
        "instruct.log",
        "manifest.json",
    ]
    by = {p.n: p for p in TINY}
    assert rows(folder / "ICBC.csv") == [
        _generic(1, ref(1, 1), by[1], "468.50"),
        _generic(2, ref(1, 4), by[6], "100.00"),
    ]
    assert rows(folder / "CCB.csv") == [_generic(1, ref(1, 3), by[4], "858.27")]
    assert rows(folder / "_.csv") == [_generic(1, ref(1, 2), by[2], "619.95")]
    files = manifest(folder)["files"]
    assert {n: (f["count"], f["sum_fen"]) for n, f in files.items()} == {
        "CCB.csv": (1, 85827),
        "ICBC.csv": (2, 46850 + 10000),
        "_.csv": (1, 61995),
    }
    said = json.loads(result.stdout)
    assert said["status"] == "ran"
    assert said["summary"]["instructed"] == {"enrollees": 4, "amount": "2046.72"}
    assert said["summary"]["skipped"] == 3


def _generic(seq: int, reference: str, p: Person, amount: str) -> dict[str, str]:
    return {
        "seq": str(seq),
        "reference": reference,
        "account_no": p.account,
        "account_name": p.name,
        "amount": amount,
        "enrollee_id": p.id,
        "agency": p.agency,
        "month": MONTH,
    }


def test_the_manifest_holds_dates_format_hashes_and_the_files(tmp_path, tiny):
    out = tmp_path / "out"
    ok(*instruct_args(out, enrollees=tiny))
    folder = instructions_dir(out, 1)
    m = manifest(folder)
    assert m["month"] == MONTH and m["round"] == 1
    assert m["dates"] == {
        "due": "2024-02-12",
        "effective": "2024-02-18",
        "cutoff": "2024-02-18 00:00:00",
    }
    assert m["format"]["id"] == "generic"
    generic_sha = hashlib.sha256((ROOT / "rules/banks/generic.toml").read_bytes()).hexdigest()
    assert m["format"]["sha256"] == generic_sha
    assert m["inputs"]["enrollees"] == hashlib.sha256(tiny.read_bytes()).hexdigest()
    for name, entry in m["files"].items():
        assert entry["sha256"] == hashlib.sha256((folder / name).read_bytes()).hexdigest()
    # no skipped list among the instructions (deduct --returns writes round 1's skipped.csv)
    assert not list(folder.glob("skipped*"))


def test_the_sample_month_references_match_the_ledger_mode(tmp_path):
    out = tmp_path / "out"
    ok(*instruct_args(out))
    folder = instructions_dir(out, 1)
    sent = rows(folder / "BOB.csv") + rows(folder / "PSBC.csv")
    enrollees = rows(ENROLLEES)
    # skipped, by hand from sample_data/enrollees.csv: 何静, 罗永强 (suspended), 郭淑芬
    # (terminated), 冯子轩 (enrolled 2024-02-05: coverage from March), 邓丽华 and 韩志刚 (paid
    # through 2024-02 and 2024-03)
    skipped = {"何静", "罗永强", "郭淑芬", "冯子轩", "邓丽华", "韩志刚"}
    due = sorted(e["enrollee_id"] for e in enrollees if e["name"] not in skipped)
    assert len(due) == 44 and len(sent) == 44
    # references numbered over the due enrollees in enrollee_id order
    assert {r["enrollee_id"]: r["reference"] for r in sent} == {
        ident: ref(1, i) for i, ident in enumerate(due, start=1)
    }
    # every file is numbered 1..n and lists its bank's enrollees only
    bank_of = {e["enrollee_id"]: e["bank"] for e in enrollees}
    for name in ("BOB.csv", "PSBC.csv"):
        part = rows(folder / name)
        assert [int(r["seq"]) for r in part] == list(range(1, len(part) + 1))
        assert {bank_of[r["enrollee_id"]] for r in part} == {name[:-4]}
        assert [r["reference"] for r in part] == sorted(r["reference"] for r in part)
    # control totals = the files summed by hand
    files = manifest(folder)["files"]
    for name, entry in files.items():
        part = rows(folder / name)
        assert entry["count"] == len(part)
        assert entry["sum_fen"] == sum(fen(r["amount"]) for r in part)
    premium = {e["enrollee_id"]: e["monthly_premium"] for e in enrollees}
    assert all(r["amount"] == premium[r["enrollee_id"]] for r in sent)
    # the ledger mode gives a successful debit the same reference
    ledger_out = tmp_path / "ledger"
    assert deduct_ledger(ledger_out, 1, LEDGER_1).exit_code == 0
    success = rows(round_dir(ledger_out, 1) / "success.csv")
    assert len(success) == 33
    by_id = {r["enrollee_id"]: r["reference"] for r in sent}
    assert all(by_id[s["enrollee_id"]] == s["reference"] for s in success)


def test_the_pipe_format_writes_fen_in_gb18030_by_position(tmp_path, tiny):
    out = tmp_path / "out"
    ok(*instruct_args(out, "--bank-format", PIPE, enrollees=tiny))
    folder = instructions_dir(out, 1)
    assert sorted(p.name for p in folder.glob("*.txt")) == ["CCB.txt", "ICBC.txt", "_.txt"]
    raw = (folder / "ICBC.txt").read_bytes()
    assert "张三".encode("gb18030") in raw and "张三".encode() not in raw
    assert "医保费202402".encode("gb18030") in raw
    by = {p.n: p for p in TINY}
    assert raw.decode("gb18030").splitlines() == [
        f"1|{ref(1, 1)}|{by[1].account}|张三|46850|2024-02|医保费202402",
        f"2|{ref(1, 4)}|{by[6].account}|孙八|10000|2024-02|医保费202402",
    ]
    assert pipe_rows(folder / "_.txt", PIPE_INSTRUCTION)[0]["amount"] == "61995"
    files = manifest(folder)["files"]
    for name, entry in files.items():
        part = pipe_rows(folder / name, PIPE_INSTRUCTION)
        assert (entry["count"], entry["sum_fen"]) == (
            len(part),
            sum(int(r["amount"]) for r in part),
        )
    assert manifest(folder)["format"]["id"] == PIPE


def test_files_with_personal_data_are_private(tmp_path, tiny):
    out = tmp_path / "out"
    ok(*instruct_args(out, enrollees=tiny))
    folder = instructions_dir(out, 1)
    for name in ("CCB.csv", "ICBC.csv", "_.csv", "instruct.log"):
        assert stat.S_IMODE(os.stat(folder / name).st_mode) == 0o600, name


def test_a_rerun_is_unchanged_and_byte_identical(tmp_path, tiny):
    out = tmp_path / "out"
    ok(*instruct_args(out, enrollees=tiny))
    folder = instructions_dir(out, 1)
    before = {p.name: p.read_bytes() for p in folder.iterdir() if p.name != "instruct.log"}
    again = ok(*instruct_args(out, "--json", enrollees=tiny))
    assert json.loads(again.stdout)["status"] == "unchanged"
    # written afresh elsewhere, the same bytes
    other = tmp_path / "other"
    ok(*instruct_args(other, enrollees=tiny))
    fresh = instructions_dir(other, 1)
    assert {p.name: p.read_bytes() for p in fresh.iterdir() if p.name != "instruct.log"} == before
    assert {p.name: p.read_bytes() for p in folder.iterdir() if p.name != "instruct.log"} == before


def test_other_enrollees_are_refused_unless_forced_and_kept_aside(tmp_path, tiny):
    out = tmp_path / "out"
    ok(*instruct_args(out, enrollees=tiny))
    folder = instructions_dir(out, 1)
    first = {p.name: p.read_bytes() for p in folder.iterdir()}
    changed = write_enrollees(
        tmp_path / "changed.csv", [*TINY, Person(8, "吴十", "50.00", "6222020000000000088", "ICBC")]
    )
    refused = instruct(out, 1, enrollees=changed)
    assert refused.exit_code == 3
    assert "enrollees" in refused.stderr and "--force" in refused.stderr
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == first
    forced = ok(*instruct_args(out, "--force", "--json", enrollees=changed))
    aside = Path(json.loads(forced.stdout)["moved_aside"])
    assert aside.parent == folder.parent and aside != folder
    assert {p.name: p.read_bytes() for p in aside.iterdir()} == first  # never deleted
    assert manifest(folder)["files"]["ICBC.csv"]["count"] == 3


def test_force_with_bad_enrollees_leaves_the_earlier_instructions_in_place(tmp_path, tiny):
    out = tmp_path / "out"
    ok(*instruct_args(out, enrollees=tiny))
    folder = instructions_dir(out, 1)
    first = {p.name: p.read_bytes() for p in folder.iterdir()}
    bad = tmp_path / "bad.csv"
    text = tiny.read_text(encoding="utf-8")
    assert text.count("468.50") == 1
    bad.write_text(text.replace("468.50", "468.5x"), encoding="utf-8")
    result = instruct(out, 1, "--force", enrollees=bad)
    assert result.exit_code == 2 and "monthly_premium" in result.stderr
    assert sorted(p.name for p in folder.parent.iterdir()) == [".lock", "instructions-1"]
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == first


def test_force_is_refused_once_the_round_ran_on_the_instructions(tmp_path, tiny):
    out = tmp_path / "out"
    ok(*instruct_args(out, enrollees=tiny))
    folder = instructions_dir(out, 1)
    bank = tmp_path / "bank"
    assert (
        simulate(out, 1, LEDGER_1, bank).exit_code == 0
    )  # the tiny accounts are not in the ledger: NO_ACCOUNT, all of them
    assert deduct_returns(out, 1, bank, enrollees=tiny).exit_code == 0
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    changed = write_enrollees(tmp_path / "changed.csv", TINY[:-1])
    refused = instruct(out, 1, "--force", enrollees=changed)
    assert refused.exit_code == 3
    assert "has already run on these instructions" in refused.stderr
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before
    shown = sorted(p.name for p in folder.parent.iterdir() if not p.name.startswith("."))
    assert shown == ["instructions-1", "round-1"]  # nothing moved aside


def test_round_two_before_round_one_is_refused(tmp_path, tiny):
    out = tmp_path / "out"
    result = instruct(out, 2, enrollees=tiny)
    assert result.exit_code == 3
    assert "round 1 of 2024-02 has not run" in result.stderr
    ok(*instruct_args(out, enrollees=tiny))  # instructions alone are not a round 1
    assert instruct(out, 2, enrollees=tiny).exit_code == 3
    assert not instructions_dir(out, 2).exists()


def test_round_two_after_a_ledger_mode_round_one_is_refused(tmp_path):
    out = tmp_path / "out"
    assert deduct_ledger(out, 1, LEDGER_1).exit_code == 0
    result = instruct(out, 2)
    assert result.exit_code == 3
    assert "ran on a ledger" in result.stderr
    assert not instructions_dir(out, 2).exists()


def test_a_name_holding_the_pipe_delimiter_is_refused_for_the_pipe_format(tmp_path):
    people = [*TINY[:3], Person(4, "赵|六", "858.27", "6217000000000000044", "CCB")]
    path = write_enrollees(tmp_path / "e.csv", people)
    out = tmp_path / "out"
    result = instruct(out, 1, "--bank-format", PIPE, enrollees=path)
    assert result.exit_code == 2
    assert "e.csv:2: " in result.stderr  # written in reverse: 4 is the first row
    assert "'|'" in result.stderr and PIPE in result.stderr
    assert "赵|六" not in result.stderr and "赵|六" not in result.stdout
    assert not out.exists() or not instructions_dir(out, 1).exists()
    # the generic format quotes it as CSV does
    ok(*instruct_args(out, enrollees=path))
    assert rows(instructions_dir(out, 1) / "CCB.csv")[0]["account_name"] == "赵|六"


def test_only_the_columns_a_format_writes_must_be_free_of_its_delimiter(tmp_path):
    """The pipe format writes no agency: an agency code holding '|' does not matter to it."""
    people = [Person(1, "张三", "468.50", "6222020000000000011", "ICBC", agency="DC|01")]
    out = tmp_path / "out"
    path = write_enrollees(tmp_path / "e.csv", people)
    ok(*instruct_args(out, "--bank-format", PIPE, enrollees=path))
    line = (instructions_dir(out, 1) / "ICBC.txt").read_bytes().decode("gb18030")
    assert line.count("|") == len(PIPE_INSTRUCTION) - 1


@pytest.mark.parametrize("codes", [("ICBC", "icbc"), ("B C", "B_C"), ("B/C", "B_C")])
def test_two_bank_codes_giving_one_file_name_are_refused(tmp_path, codes):
    people = [
        Person(1, "张三", "468.50", "6222020000000000011", codes[0]),
        Person(2, "李四", "619.95", "6222020000000000022", codes[1]),
    ]
    path = write_enrollees(tmp_path / "e.csv", people)
    out = tmp_path / "out"
    result = instruct(out, 1, enrollees=path)
    assert result.exit_code == 2
    assert "bank: this bank code and another give one instruction file name" in result.stderr
    assert not instructions_dir(out, 1).exists()


def test_a_bank_with_no_instruction_gets_no_file(tmp_path):
    people = [
        Person(1, "张三", "468.50", "6222020000000000011", "ICBC"),
        Person(2, "李四", "619.95", "6217000000000000022", "CCB", status="terminated"),
    ]
    out = tmp_path / "out"
    ok(*instruct_args(out, enrollees=write_enrollees(tmp_path / "e.csv", people)))
    assert sorted(manifest(instructions_dir(out, 1))["files"]) == ["ICBC.csv"]


# --------------------------------------------------------------------------- instruct, round 2


def test_round_two_instructs_exactly_the_retryable_failures(tmp_path):
    people = [
        Person(1, "张三", "100.01", "6222020000000000011", "ICBC"),
        Person(2, "李四", "200.02", "6222020000000000022", "ICBC"),
        Person(3, "王五", "300.03", "6217000000000000033", "CCB"),
        Person(4, "赵六", "400.04", "6217000000000000044", "CCB"),
        Person(5, "钱七", "500.05", "6222020000000000055", "ICBC"),
    ]
    path = write_enrollees(tmp_path / "e.csv", people)
    out = tmp_path / "out"
    ok(*instruct_args(out, enrollees=path))
    folder = instructions_dir(out, 1)
    results = {
        ref(1, 1): ("OK", "2024-02-18"),
        ref(1, 2): ("BANK_ERROR", ""),
        ref(1, 3): ("INSUFFICIENT_FUNDS", ""),
        ref(1, 4): ("NO_ACCOUNT", ""),
        ref(1, 5): ("NO_AGREEMENT", ""),
    }
    bank = tmp_path / "bank"
    for name in ("ICBC.csv", "CCB.csv"):
        write_generic_returns(bank / name, answer_all(folder / name, results))
    assert deduct_returns(out, 1, bank, enrollees=path).exit_code == 0
    ok(*instruct_args(out, round_no=2, enrollees=path))
    second = instructions_dir(out, 2)
    # 2 (BANK_ERROR) and 3 (INSUFFICIENT_FUNDS), numbered again in ID order; not the permanent
    assert rows(second / "ICBC.csv") == [_generic(1, ref(2, 1), people[1], "200.02")]
    assert rows(second / "CCB.csv") == [_generic(1, ref(2, 2), people[2], "300.03")]
    m = manifest(second)
    assert {n: (f["count"], f["sum_fen"]) for n, f in m["files"].items()} == {
        "CCB.csv": (1, 30003),
        "ICBC.csv": (1, 20002),
    }
    assert m["dates"]["effective"] == "2024-02-22"
    # round 2 instructs round 1's retry list: another enrollee file is refused
    other = write_enrollees(tmp_path / "other.csv", people[:4])
    refused = instruct(tmp_path / "out", 2, "--force", enrollees=other)
    assert refused.exit_code == 3


def test_instruct_is_refused_in_a_month_another_run_holds(tmp_path, tiny):
    """The month's lock (DESIGN §8) covers instruct too."""
    out = tmp_path / "out"
    (out / MONTH).mkdir(parents=True)
    with month_lock(out / MONTH, "a test"):
        result = instruct(out, 1, enrollees=tiny)
    assert result.exit_code == 3
    assert not instructions_dir(out, 1).exists()


def test_simulate_bank_answers_every_instruction_once(tmp_path):
    out = tmp_path / "out"
    ok(*instruct_args(out))
    bank = tmp_path / "bank"
    result = simulate(out, 1, LEDGER_1, bank)
    assert result.exit_code == 0, result.stderr
    assert "outcomes: INSUFFICIENT_FUNDS 10, NO_ACCOUNT 1, OK 33" in result.stdout
    folder = instructions_dir(out, 1)
    for name in ("BOB.csv", "PSBC.csv"):
        sent, answered = rows(folder / name), rows(bank / name)
        assert [r["reference"] for r in answered] == [r["reference"] for r in sent]
        assert [r["amount"] for r in answered] == [r["amount"] for r in sent]
        assert {r["settled_on"] for r in answered if r["result"] == "OK"} == {"2024-02-18"}
        assert {r["settled_on"] for r in answered if r["result"] != "OK"} == {""}


def test_simulate_bank_without_instructions_is_refused(tmp_path):
    result = simulate(tmp_path / "out", 1, LEDGER_1, tmp_path / "bank")
    assert result.exit_code == 3
    assert not (tmp_path / "bank").exists()
