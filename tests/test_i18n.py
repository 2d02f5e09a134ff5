"""The Chinese interface (DESIGN §13): the catalog is complete, the round summaries and agency
lists are Chinese, the machine files are the same bytes in both languages, help follows the
locale, dates are written as Chinese people write them."""

from __future__ import annotations

import csv
import html
import io
import json
import os
import re
import shutil
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from conftest import ROOT, SAMPLE
from mediins_cli import i18n
from mediins_cli.i18n import date_text, default_lang, resolve

PO = ROOT / "mediins_cli" / "locale" / "zh" / "LC_MESSAGES" / "mediins.po"
KEYWORDS = {
    "_": None,
    "gettext": None,
    "ngettext": (1, 2),
    "pgettext": ((1, "c"), 2),
    "N_": None,
    "NP_": ((1, "c"), 2),
}
MONTH = ("--month", "2024-02", "--enrollees", SAMPLE / "enrollees.csv")
#: ASCII words a Chinese summary may hold: codes an operator types or reads in files (pack
#: ids, option values, file names); paths and numbers are taken out before the scan
CODES = {"beijing-2007", "official", "weekends", "milestones.csv", "CY-ZJ03", "HD-RC04"}
CODES |= {"DC-RC01", "FT-SB05", "XC-SB02", "chinese-calendar"}


def catalog():
    with PO.open("rb") as f:
        return read_po(f, locale="zh")


def extracted() -> dict[tuple[str | None, str], str | tuple[str, ...]]:
    """Every message marked in mediins_cli, as `make messages` extracts them (babel.cfg)."""
    found = {}
    method_map = [("**.py", "python")]
    for _file, _line, message, _comments, context in extract_from_dir(
        ROOT / "mediins_cli", method_map, keywords=KEYWORDS
    ):
        key = message[0] if isinstance(message, tuple) else message
        found[(context, key)] = message
    return found


# --------------------------------------------------------------------------- the catalog


def test_the_chinese_catalog_has_every_message_translated_and_none_fuzzy():
    po = {(m.context, m.id[0] if isinstance(m.id, tuple) else m.id): m for m in catalog() if m.id}
    missing = sorted(str(k) for k in extracted() if k not in po)
    assert not missing, f"not in the catalog (run make messages and translate): {missing}"
    bad = []
    for key in extracted():
        m = po[key]
        strings = m.string if isinstance(m.string, tuple) else (m.string,)
        if m.fuzzy or not all(s.strip() for s in strings):
            bad.append(str(key))
    assert not bad, f"fuzzy or empty in the catalog: {bad}"


def test_translations_keep_every_placeholder():
    for m in catalog():
        if not m.id:
            continue
        ids = m.id if isinstance(m.id, tuple) else (m.id,)
        strings = m.string if isinstance(m.string, tuple) else (m.string,)
        wanted = set(re.findall(r"\{[^{}]*\}", ids[-1]))
        for s in strings:
            assert set(re.findall(r"\{[^{}]*\}", s)) == wanted, (m.id, s)


def test_the_compiled_catalog_is_the_catalog():
    """The build compiles the .po (hatch_build.py); a stale .mo says `make catalogs`."""
    compiled = io.BytesIO()
    write_mo(compiled, catalog())
    mo = PO.with_suffix(".mo")
    assert mo.is_file() and mo.read_bytes() == compiled.getvalue(), "run make catalogs"


def test_the_build_hook_compiles_the_catalog(tmp_path):
    sys.path.insert(0, str(ROOT))
    try:
        from hatch_build import compile_catalogs
    finally:
        sys.path.remove(str(ROOT))
    folder = tmp_path / "mediins_cli" / "locale" / "zh" / "LC_MESSAGES"
    folder.mkdir(parents=True)
    (folder / "mediins.po").write_bytes(PO.read_bytes())
    assert compile_catalogs(tmp_path) == [folder / "mediins.mo"]
    assert (folder / "mediins.mo").read_bytes() == PO.with_suffix(".mo").read_bytes()


