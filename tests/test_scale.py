"""Issue 9 (DESIGN §10): what the speed-ups changed, held to the behaviour they must keep.

Speed and memory themselves are measured by ``make bench``, never here: these tests check that
the faster paths give the same answers as the plain ones (the debit on a narrow frame, the
ledger's one grouped pass, the threaded hash, the single flush of a run directory) and that a
command which needs no engine does not load one.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import subprocess
import sys
import threading
from pathlib import Path

import polars as pl
import pytest

from mediins_cli import outputs
from mediins_cli.inputs import read_ledger, validate_inputs
from mediins_cli.inputs.source import _CHUNK, SourceProblem, open_source
from mediins_cli.report import inputs_summary
from mediins_cli.rounds import debit

SAMPLE = Path(__file__).resolve().parent.parent / "sample_data"


# --------------------------------------------------------------------------- start-up


def _modules_after(code: str) -> set[str]:
    done = subprocess.run(
        [sys.executable, "-c", code + "\nimport sys, json; print(json.dumps(sorted(sys.modules)))"],
        capture_output=True,
        text=True,
        check=True,
    )
    return set(json.loads(done.stdout.strip().splitlines()[-1]))


def test_the_command_line_loads_no_engine_until_a_command_needs_one():
    loaded = _modules_after("import mediins_cli.cli")
    assert "polars" not in loaded and "pypinyin" not in loaded
    assert "mediins_cli.runs" not in loaded and "mediins_cli.sample" not in loaded


def test_calendar_and_rules_run_without_polars():
    code = (
        "from typer.testing import CliRunner\n"
        "from mediins_cli.cli import app\n"
        "r = CliRunner()\n"
        "assert r.invoke(app, ['calendar', '--month', '2024-02']).exit_code == 0\n"
        "assert r.invoke(app, ['rules', 'list']).exit_code == 0\n"
        "assert r.invoke(app, ['rules', 'show', 'beijing-2007']).exit_code == 0\n"
    )
    assert "polars" not in _modules_after(code)


# --------------------------------------------------------------------------- the debit


def test_a_debit_decided_on_the_narrow_frame_carries_every_wide_column_to_its_own_row():
    rng = random.Random(9)
    rows = []
    for i in range(400):
        account = f"62148300{rng.randrange(120):08d}"  # many accounts shared by several
        rows.append((f"E{i:05d}", account, rng.randrange(1, 900), f"name-{i}", f"extra-{i}"))
    frame = pl.DataFrame(
        rows, schema=["enrollee_id", "account_no", "amount_fen", "name", "note"], orient="row"
    )
    balances = pl.DataFrame(
        {
            "account_no": [f"62148300{a:08d}" for a in range(0, 120, 2)],  # half unknown
            "balance_fen": [rng.randrange(-100, 2500) for _ in range(60)],
        }
    )
    in_order = debit(frame.sort("enrollee_id"), balances)
    shuffled = debit(frame.sample(fraction=1.0, shuffle=True, seed=3), balances)
    assert shuffled.equals(in_order)
    assert in_order["enrollee_id"].is_sorted()
    # the wide columns stayed with their enrollee
    number = pl.col("enrollee_id").str.slice(1).cast(pl.Int64).cast(pl.String)
    assert in_order.select((pl.col("name") == pl.concat_str(pl.lit("name-"), number)).all()).item()
    assert in_order.select((pl.col("note") == pl.concat_str(pl.lit("extra-"), number)).all()).item()
    assert set(in_order["reason"].drop_nulls()) == {"INSUFFICIENT_FUNDS", "NO_ACCOUNT"}


def test_accounts_that_are_not_digits_only_are_keyed_by_their_text_with_the_same_outcomes():
    rows = [("E1", "0012", 500), ("E2", "0012", 500), ("E3", "12", 300), ("E4", "7", 100)]
    frame = pl.DataFrame(rows, schema=["enrollee_id", "account_no", "amount_fen"], orient="row")
    money = pl.DataFrame({"account_no": ["0012", "12"], "balance_fen": [700, 300]})
    as_digits = debit(frame, money)
    lettered = debit(
        frame.with_columns((pl.lit("A") + pl.col("account_no")).alias("account_no")),
        money.with_columns((pl.lit("A") + pl.col("account_no")).alias("account_no")),
    )
    assert lettered.drop("account_no").equals(as_digits.drop("account_no"))
    # "0012" and "12" are two accounts: E2 finds only what E1 left of 0012's 7.00 yuan
    assert as_digits["outcome"].to_list() == ["success", "failure", "success", "failure"]
    assert as_digits["reason"].to_list() == [None, "INSUFFICIENT_FUNDS", None, "NO_ACCOUNT"]


# --------------------------------------------------------------------------- validate


def test_validate_on_the_streaming_path_counts_what_the_whole_ledger_holds():
    checked = validate_inputs(SAMPLE / "enrollees.csv", SAMPLE / "ledger.csv")
    summary = inputs_summary(checked)["ledger"]
    whole, problems, _ = read_ledger(SAMPLE / "ledger.csv")
    assert whole is not None and problems.height == 0
    assert summary == {
        "rows": whole.height,
        "accounts": whole["account_no"].n_unique(),
        "first_posted": str(whole["posted_at"].min()),
        "last_posted": str(whole["posted_at"].max()),
        "with_reference": whole["reference"].is_not_null().sum(),
    }


# --------------------------------------------------------------------------- hashing


def test_the_threaded_hash_is_the_files_sha256_over_many_chunks(tmp_path):
    path = tmp_path / "big.csv"
    line = "6214830012345678,2024-01-10 08:00:00,100.00,摘要\n".encode()
    path.write_bytes(b"account_no,posted_at,amount,memo\n" + line * (3 * _CHUNK // len(line)))
    with open_source(path) as source:
        assert source.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_file_that_stops_decoding_leaves_no_hashing_thread_behind(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_bytes(b"a,b\n" + b"x,y\n" * (_CHUNK // 2) + b"\xff\xfe,z\n")
    before = threading.active_count()
    with pytest.raises(SourceProblem), open_source(path, "utf-8"):
        pass
    assert threading.active_count() == before


# --------------------------------------------------------------------------- writing


def _run_dir(target: Path) -> dict[str, bytes]:
    frame = pl.DataFrame({"name": ["=cmd", "张三"], "amount": ["-5.00", "1.00"]})
    with outputs.staged_run_dir(target) as staging:
        staging.write_csv("success.csv", frame, outputs.OutputFormat())
        staging.write_csv("agencies/A.csv", frame, outputs.OutputFormat(excel=True))
        staging.write_csv("gb.csv", frame, outputs.OutputFormat(encoding="gb18030"))
        staging.write("summary.json", b"{}\n", outputs.PUBLIC)
        written = dict(staging.written)
    files = {str(p.relative_to(target)): p.read_bytes() for p in target.rglob("*") if p.is_file()}
    for name, entry in written.items():  # the manifest's hashes are of what is on disk
        assert entry.sha256 == hashlib.sha256(files[name]).hexdigest()
        assert entry.bytes == len(files[name])
    return files


def test_a_run_directory_is_flushed_once_or_file_by_file_with_the_same_bytes(tmp_path, monkeypatch):
    once = _run_dir(tmp_path / "syncfs")
    synced: list[int] = []
    real_fsync = os.fsync
    monkeypatch.setattr(outputs, "_syncfs", lambda: None)  # a system without syncfs(2)
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(fd), real_fsync(fd))[1])
    each = _run_dir(tmp_path / "fsync")
    assert each == once
    assert len(synced) == len(each) + 1  # every file, then the folder the run was renamed into
    assert once["success.csv"] == "name,amount\n'=cmd,-5.00\n张三,1.00\n".encode()
    assert once["agencies/A.csv"].startswith("\ufeff".encode())
    assert once["gb.csv"] == "name,amount\n'=cmd,-5.00\n张三,1.00\n".encode("gb18030")


def test_a_staging_folder_is_removed_when_writing_fails(tmp_path):
    target = tmp_path / "month" / "round-1"
    with pytest.raises(RuntimeError), outputs.staged_run_dir(target) as staging:
        staging.write("summary.json", b"{}\n")
        raise RuntimeError("the disk went away")
    assert not target.exists()
    assert list((tmp_path / "month").iterdir()) == []


# --------------------------------------------------------------------------- area codes


def _stdnum_knows(prefix: str) -> bool:
    import stdnum.cn.ric
    from stdnum.exceptions import ValidationError

    probe = prefix + "0101001"
    probe += stdnum.cn.ric.calc_check_digit(probe + "0")
    try:
        stdnum.cn.ric.get_birth_place(probe)
    except (ValidationError, LookupError):
        return False
    return True


def test_unknown_area_years_decides_as_stdnum_does_on_its_whole_table():
    from stdnum import numdb

    from mediins_cli.inputs.enrollees import unknown_area_years

    prefixes = set()
    for n, (_length, low, _high, _props, children) in enumerate(numdb.get("cn/loc").prefixes):
        for m, (_l2, low2, _h2, props2, _c2) in enumerate(children):
            code, county = low + low2, props2.get("county", "")
            years = {1950, 2010} if (n + m) % 10 == 0 else set()  # a share of the plain codes
            for entry in county.split(","):  # and every year range at its edges
                if entry.startswith("["):
                    years.add(1960)
                    for bound in entry[1:].split("]")[0].split("-"):
                        if bound:
                            years |= {int(bound) - 1, int(bound), int(bound) + 1}
            prefixes |= {f"{code}{y}" for y in years if 1900 <= y <= 2099}
    prefixes |= {f"{code}1990" for code in ("320571", "370171", "410173", "110120", "310199")}
    assert len(prefixes) > 2000
    unknown = set(unknown_area_years(sorted(prefixes)))
    assert unknown == {p for p in prefixes if not _stdnum_knows(p)}
    assert unknown and unknown != prefixes  # both kinds were met


# --------------------------------------------------------------------------- round 2


def test_round_two_on_a_ledger_without_references_subtracts_round_ones_debits_itself(run, tmp_path):
    """The bank's export before round 2 may or may not hold round 1's debits (DESIGN §4): with
    them (matched by reference) or without them and without a reference column at all, round 2
    decides the same. The pass without the column skips looking references up."""
    from conftest import SAMPLE

    full = pl.read_csv(SAMPLE / "ledger-round2.csv", infer_schema=False)
    bare = tmp_path / "ledger-round2-bare.csv"
    this_round = pl.col("reference").str.starts_with("MI-202402-R1-").fill_null(False)
    assert full.filter(this_round).height > 0
    full.filter(~this_round).drop("reference").write_csv(bare)
    common = ["--month", "2024-02", "--enrollees", SAMPLE / "enrollees.csv"]
    outs = {}
    for name, ledger in (("with", SAMPLE / "ledger-round2.csv"), ("bare", bare)):
        out = tmp_path / name
        first = run(
            "deduct", "--round", "1", *common, "--ledger", SAMPLE / "ledger.csv", "--out", out
        )
        assert first.exit_code == 0, first.stderr
        second = run("deduct", "--round", "2", *common, "--ledger", ledger, "--out", out)
        assert second.exit_code == 0, second.stderr
        outs[name] = out / "2024-02" / "round-2"
    for name in ("success.csv", "failure.csv", "breaks.csv", "resumptions.csv", "updates.csv"):
        assert (outs["with"] / name).read_bytes() == (outs["bare"] / name).read_bytes(), name
    assert (outs["with"] / "success.csv").read_text(encoding="utf-8").count("\n") > 1
