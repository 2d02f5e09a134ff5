"""``mediins report --month M`` (DESIGN §13 "Monthly report"): one self-contained page with the
month's dates, collection by round and agency, failures, breaks and the trend, its charts
beside their exact numbers, no personal data, byte-identical on rerun; and, where Chromium is
installed, the page opened in a real headless browser."""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import stat
import struct
import subprocess
import sys
import zlib
from pathlib import Path
from typing import Any

import pytest
from bank_helpers import ENROLLEES, LEDGER_1, LEDGER_2, mediins, ok

from conftest import SAMPLE
from mediins_cli.desk.monthly import gather
from mediins_cli.desk.status import percent
from mediins_cli.i18n import amount
from mediins_cli.money import yuan_text_to_fen
from mediins_cli.months import Month

HISTORY = SAMPLE / "history"
FEB = Month(2024, 2)


def deduct(out: Path, month: str, round_no: int, enrollees: Path, ledger: Path) -> None:
    ok(
        *("deduct", "--round", round_no, "--month", month, "--enrollees", enrollees),
        *("--ledger", ledger, "--out", out),
    )


def summary(run_dir: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
    return data


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    """2024-01 of the shipped history and the sample's 2024-02, both rounds each."""
    out = tmp_path_factory.mktemp("report") / "out"
    january = HISTORY / "2024-01"
    deduct(out, "2024-01", 1, january / "enrollees.csv", january / "ledger-round1.csv")
    deduct(out, "2024-01", 2, january / "enrollees.csv", january / "ledger-round2.csv")
    deduct(out, "2024-02", 1, ENROLLEES, LEDGER_1)
    deduct(out, "2024-02", 2, ENROLLEES, LEDGER_2)
    return out


@pytest.fixture(scope="module")
def page(folder: Path) -> Path:
    result = ok("report", "--month", "2024-02", "--out", folder)
    path = folder / "2024-02" / "report.html"
    assert str(path) in result.stdout
    return path


@pytest.fixture
def copy(folder: Path, tmp_path: Path) -> Path:
    target = tmp_path / "out"
    shutil.copytree(folder, target, ignore=shutil.ignore_patterns("report.html"))
    return target


def test_the_page_is_written_readable_by_all_and_byte_identical_on_rerun(folder, page):
    first = page.read_bytes()
    assert stat.S_IMODE(page.stat().st_mode) == 0o644 & ~_umask()
    ok("report", "--month", "2024-02", "--out", folder)
    assert page.read_bytes() == first
    assert not [p for p in page.parent.iterdir() if p.name.endswith(".tmp")]


def test_the_page_is_self_contained_and_names_no_url(page):
    text = page.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>")
    assert not re.search(r"https?:|//[a-z]|\bsrc=|<link|@import|url\((?!#)", text, re.I)
    assert text.count("<script>") == 1  # the inline marker script, nothing fetched


def test_charts_are_inline_svg_with_text_kept_as_text(page):
    text = page.read_text(encoding="utf-8")
    svgs = re.findall(r"<svg\b.*?</svg>", text, re.S)
    assert len(svgs) == 5  # by round, by agency, failures, breaks, trend
    for svg in svgs:
        assert "<text" in svg and "font-family" in svg
        assert "DejaVuSans-" not in svg  # no glyphs drawn as paths
    assert "<?xml" not in text and "DOCTYPE svg" not in text


def test_every_number_beside_the_charts_is_the_exact_one_of_the_runs(folder, page):
    text = page.read_text(encoding="utf-8")
    r1, r2 = summary(folder / "2024-02" / "round-1"), summary(folder / "2024-02" / "round-2")
    total = r2["month_total"]
    for yuan in (
        r1["attempted"]["amount"],
        r1["succeeded"]["amount"],
        r2["succeeded"]["amount"],
        total["collected"]["amount"],
        total["unpaid"]["amount"],
    ):
        assert f">{amount(yuan)}<" in text, yuan
    for rate in (r1["collection_rate"]["amount"], total["collection_rate"]):
        assert f">{percent(rate)}<" in text
    for code in [*r1["failed"]["by_reason"], *r2["continuity"]["by_category"]]:
        assert f"<code>{code}</code>" in text
    # the dates and why they rolled, as round 1 recorded them
    assert r1["dates"]["why"] in text.replace("&#x27;", "'")
    assert ">2024-02-18 Sun<" in text and ">2024-02-22 Thu<" in text


def test_collection_by_agency_adds_up_to_the_summaries(folder):
    report = gather(folder, FEB)
    r1, r2 = summary(folder / "2024-02" / "round-1"), summary(folder / "2024-02" / "round-2")
    due = sum(a.due.fen for a in report.agencies)
    assert due == yuan_text_to_fen(r1["attempted"]["amount"])
    assert sum(a.due.enrollees for a in report.agencies) == r1["attempted"]["enrollees"]
    collected = sum(a.collected.fen for a in report.agencies)
    assert collected == yuan_text_to_fen(r2["month_total"]["collected"]["amount"])
    assert sum(a.unpaid.fen for a in report.agencies) == yuan_text_to_fen(
        r2["month_total"]["unpaid"]["amount"]
    )
    breaks = {row["agency"]: row["breaks"] for row in r2["continuity"]["by_agency"]}
    assert {a.agency: a.breaks for a in report.agencies if a.breaks} == breaks
    # by hand from the files: CY-ZJ03's round-1 successes
    with (folder / "2024-02" / "round-1" / "success.csv").open(encoding="utf-8") as fh:
        cy = [r for r in csv.DictReader(fh) if r["agency"] == "CY-ZJ03"]
    row = next(a for a in report.agencies if a.agency == "CY-ZJ03")
    assert row.round_1.enrollees == len(cy)
    assert row.round_1.fen == sum(yuan_text_to_fen(r["amount"]) for r in cy)


def test_the_trend_covers_every_month_in_the_folder(folder, page):
    report = gather(folder, FEB)
    assert [(t.month, t.after_round) for t in report.trend] == [("2024-01", 2), ("2024-02", 2)]
    january = summary(folder / "2024-01" / "round-2")["month_total"]
    assert report.trend[0].rate == january["collection_rate"]
    assert f">{percent(january['collection_rate'])}<" in page.read_text(encoding="utf-8")


def test_the_page_holds_no_personal_data(folder, page):
    text = page.read_text(encoding="utf-8")
    for path in (ENROLLEES, HISTORY / "2024-01" / "enrollees.csv"):
        with path.open(encoding="utf-8") as fh:
            for row in csv.DictReader(fh):
                for column in ("enrollee_id", "name", "account_no"):
                    assert not row[column] or row[column] not in text, (column, row[column])


def test_a_month_with_round_one_only_is_reported(tmp_path):
    out = tmp_path / "out"
    deduct(out, "2024-02", 1, ENROLLEES, LEDGER_1)
    ok("report", "--month", "2024-02", "--out", out)
    text = (out / "2024-02" / "report.html").read_text(encoding="utf-8")
    assert "Round 2 has not run yet." in text
    assert "Breaks are known after round 2" in text
    assert len(re.findall(r"<svg\b", text)) == 4  # no breaks chart
    # round 2's dates by the pack's schedule
    assert ">2024-02-22 Thu<" in text and ">2024-02-21 Wed<" in text


def test_a_month_without_runs_is_bad_input_and_writes_nothing(folder):
    before = sorted(p.name for p in folder.iterdir())
    result = mediins("report", "--month", "2024-03", "--out", folder)
    assert result.exit_code == 2
    assert "no run of 2024-03" in result.stderr and "2024-01, 2024-02" in result.stderr
    assert sorted(p.name for p in folder.iterdir()) == before
    missing = mediins("report", "--month", "2024-02", "--out", folder / "nowhere")
    assert missing.exit_code == 2 and not (folder / "nowhere").exists()
    assert mediins("report", "--month", "Feb", "--out", folder).exit_code == 2


def test_a_damaged_round_is_refused_and_nothing_is_written(copy):
    success = copy / "2024-02" / "round-2" / "success.csv"
    success.write_bytes(success.read_bytes().replace(b"619.95", b"719.95", 1))
    result = mediins("report", "--month", "2024-02", "--out", copy)
    assert result.exit_code == 3
    assert "damaged" in result.stderr and "success.csv" in result.stderr
    assert not (copy / "2024-02" / "report.html").exists()


def test_a_damaged_other_month_is_left_out_of_the_trend_and_said(copy):
    path = copy / "2024-01" / "round-1" / "failure.csv"
    path.write_bytes(path.read_bytes() + b"\n")
    ok("report", "--month", "2024-02", "--out", copy)
    text = (copy / "2024-02" / "report.html").read_text(encoding="utf-8")
    assert "Left out, their runs are damaged: 2024-01" in text
    assert [t.month for t in gather(copy, FEB).trend] == ["2024-02"]


def test_lang_sets_the_pages_language(copy):
    ok("report", "--month", "2024-02", "--out", copy, "--lang", "zh")
    text = (copy / "2024-02" / "report.html").read_text(encoding="utf-8")
    assert '<html lang="zh-CN">' in text
    ok("report", "--month", "2024-02", "--out", copy, "--lang", "en")
    text = (copy / "2024-02" / "report.html").read_text(encoding="utf-8")
    assert '<html lang="en">' in text


def test_the_command_line_loads_matplotlib_only_for_the_report():
    code = "import sys\nimport mediins_cli.cli\nprint('matplotlib' in sys.modules)\n"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"


# --------------------------------------------------------------------------- a real browser


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def _browser(binary: str, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            binary,
            "--headless",
            "--no-sandbox",  # as root (CI) Chromium refuses to start sandboxed
            "--disable-gpu",
            "--no-first-run",
            "--hide-scrollbars",
            f"--user-data-dir={profile}",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def _png_pixels(data: bytes) -> tuple[int, int, bytes]:
    """Width, height and the inflated scanlines of a PNG (enough to see it is not blank)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, width, height = 8, b"", 0, 0
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            width, height = struct.unpack(">II", body[:8])
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    return width, height, zlib.decompress(idat)


def test_the_page_renders_its_charts_in_headless_chromium_without_script_errors(page, tmp_path):
    binary = _chromium()
    if binary is None:
        pytest.skip("chromium not installed: apt-get install chromium")
    url = page.resolve().as_uri()
    dom = _browser(binary, tmp_path / "profile", "--virtual-time-budget=5000", "--dump-dom", url)
    assert dom.returncode == 0, dom.stderr[-2000:]
    html_tag = re.search(r"<html[^>]*>", dom.stdout)
    body_tag = re.search(r"<body[^>]*>", dom.stdout)
    assert html_tag and body_tag, dom.stdout[:500]
    assert 'data-errors="0"' in html_tag.group(0), html_tag.group(0)
    charts = page.read_text(encoding="utf-8").count('<figure class="chart">')
    assert charts == 5
    assert f'data-charts="{charts}"' in body_tag.group(0)
    assert f'data-rendered="{charts}"' in body_tag.group(0), body_tag.group(0)

    shot = tmp_path / "report.png"
    done = _browser(
        binary, tmp_path / "profile", f"--screenshot={shot}", "--window-size=1280,2400", url
    )
    assert done.returncode == 0 and shot.is_file(), done.stderr[-2000:]
    data = shot.read_bytes()
    assert len(data) > 20_000
    width, height, pixels = _png_pixels(data)
    assert (width, height) == (1280, 2400)
    assert len(set(pixels)) > 32  # not one colour: text, bars and lines were drawn


def _umask() -> int:
    current = os.umask(0o022)
    os.umask(current)
    return current