def test_every_code_an_operator_reads_has_words():
    from mediins_cli.bank.formats import RESULT_CODES
    from mediins_cli.continuity import (
        BREAK_CATEGORIES,
        CAUSES,
        CONTINUOUS_TRANSFER,
        FIRST_PAYMENT,
        RESUMPTION_CATEGORIES,
    )
    from mediins_cli.rounds import FAILURE_REASONS, SKIP_REASONS
    from mediins_cli.words import CODES as WORDS
    from mediins_cli.words import word

    codes = {*RESULT_CODES, *BREAK_CATEGORIES, *CAUSES, *RESUMPTION_CATEGORIES}
    codes |= {*FAILURE_REASONS, *SKIP_REASONS, FIRST_PAYMENT, CONTINUOUS_TRANSFER}
    assert codes <= set(WORDS)
    assert word("INSUFFICIENT_FUNDS", "zh") == "余额不足"
    assert word("NO_ACCOUNT", "zh") == "账户不存在"
    assert word("CONTINUITY_LOST", "zh") == "连续性已中断"
    assert word("INSUFFICIENT_FUNDS", "en") == "INSUFFICIENT_FUNDS"


# --------------------------------------------------------------------------- choosing


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({"LANG": "zh_CN.UTF-8"}, "zh"),
        ({"LANG": "zh_TW.UTF-8"}, "zh"),
        ({"LANG": "zh"}, "zh"),
        ({"LANG": "en_US.UTF-8"}, "en"),
        ({"LANG": "C.UTF-8"}, "en"),
        ({}, "en"),
        # the first non-empty of LC_ALL, LC_MESSAGES, LANG
        ({"LC_ALL": "", "LC_MESSAGES": "zh_CN.UTF-8", "LANG": "en_US.UTF-8"}, "zh"),
        ({"LC_ALL": "C", "LANG": "zh_CN.UTF-8"}, "en"),
        ({"LANG": "zhx"}, "en"),
    ],
)
def test_the_locale_decides_when_nothing_else_does(environ, expected):
    assert default_lang(environ) == expected


def test_option_over_environment_over_setting_over_locale():
    zh = {"LANG": "zh_CN.UTF-8"}
    assert resolve("en", "zh", {**zh, "MEDIINS_LANG": "zh"}) == "en"
    assert resolve(None, "en", {**zh, "MEDIINS_LANG": "zh"}) == "zh"
    assert resolve(None, "en", zh) == "en"
    assert resolve(None, None, zh) == "zh"
    with pytest.raises(ValueError, match="MEDIINS_LANG"):
        resolve(None, None, {"MEDIINS_LANG": "fr"})


def test_chinese_dates_have_no_leading_zeros():
    assert date_text(date(2024, 2, 18), "zh") == "2024年2月18日 星期日"
    assert date_text(date(2024, 3, 5), "zh") == "2024年3月5日 星期二"
    assert date_text(date(2024, 2, 18), "en") == "2024-02-18 Sun"
    assert i18n.month_text("2024-02", "zh") == "2024年2月"


def test_thousands_separators_keep_the_digits():
    assert i18n.amount("299626877.16") == "299,626,877.16"
    assert i18n.amount("-1234.50") == "-1,234.50"
    assert i18n.amount("0.05") == "0.05"
    assert i18n.count(405406) == "405,406"


def test_every_command_takes_lang():
    import typer.main

    from mediins_cli.cli import app

    def commands(group, path=()):
        for name, command in getattr(group, "commands", {}).items():
            if hasattr(command, "commands"):
                yield from commands(command, (*path, name))
            else:
                yield (*path, name), command

    for path, command in commands(typer.main.get_command(app)):
        assert any("--lang" in p.opts for p in command.params), " ".join(path)


def test_calendar_in_chinese_and_the_language_back_to_english_after(run):
    result = run("calendar", "--month", "2024-02", "--lang", "zh")
    assert result.exit_code == 0, result.stderr
    assert "2024年2月18日 星期日" in result.stdout and "春节" in result.stdout
    assert "2024-02-18 Sun" in run("calendar", "--month", "2024-02").stdout


def test_lang_before_the_command_name_too(run):
    assert "2024年2月18日 星期日" in run("--lang", "zh", "calendar", "--month", "2024-02").stdout
    assert "2024-02-18 Sun" in run("calendar", "--month", "2024-02").stdout


def test_usage_mistakes_and_nothing_due_in_chinese(run):
    both = run("calendar", "--month", "2024-02", "--year", "2024", "--lang", "zh")
    assert both.exit_code == 2 and "不能同时给出" in both.stderr
    idle = run(
        "deduct",
        "--round",
        "auto",
        "--date",
        "2024-02-13",
        *MONTH[2:],
        "--ledger",
        "x.csv",
        "--lang",
        "zh",
    )
    assert idle.exit_code == 0, idle.stderr
    assert (
        "2024年2月13日 星期二：今天没有到期的扣款" in idle.stdout
        and "2024年2月18日 星期日" in idle.stdout
    )


