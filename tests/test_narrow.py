"""Narrow terminals and readable numbers (DESIGN §13, issue 12 item 5): at 80 columns (PuTTY's
default) and 60, every pack id, date and code an operator must read or type is whole on one
line; piped output is COLUMNS wide without padded lines; large numbers have separators; a long
`rules show` goes through a pager on a terminal."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
from collections import Counter
from datetime import date

import pytest
from rich.cells import cell_len
from rich.console import Console

from conftest import SAMPLE
from mediins_cli import report
from mediins_cli.i18n import amount, count, date_text
from mediins_cli.rules import load_all_packs, load_pack

MONTH = ("--month", "2024-02", "--enrollees", SAMPLE / "enrollees.csv")
WIDTHS = ("80", "60")


def shown(run, *args: str, columns: str, lang: str = "en") -> list[str]:
    result = run(*args, "--lang", lang, env={"COLUMNS": columns})
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert not [line for line in lines if line != line.rstrip()], "padded lines"
    # a line ending in a path is not wrapped (it is copied whole), any other fits
    assert max(cell_len(line) for line in lines if "/" not in line) <= int(columns)
    return lines


def whole(lines: list[str], tokens) -> None:
    missing = sorted({t for t in tokens if not any(t in line for line in lines)})
    assert not missing, f"cut or split: {missing}\n" + "\n".join(lines)


@pytest.mark.parametrize("columns", WIDTHS)
def test_rules_list_keeps_every_pack_id_whole(run, columns):
    whole(shown(run, "rules", "list", columns=columns), [p.id for p in load_all_packs()])


@pytest.mark.parametrize("columns", WIDTHS)
@pytest.mark.parametrize("pack", [p.id for p in load_all_packs()])
def test_rules_show_keeps_every_key_and_section_whole(run, columns, pack):
    lines = shown(run, "rules", "show", pack, columns=columns)
    keys = [key for key, _value, _s in load_pack(pack).items()]
    whole(lines, [pack, *keys])


@pytest.mark.parametrize("columns", WIDTHS)
@pytest.mark.parametrize("lang", ["en", "zh"])
def test_calendar_keeps_every_date_whole(run, columns, lang):
    for args in (("--month", "2024-02"), ("--year", "2024")):
        lines = shown(run, "calendar", *args, columns=columns, lang=lang)
        rounds = json.loads(run("calendar", *args, "--json").stdout)["rounds"]
        if lang == "en":
            dates = [r[k] for r in rounds for k in ("due", "effective", "deposit_by")]
            dates += [f"{r['effective']} {date.fromisoformat(r['effective']):%a}" for r in rounds]
        else:
            dates = [
                date_text(date.fromisoformat(r[k]), "zh").split()[0]
                for r in rounds
                for k in ("due", "effective", "deposit_by")
            ]
        whole(lines, dates)
        whole(lines, ["2024-02-12–2024-02-17"] if lang == "en" else ["2024年2月12日"])


@pytest.mark.parametrize("columns", WIDTHS)
@pytest.mark.parametrize("lang", ["en", "zh"])
def test_round_summaries_keep_codes_and_dates_whole(run, tmp_path, columns, lang):
    out = tmp_path / "out"
    first = shown(
        run,
        "deduct",
        "--round",
        "1",
        *MONTH,
        "--ledger",
        SAMPLE / "ledger.csv",
        "--out",
        out,
        columns=columns,
        lang=lang,
    )
    second = shown(
        run,
        "deduct",
        "--round",
        "2",
        *MONTH,
        "--ledger",
        SAMPLE / "ledger-round2.csv",
        "--out",
        out,
        columns=columns,
        lang=lang,
    )
    summaries = [
        json.loads((out / "2024-02" / f"round-{n}" / "summary.json").read_text()) for n in (1, 2)
    ]
    if lang == "en":
        codes = [*summaries[0]["failed"]["by_reason"], *summaries[0]["skipped"]["by_reason"]]
        codes += [c for c, n in summaries[1]["continuity"]["by_category"].items() if n]
        whole(first, [*codes[:5], "beijing-2007", "2024-02-18", "2024-02-21", "2024-02-22"])
        whole(second, [*codes[5:], "2024-03-12"])
    else:
        whole(
            first, ["余额不足", "beijing-2007", "2024年2月18日", "2024年2月21日", "2024年2月22日"]
        )
        whole(second, ["本月新中断", "2024年3月12日"])
    # thousands separators on the terminal, not in the files
    assert any("30,927.12" in line for line in first)
    assert summaries[0]["attempted"]["amount"] == "30927.12"


def test_numbers_have_thousands_separators():
    assert amount("299626877.16") == "299,626,877.16"
    assert count(405406) == "405,406"


def test_piped_output_follows_columns_and_is_not_padded(monkeypatch):
    monkeypatch.setenv("COLUMNS", "72")
    buffer = io.StringIO()
    monkeypatch.setattr("sys.stdout", buffer)
    out = report.console()
    assert out.width == 72 and not out.is_terminal
    report.render_pack_list(out, load_all_packs(), "beijing-2007")
    out.file.flush()
    text = buffer.getvalue()
    assert text and all(line == line.rstrip() for line in text.splitlines())
    monkeypatch.delenv("COLUMNS")
    assert report.console().width == report.PIPE_COLUMNS == 80


def test_a_long_rules_show_goes_through_a_pager_on_a_terminal(monkeypatch):
    paged = []
    monkeypatch.setattr("rich.pager.SystemPager.show", lambda self, content: paged.append(content))
    terminal = Console(file=io.StringIO(), force_terminal=True, width=80, height=20)
    report.render_pack(terminal, load_pack("beijing-2007"))
    assert paged and "schedule.round_1_day" in paged[0]
    assert terminal.file.getvalue() == ""  # type: ignore[attr-defined]
    tall = Console(file=io.StringIO(), force_terminal=True, width=200, height=1000)
    report.render_pack(tall, load_pack("beijing-2007"))
    assert len(paged) == 1  # it fits the screen: no pager


def test_no_cell_is_cut_with_an_ellipsis(run):
    for args in (("rules", "list"), ("calendar", "--year", "2024")):
        for columns in WIDTHS:
            lines = shown(run, *args, columns=columns)
            assert not [line for line in lines if "…" in line], args
    for columns in WIDTHS:  # the regulations' own words (quotes elide with …) shown in full
        text = "".join("".join(shown(run, "rules", "show", "dalian-2025", columns=columns)).split())
        for _key, value, _s in load_pack("dalian-2025").items():
            assert "".join(value.note.split()) in text, value.note


#: every command whose help is checked at narrow widths
HELP_COMMANDS = ("", "calendar", "validate", "deduct", "instruct", "simulate-bank", "replay")
HELP_COMMANDS += ("status", "report", "sample", "rules", "rules list", "rules show", "rules banks")
#: what must stay whole in help: option names, UPPER_CASE codes (YYYY-MM, INSUFFICIENT_FUNDS,
#: SHA-256, CSV), and the settings key of ``[setting: KEY]`` / ``[设置项 KEY]``
_WHOLE = re.compile(
    r"(?<![\w-])--?[a-z][a-z0-9-]*[a-z0-9]"
    r"|(?<![\w-])[A-Z][A-Z0-9]*(?:[_-][A-Z0-9]+)*(?![\w-])"
    r"|(?:setting:|设置项：?)\s*[a-z_]+\]"
)
_HELP_SCRIPT = (
    "import sys\n"
    "from typer.testing import CliRunner\n"
    "from mediins_cli.cli import app\n"
    "for c in sys.argv[2:]:\n"
    "    r = CliRunner().invoke(app, [*c.split(), '--help'], env={'COLUMNS': sys.argv[1]})\n"
    "    assert r.exit_code == 0, (c, r.output)\n"
    "    print('\\x00' + c + '\\x00' + r.output)\n"
)


def helps(lang: str, columns: str) -> dict[str, str]:
    """Every command's help as a person whose locale is ``lang`` sees it (help is made as the
    command line is built: in a process of its own)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LC_", "MEDIINS_"))}
    env |= {"LANG": lang, "COLUMNS": columns}
    shown = subprocess.run(
        [sys.executable, "-c", _HELP_SCRIPT, columns, *HELP_COMMANDS],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split("\x00")[1:]
    return dict(zip(shown[::2], shown[1::2], strict=True))


def kept_whole(text: str) -> Counter[str]:
    """The option names, codes and settings keys of ``text``, a setting's key with the words
    before it (which may wrap at the space) left out; box-drawing characters are spaces."""
    text = re.sub(r"[│╭╮╰╯─]", " ", text)
    return Counter(re.sub(r"^(setting:|设置项：?)\s*", "", t) for t in _WHOLE.findall(text))


@pytest.mark.parametrize("lang", ["zh_CN.UTF-8", "en_US.UTF-8"])
def test_every_help_keeps_option_names_and_codes_whole_at_80_and_100_columns(lang):
    """Rich wraps at spaces only, and folds a run longer than the line anywhere: in Chinese a
    code glued to Chinese text (（INSUFFICIENT_FUNDS、…, [设置项：strict]) could be cut in two.
    Every token seen on one line of a wide help is on one line at 80 and 100 columns too."""
    wide = helps(lang, "1000")
    assert len(wide) == len(HELP_COMMANDS)
    for columns in ("80", "100"):
        narrow = helps(lang, columns)
        for command in HELP_COMMANDS:
            want, got = kept_whole(wide[command]), kept_whole(narrow[command])
            assert want, command
            assert got == want, (columns, command, want - got, narrow[command])