def test_replay_runs_in_english_whatever_the_environment(run):
    result = run("replay", SAMPLE / "history", env={"MEDIINS_LANG": "zh", "LANG": "zh_CN.UTF-8"})
    assert result.exit_code == 0, result.stdout
    assert "无差异" in result.stdout


def test_environment_and_setting_choose_the_language(run, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert "星期日" in run("calendar", "--month", "2024-02", env={"MEDIINS_LANG": "zh"}).stdout
    (tmp_path / "mediins.toml").write_text('lang = "zh"\n', encoding="utf-8")
    assert "星期日" in run("calendar", "--month", "2024-02").stdout
    english = run("calendar", "--month", "2024-02", env={"MEDIINS_LANG": "en"}).stdout
    assert "Sun" in english and "星期" not in english
    bad = run("calendar", "--month", "2024-02", env={"MEDIINS_LANG": "fr"})
    assert bad.exit_code == 2 and "MEDIINS_LANG" in bad.stderr


def test_help_follows_the_locale():
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LC_", "MEDIINS_"))}
    env |= {"LANG": "zh_CN.UTF-8", "COLUMNS": "100"}
    shown = subprocess.run(
        [sys.executable, "-m", "mediins_cli", "deduct", "--help"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "终端和代办机构名单使用的语言" in shown
    english = subprocess.run(
        [sys.executable, "-m", "mediins_cli", "deduct", "--help"],
        env={**env, "LANG": "en_US.UTF-8"},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "Language of the terminal" in english


# --------------------------------------------------------------------------- rounds


def both_rounds(run, out: Path, *lang: str) -> tuple[str, str]:
    first = run(
        "deduct", "--round", "1", *MONTH, "--ledger", SAMPLE / "ledger.csv", "--out", out, *lang
    )
    assert first.exit_code == 0, first.stderr
    second = run(
        "deduct",
        "--round",
        "2",
        *MONTH,
        "--ledger",
        SAMPLE / "ledger-round2.csv",
        "--out",
        out,
        *lang,
    )
    assert second.exit_code == 0, second.stderr
    return first.stdout, second.stdout


def english_words(text: str) -> set[str]:
    """ASCII words of ``text`` that are not codes, paths, numbers, dates or times."""
    text = re.sub(r"\S*/\S*", " ", text)  # paths (files: /tmp/…/round-1)
    words = set(re.findall(r"[A-Za-z][A-Za-z0-9_.\-]*[A-Za-z0-9]|[A-Za-z]", text))
    return {w for w in words if w not in CODES}


def test_chinese_round_summaries_have_no_english_but_codes(run, tmp_path):
    first, second = both_rounds(run, tmp_path, "--lang", "zh")
    for shown in (first, second):
        assert english_words(shown) == set(), shown
    assert "2024年2月18日 星期日" in first and "余额不足" in first and "账户不存在" in first
    assert "30,927.12" in first
    assert "本月新中断" in second and "下月首次扣款：2024年3月12日 星期二" in second


def test_chinese_round_summaries_in_return_mode_have_no_english_but_codes(run, tmp_path):
    bank = ("--bank-format", "pipe-gb18030-fen")
    shown = []
    for number in (1, 2):
        made = run(
            "instruct", "--round", str(number), *MONTH, *bank, "--out", tmp_path, "--lang", "zh"
        )
        assert made.exit_code == 0, made.stderr
        shown.append(made.stdout)
        returns = SAMPLE / "returns" / f"round{number}"
        done = run(
            "deduct",
            "--round",
            str(number),
            *MONTH,
            "--returns",
            returns,
            "--out",
            tmp_path,
            "--lang",
            "zh",
        )
        assert done.exit_code == 0, done.stderr
        shown.append(done.stdout)
    codes = {"pipe-gb18030-fen", "ICBC", "CCB", "ABC", "BOC", "BOCOM", "CMB", "NONE"}
    for text in shown:
        assert {
            w for w in english_words(text) if w not in codes and not w.endswith(".txt")
        } == set(), text


def test_agency_lists_are_chinese_and_machine_files_the_same_bytes(run, tmp_path):
    both_rounds(run, tmp_path / "en")
    both_rounds(run, tmp_path / "zh", "--lang", "zh")
    for number in (1, 2):
        en = tmp_path / "en" / "2024-02" / f"round-{number}"
        zh = tmp_path / "zh" / "2024-02" / f"round-{number}"
        names = sorted(p.name for p in en.iterdir() if p.is_file())
        assert names == sorted(p.name for p in zh.iterdir() if p.is_file())
        for name in names:
            if name not in ("manifest.json", "run.log"):
                assert (en / name).read_bytes() == (zh / name).read_bytes(), name
        manifests = [json.loads((d / "manifest.json").read_bytes()) for d in (en, zh)]
        assert manifests[1]["inputs"].pop("lang") == "zh" and "lang" not in manifests[0]["inputs"]
        for m in manifests:
            m["inputs"].pop("round_1", None)
            m["outputs"] = {k: v for k, v in m["outputs"].items() if not k.startswith("agencies/")}
        assert manifests[0] == manifests[1]
    with (tmp_path / "zh" / "2024-02" / "round-1" / "agencies" / "CY-ZJ03.csv").open(
        encoding="utf-8"
    ) as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0])[:8] == [
        "身份证号",
        "姓名",
        "代办机构",
        "银行账号",
        "应缴金额",
        "扣款失败原因",
        "二次扣款日",
        "存款截止日",
    ]
    assert {r["扣款失败原因"] for r in rows} == {"余额不足"}
    with (tmp_path / "en" / "2024-02" / "round-1" / "agencies" / "CY-ZJ03.csv").open(
        encoding="utf-8"
    ) as f:
        english = list(csv.DictReader(f))
    assert "reason" in english[0] and english[0]["reason"] == "INSUFFICIENT_FUNDS"
    with (tmp_path / "zh" / "2024-02" / "round-2" / "agencies" / "CY-ZJ03.csv").open(
        encoding="utf-8"
    ) as f:
        breaks = list(csv.DictReader(f))
    assert {"中断类别", "欠缴起始月份", "补缴渠道", "中断原因"} <= set(breaks[0])
    assert {r["中断类别"] for r in breaks} <= {"本月新中断", "中断持续（仍在续缴期内）"}
    assert {r["中断原因"] for r in breaks} == {"个人原因"}


def test_a_rerun_in_the_other_language_is_not_the_same_inputs(run, tmp_path):
    args = ("deduct", "--round", "1", *MONTH, "--ledger", SAMPLE / "ledger.csv", "--out", tmp_path)
    assert run(*args).exit_code == 0
    assert "nothing to do" in run(*args, "--lang", "en").stdout
    again = run(*args, "--lang", "zh")
    assert again.exit_code == 3
    assert "--lang en" in again.stderr and "--force" in again.stderr
    forced = run(*args, "--lang", "zh", "--force")
    assert forced.exit_code == 0, forced.stderr
    back = run(*args)  # English again: the Chinese run's lists are not English
    assert back.exit_code == 3 and "--lang zh" in back.stderr


def test_refusals_are_chinese(run, tmp_path):
    refused = run(
        "deduct",
        "--round",
        "2",
        *MONTH,
        "--ledger",
        SAMPLE / "ledger-round2.csv",
        "--out",
        tmp_path,
        "--lang",
        "zh",
    )
    assert refused.exit_code == 3
    assert "首次扣款尚未" in refused.stderr


# --------------------------------------------------------------------------- nothing but codes

#: ASCII words a Chinese screen may hold besides :data:`CODES`: what an operator types or finds
#: in files (commands, option values, settings keys, column names, file formats), Typer's
#: metavars (``[OPTIONS]``, ``<int range> [1<=x<=2]``), the program's name. Upper-case codes
#: (INSUFFICIENT_FUNDS, YYYY-MM), file names and option names (--month) are taken out before.
TYPED = {"mediins", "auto", "utf-8", "gb18030", "zh", "en", "generic", "pipe-gb18030-fen"}
TYPED |= {"deduct", "instruct", "simulate-bank", "replay", "status", "report", "sample"}
TYPED |= {"validate", "calendar", "rules", "list", "show", "banks", "jilin-2022"}
TYPED |= {"bank_format", "lang", "ledger", "enrollees", "returns", "out", "strict", "xlsx"}
TYPED |= {"file", "line", "column", "code", "message", "severity", "paid_through"}
TYPED |= {"waiting_until", "month", "round", "toml", "csv", "str", "int", "path", "range", "x"}
TYPED |= {"Excel", "SHA-256", "UTF-8", "GB18030", "BOM", "CSV", "JSON", "chinese-calendar"}
TYPED |= {"yuan", "fen", "account_no", "account_name", "amount", "reference", "seq", "purpose"}
TYPED |= {"remark", "result", "settled_on", "enrollee_id", "monthly_premium", "status"}
TYPED |= {"active", "suspended", "terminated", "round-1", "round-2"}


def untranslated(text: str, also: set[str] = frozenset()) -> set[str]:
    """The ASCII words of a Chinese ``text`` that are neither codes nor typed."""
    text = re.sub(r"(?<![\w-])--?[a-z][a-z0-9-]*", " ", text)  # option names
    text = re.sub(r"\S+\.(csv|json|toml|txt|xlsx|html)\b", " ", text)  # file names
    return {
        w
        for w in english_words(text)
        if w not in TYPED | also and not re.fullmatch(r"[A-Z][A-Z0-9_\-]*", w)
    }


def test_every_help_in_chinese_has_no_english_but_codes():
    """Help is made as the command line is built: in a process whose locale is Chinese."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LC_", "MEDIINS_"))}
    env |= {"LANG": "zh_CN.UTF-8", "COLUMNS": "200"}
    script = (
        "from typer.testing import CliRunner\n"
        "from mediins_cli.cli import app\n"
        "commands = ['', 'calendar', 'validate', 'deduct', 'instruct', 'simulate-bank',\n"
        "            'replay', 'status', 'report', 'sample', 'rules', 'rules list',\n"
        "            'rules show', 'rules banks']\n"
        "for c in commands:\n"
        "    result = CliRunner().invoke(app, [*c.split(), '--help'], env={'COLUMNS': '200'})\n"
        "    assert result.exit_code == 0, (c, result.output)\n"
        "    print('\\x00' + c + '\\x00' + result.output)\n"
    )
    shown = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True
    ).stdout
    helps = shown.split("\x00")[1:]
    assert len(helps) == 2 * 14
    for command, text in zip(helps[::2], helps[1::2], strict=True):
        assert untranslated(text) == set(), (command, text)
        assert "用法：" in text and "显示本帮助并退出" in text, command
    assert "示例：" in helps[helps.index("deduct") + 1]


def chinese(run, *args: str):
    return run(*(str(a) for a in args), "--lang", "zh")


def test_a_broken_enrollee_file_is_told_in_chinese(run, write):
    broken = write(
        "enrollees.csv",
        "enrollee_id,name,agency,status,enrolled_on,monthly_premium,account_no\n"
        "11010119900307777X,张三,CY-ZJ03,happy,2020-01-01,abc,123\n",
    )
    result = chinese(run, "validate", "--enrollees", broken, "--ledger", SAMPLE / "ledger.csv")
    assert result.exit_code == 2
    lines = [line for line in result.stderr.splitlines() if line.startswith(str(broken))]
    assert len(lines) >= 4, result.stderr
    assert untranslated(result.stderr, {"happy", "abc"}) == set(), result.stderr
    assert (
        "不是最多两位小数的元金额" in result.stderr and "银行账号应为 6–32 位数字" in result.stderr
    )
    assert "张三" not in result.stderr  # masked as in English
    english = run("validate", "--enrollees", broken, "--ledger", SAMPLE / "ledger.csv")
    assert "is not an amount in yuan with at most two decimals" in english.stderr


def test_refusals_in_chinese_name_the_command_to_run_again(run, tmp_path):
    args = ("deduct", "--round", "1", *MONTH, "--ledger", SAMPLE / "ledger.csv", "--out", tmp_path)
    assert run(*args).exit_code == 0
    again = chinese(run, *args)
    assert again.exit_code == 3
    assert untranslated(again.stderr) == set(), again.stderr
    assert "运行过" in again.stderr
    command = again.stderr.strip().splitlines()[-1].strip()
    assert command.startswith("mediins deduct") and command.endswith("--lang zh --force")
    other = chinese(
        run,
        "deduct",
        "--round",
        "1",
        *MONTH,
        "--ledger",
        SAMPLE / "ledger-round2.csv",
        "--out",
        tmp_path,
    )
    assert other.exit_code == 3 and untranslated(other.stderr) == set(), other.stderr
    assert other.stderr.strip().splitlines()[-1].strip().endswith("--force")


def test_calendar_rules_sample_and_validate_in_chinese(run, tmp_path):
    shown = {
        "calendar": chinese(run, "calendar", "--month", "2024-02"),
        "year": chinese(run, "calendar", "--year", "2024"),
        "uncovered": chinese(run, "calendar", "--year", "2099"),
        "banks": chinese(run, "rules", "banks"),
        "sample": chinese(
            run, "sample", "--enrollees", "20", "--month", "2024-02", "--out", tmp_path / "s"
        ),
        "validate": chinese(
            run,
            "validate",
            "--enrollees",
            SAMPLE / "enrollees.csv",
            "--ledger",
            SAMPLE / "ledger.csv",
        ),
    }
    # the bank formats' titles are the formats' own words (rules/banks/*.toml), as pack titles
    titles = {"Example", "pipe-delimited", "by", "position", "amounts", "in", "not", "a"}
    titles |= {"real", "bank", "s", "spec", "header"}
    for name, result in shown.items():
        text = result.stdout + result.stderr
        assert untranslated(text, titles if name == "banks" else set()) == set(), (name, text)
    assert "遇休息日顺延：2024年2月12日 至 2024年2月17日 春节假期" in shown["calendar"].stdout
    assert "没有工作日日历覆盖 2099 年" in shown["uncovered"].stderr
    assert "行" in shown["sample"].stdout


def test_status_and_report_in_chinese(run, tmp_path):
    both_rounds(run, tmp_path)  # run in English: the status and the page follow the reader
    status = chinese(run, "status", "--out", tmp_path)
    assert status.exit_code == 0, status.stderr
    assert untranslated(status.stdout) == set(), status.stdout
    assert "工作日，未顺延" in status.stdout and "；" in status.stdout
    made = chinese(run, "report", "--month", "2024-02", "--out", tmp_path)
    assert made.exit_code == 0, made.stderr
    page = (tmp_path / "2024-02" / "report.html").read_text(encoding="utf-8")
    page = re.sub(r"<(style|script)\b.*?</\1>", " ", page, flags=re.S)
    text = html.unescape(re.sub(r"<[^>]+>", " ", page))
    hex_ids = {w for w in english_words(text) if re.fullmatch(r"[0-9a-f]*[a-f][0-9a-f]*", w)}
    assert untranslated(text, hex_ids) == set(), text
    assert "遇休息日顺延：2024年2月12日 至 2024年2月17日 春节假期" in text
    assert "扣款日期" in text


def test_a_stale_ledger_warning_is_said_again_in_chinese_on_a_rerun(run, tmp_path, write):
    """summary.json keeps the warning in English (a machine file); an unchanged rerun says it
    in the operator's language again, from the figures the summary holds."""
    ledger = (SAMPLE / "ledger.csv").read_text(encoding="utf-8").splitlines()
    early = [ledger[0], *(row for row in ledger[1:] if row.split(",")[1][:10] < "2024-02-05")]
    stale = write("stale.csv", "\n".join(early) + "\n")
    args = ("deduct", "--round", "1", *MONTH, "--ledger", stale, "--out", tmp_path)
    first = chinese(run, *args)
    assert first.exit_code == 0, first.stderr
    said = [line.split("警告: ")[1] for line in first.stderr.splitlines() if "银行流水" in line]
    assert said, first.stderr
    again = chinese(run, *args)
    assert again.exit_code == 0 and "已用相同的输入运行过" in again.stdout, again.stdout
    shown = [line for line in again.stderr.splitlines() if "银行流水" in line]
    assert [line.split("警告: ")[1] for line in shown] == said
    assert untranslated(again.stderr) == set(), again.stderr
    summary = json.loads((tmp_path / "2024-02" / "round-1" / "summary.json").read_bytes())
    assert "is this the bank's latest export?" in summary["warnings"][0]["message"]


# --------------------------------------------------------------------------- bank, rules, replay


def _sent(run, out: Path) -> list[Path]:
    """Round 1's instructions of the sample month in the generic format, and the bank's answers
    to them (simulate-bank): the return files, the longest first (to be spoiled by a test)."""
    made = run("instruct", "--round", "1", *MONTH, "--out", out)
    assert made.exit_code == 0, made.stderr
    answered = run(
        "simulate-bank",
        "--round",
        "1",
        "--month",
        "2024-02",
        "--ledger",
        SAMPLE / "ledger.csv",
        "--to",
        out / "returns",
        "--out",
        out,
    )
    assert answered.exit_code == 0, answered.stderr
    files = sorted((out / "returns").iterdir())
    return sorted(files, key=lambda f: -len(f.read_bytes().splitlines()))


def test_a_bad_return_file_is_told_in_chinese_and_masked_as_in_english(run, tmp_path):
    returned, *others = _sent(run, tmp_path / "out")
    rows = list(csv.reader(returned.read_text(encoding="utf-8").splitlines()))
    header, body = rows[0], rows[1:]
    at = {name: header.index(name) for name in header}
    account = body[2][at["account_no"]]
    body[0][at["amount"]] = "abc"  # BAD_AMOUNT
    body[1][at["result"]] = "WHAT"  # UNKNOWN_RESULT
    body[2][at["account_no"]] = account[:-1] + str((int(account[-1]) + 1) % 10)  # CHANGED_ACCOUNT
    body[3][at["reference"]] = "MI-202402-R1-99999999"  # UNKNOWN_REFERENCE
    body[4][at["settled_on"]] = "2024-02-01"  # BAD_DATE: before the effective date
    body[5][at["settled_on"]] = "someday"  # BAD_DATE
    body.append(list(body[6]))  # REPEATED_REFERENCE
    del body[7]  # MISSING_ANSWER
    other = tmp_path / "other.csv"  # OTHER_ROUND
    first = [*body[8]]
    first[at["reference"]] = "MI-202401-R1-00000001"
    other.write_text(",".join(header) + "\n" + ",".join(first) + "\n", encoding="utf-8")
    spoiled = tmp_path / "returns.csv"
    spoiled.write_text("\n".join(",".join(r) for r in [header, *body]) + "\n", encoding="utf-8")
    args = ("deduct", "--round", "1", *MONTH, "--returns", spoiled, "--returns", other)
    args += tuple(a for f in others for a in ("--returns", f))
    args += ("--out", tmp_path / "out")
    english = run(*args)
    chinese_ = chinese(run, *args)
    assert english.exit_code == chinese_.exit_code == 2
    codes = re.findall(r"\b[A-Z][A-Z_]+[A-Z]\b", english.stderr)
    assert len(english.stderr.splitlines()) == len(chinese_.stderr.splitlines())
    for said in ("is not an amount in yuan", "is not a result value of bank format generic"):
        assert said in english.stderr
    assert untranslated(chinese_.stderr, {"abc", "someday", "results"}) == set(), chinese_.stderr
    assert "不是以元为单位" in chinese_.stderr or "元金额" in chinese_.stderr
    assert "不是扣款指令中的账号" in chinese_.stderr and "没有回复" in chinese_.stderr
    assert "此文件回复的是 2024-01 第 1 轮扣款" in chinese_.stderr
    # masked as in English: the changed account and the instructed one never in full
    assert account not in chinese_.stderr and account not in english.stderr
    assert codes  # the English run says its problems too


def test_return_mode_refusals_are_told_in_chinese(run, tmp_path):
    out = tmp_path / "out"
    answers = tmp_path / "answers.csv"
    answers.write_text("reference,account_no,amount,result\n", encoding="utf-8")
    nothing_sent = chinese(
        run, "deduct", "--round", "1", *MONTH, "--returns", answers, "--out", out
    )
    assert nothing_sent.exit_code == 3, nothing_sent.stderr
    assert "没有 2024-02 第 1 轮扣款的扣款指令" in nothing_sent.stderr
    assert "mediins instruct --round 1 --month 2024-02" in nothing_sent.stderr  # typed: as is
    both_rounds(run, out)  # on ledgers: round 2 has no instructions to make
    refused = chinese(run, "instruct", "--round", "2", *MONTH, "--out", out)
    assert refused.exit_code == 3
    assert "按银行流水运行" in refused.stderr
    for result in (nothing_sent, refused):
        assert untranslated(result.stderr) == set(), result.stderr


def test_a_broken_rule_pack_and_a_broken_bank_format_are_told_in_chinese(run, write):
    pack = (ROOT / "rules" / "beijing-2007.toml").read_text(encoding="utf-8")
    pack = pack.replace("round_1_day = { value = 12", "round_1_day = { value = 40", 1)
    pack = pack.replace("[transfer]", "[transfer]\nsurprise = 1", 1)
    broken = write("rules/broken.toml", pack.replace('id = "beijing-2007"', 'id = "broken"'))
    shown = chinese(run, "rules", "show", broken)
    assert shown.exit_code == 2
    assert "应为 1–28 之间的整数，实际为 40" in shown.stderr and "未知的键" in shown.stderr
    lines = [line for line in shown.stderr.splitlines() if line.startswith(str(broken))]
    assert len(lines) == 2, shown.stderr
    # file: key: message; the keys are the file's own (typed), as are the keys expected
    said = [line.split(": ", 2)[2] for line in lines]
    assert untranslated("\n".join(said), {"window_unit", "window_length"}) == set(), said
    assert untranslated(shown.stderr.splitlines()[-1]) == set()
    gone = chinese(run, "rules", "show", "nosuch")
    assert gone.exit_code == 2 and "没有规则包 'nosuch'" in gone.stderr
    assert untranslated(gone.stderr, {"nosuch", "dalian-2025", "jiangsu-huaian-2021"}) == set()
    fmt = write(
        "banks/odd.toml",
        'id = "even"\nname = "x"\nencoding = "latin-1"\ndelimiter = "-"\nheader = 1\n'
        'amount_unit = "yuan"\n[instruction]\ncolumns = ["seq", "nope"]\n'
        '[return]\ncolumns = ["reference"]\n[results]\n"00" = "WRONG"\n',
    )
    bank = chinese(run, "instruct", "--round", "1", *MONTH, "--bank-format", fmt)
    assert bank.exit_code == 2
    lines = [line for line in bank.stderr.splitlines() if line.startswith(str(fmt))]
    assert len(lines) >= 8, bank.stderr
    from mediins_cli.bank.formats import INSTRUCTION_COLUMNS, RETURN_COLUMNS

    typed = {"even", "latin-1", "odd", "nope", "true", "false", *INSTRUCTION_COLUMNS}
    typed |= set(RETURN_COLUMNS)
    said = [line.split(": ", 2)[2] for line in lines]
    assert untranslated("\n".join(said), typed) == set(), said
    assert "不在" in bank.stderr and "分隔符" in bank.stderr
    english = run("rules", "show", broken)
    assert "expected an integer 1–28, got 40" in english.stderr


def test_a_bad_workbook_and_an_excel_number_are_told_in_chinese(run, write, tmp_path):
    import xlsxwriter

    fake = write("enrollees.xlsx", "PK\x03\x04 not really a workbook")
    bad = chinese(run, "validate", "--enrollees", fake, "--ledger", SAMPLE / "ledger.csv")
    assert bad.exit_code == 2 and "不是 Excel 工作簿" in bad.stderr
    assert untranslated(bad.stderr, {"zip"}) == set(), bad.stderr

    rows = list(csv.reader((SAMPLE / "enrollees.csv").read_text(encoding="utf-8").splitlines()))
    path = tmp_path / "numbers.xlsx"
    book = xlsxwriter.Workbook(str(path), {"strings_to_numbers": False})
    sheet = book.add_worksheet()
    for r, row in enumerate(rows):
        for c, value in enumerate(row):
            sheet.write_string(r, c, value)
    ident = rows[1][0]
    sheet.write_number(1, 0, int(ident[:17]))  # an ID Excel made a number: row 2
    book.close()
    result = chinese(run, "validate", "--enrollees", path, "--ledger", SAMPLE / "ledger.csv")
    assert result.exit_code == 2
    assert "Excel 把这个证件号码存成了数字" in result.stderr
    assert "设置单元格格式 → 文本" in result.stderr
    assert untranslated(result.stderr) == set(), result.stderr
    assert ident not in result.stderr and ident[:15] not in result.stderr  # masked


def test_replay_reports_in_chinese(run, tmp_path):
    history = tmp_path / "history"
    shutil.copytree(SAMPLE / "history", history, ignore=shutil.ignore_patterns("*.py", "*.md"))
    success = history / "2024-06" / "expected" / "round-1" / "success.csv"
    lines = success.read_text(encoding="utf-8").splitlines()
    ident = lines[1].split(",")[0]
    lines[1] = ",".join([*lines[1].split(",")[:4], "1.00", *lines[1].split(",")[5:]])
    success.write_text("\n".join(lines) + "\n", encoding="utf-8")
    (history / "2024-06" / "expected" / "round-1" / "extra.csv").write_text("a\n1\n")
    shown = chinese(run, "replay", history, "--chain")
    assert shown.exit_code == 1
    text = " ".join(shown.stdout.split())
    assert "2024-06 第 1 轮扣款：success.csv：有变化" in text
    assert "extra.csv：缺少" in text and "本次重放未写出" in text
    assert "：应为 1.00，实际为" in text and "接续从存档的 enrollees.csv 开始" in text
    assert untranslated(shown.stdout, {"amount", "enrollee_id"}) == set(), shown.stdout
    assert ident not in shown.stdout  # masked
    # the engine ran in English: the agency lists it wrote are the expected ones, byte for byte
    assert "agencies" not in shown.stdout
    data = json.loads(chinese(run, "replay", history, "--json").stdout)
    assert {d["kind"] for d in data["differences"]} == {"changed", "missing"}  # codes
    english = run("replay", history)
    assert "2024-06 round 1: success.csv: changed" in " ".join(english.stdout.split())
