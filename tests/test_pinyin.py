"""Pinyin order of names (seed 003 §七): surname table, compound surnames, per-character lookup."""

from __future__ import annotations

import random

import polars as pl
import pytest

import mediins_cli.pinyin as pinyin_module
from mediins_cli.pinyin import COMPOUND_SURNAMES, SURNAME_READINGS, order_by_pinyin, pinyin_key


def key(name: str | None) -> str | None:
    return pinyin_key(pl.Series("name", [name], dtype=pl.String)).item()


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        # surnames pypinyin misreads (LIBRARIES.md): its default is given in the comment
        ("曾志强", "zeng zhi qiang"),  # ceng
        ("单丽", "shan li"),  # dan
        ("解文博", "xie wen bo"),  # jie
        ("仇晓燕", "qiu xiao yan"),  # chou
        ("区家豪", "ou jia hao"),  # qu
        ("查海涛", "zha hai tao"),  # cha
        ("朴成浩", "piao cheng hao"),  # pu
        ("覃美玲", "qin mei ling"),  # tan
        ("缪建华", "miao jian hua"),  # mou
        ("翟雪", "zhai xue"),  # di
        ("盖丽丽", "ge li li"),  # gai
        ("乐嘉", "yue jia"),  # le
        # compound surnames
        ("欧阳建国", "ou yang jian guo"),
        ("司马秀兰", "si ma xiu lan"),
        ("单于平", "chan yu ping"),  # per character it would be "shan yu"
        ("尉迟恭", "yu chi gong"),  # per character "wei chi"
        ("万俟明", "mo qi ming"),  # per character "wan qi"
        ("长孙无忌", "zhang sun wu ji"),
        ("诸葛亮", "zhu ge liang"),  # not in the table: pypinyin per character
        # ordinary names, 2 and 3 characters
        ("张伟", "zhang wei"),
        ("林佳慧", "lin jia hui"),
        ("吕思远", "lv si yuan"),  # ü is written "v", as pypinyin's Style.NORMAL gives it
    ],
)
def test_key_of_a_name(name: str, expected: str) -> None:
    assert key(name) == expected


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        # The surname table applies only to the surname. In a given name the character keeps
        # pypinyin's single-character default: lazy_pinyin("曾") == ["ceng"], ("单") == ["dan"],
        # ("乐") == ["le"], ("查") == ["cha"] (checked with pypinyin 0.55).
        ("王曾", "wang ceng"),
        ("李单", "li dan"),
        ("张乐", "zhang le"),
        ("曾查", "zeng cha"),  # surname 曾 read zeng, given name 查 read cha
        ("单单", "shan dan"),
    ],
)
def test_surname_readings_only_apply_to_the_surname(name: str, expected: str) -> None:
    assert key(name) == expected


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("SMITH JOHN", "smith john"),  # Latin letters lowercased, words kept
        ("Smith  John ", "smith john"),  # spaces collapsed, ends stripped
        ("O'NEIL ANNA", "o neil anna"),  # any non-letter, non-digit is a word break
        ("阿依古丽·买买提", "a yi gu li mai mai ti"),  # "·" is dropped as a word break
        ("ＳＭＩＴＨ　ＪＯＨＮ", "smith john"),  # full-width forms fold to ASCII (NFKC)
        ("José 李", "josé li"),  # non-ASCII letters stay in their word
        ("张3", "zhang 3"),  # digits kept
        ("", ""),
        ("  ", ""),
    ],
)
def test_key_of_non_chinese_characters(name: str, expected: str) -> None:
    assert key(name) == expected


def test_null_names_stay_null_and_the_series_keeps_its_length_and_name() -> None:
    names = pl.Series("who", ["曾志强", None, "李娜", None])
    keys = pinyin_key(names)
    assert keys.dtype == pl.String
    assert keys.name == "who"
    assert keys.to_list() == ["zeng zhi qiang", None, "li na", None]
    all_null = pinyin_key(pl.Series("who", [None, None]))
    assert all_null.dtype == pl.String
    assert all_null.to_list() == [None, None]


def test_surname_table_is_well_formed() -> None:
    for surname, reading in SURNAME_READINGS.items():
        assert len(surname) in (1, 2)
        syllables = reading.split(" ")
        assert len(syllables) == len(surname), surname
        assert all(s.isascii() and s.isalpha() and s.islower() for s in syllables), surname
    for compound in COMPOUND_SURNAMES:
        assert len(compound) == 2
        # a compound starting with a listed surname character would otherwise be read with
        # that character's reading plus the next character's default: it must be listed itself
        if compound[0] in SURNAME_READINGS:
            assert compound in SURNAME_READINGS, compound
    assert {k for k in SURNAME_READINGS if len(k) == 2} <= COMPOUND_SURNAMES


def test_order_of_names_worked_by_hand() -> None:
    # Keys, compared syllable by syllable (the space sorts before every letter):
    #   李娜 li na < 林佳慧 lin jia hui ("li " < "lin": space < n)
    #   < 罗刚 luo gang < 吕思远 lv si yuan (u < v)
    #   < 区家豪 ou jia hao < 欧阳建国 ou yang jian guo (j < y)
    #   < 覃美玲 qin mei ling < 仇晓燕 qiu xiao yan (n < u)
    #   < 沙明 sha ming < 单丽 shan li < 尚飞 shang fei ("sha " < "shan " < "shang")
    #   < SMITH JOHN smith john (h < m)
    #   < 曾志强 zeng zhi qiang < 张伟 zhang wei (e < h)
    #   and the null name last.
    # Read with pypinyin's defaults 曾 ceng, 单 dan, 区 qu, 仇 chou, 覃 tan would all move.
    expected = [
        "李娜", "林佳慧", "罗刚", "吕思远", "区家豪", "欧阳建国", "覃美玲", "仇晓燕",
        "沙明", "单丽", "尚飞", "SMITH JOHN", "曾志强", "张伟", None,
    ]  # fmt: skip
    shuffled = expected[:]
    random.Random(7).shuffle(shuffled)
    frame = pl.DataFrame(
        {"name": shuffled, "enrollee_id": [f"id{i:02d}" for i in range(len(shuffled))]}
    )
    result = order_by_pinyin(frame)
    assert result["name"].to_list() == expected
    assert result.columns == ["name", "enrollee_id"]
    assert result.sort("enrollee_id").equals(frame.sort("enrollee_id"))  # same rows, intact


def test_ties_are_broken_by_name_then_enrollee_id() -> None:
    # 张伟 and 章伟 are both "zhang wei": the name decides by code point (张 U+5F20 < 章 U+7AE0);
    # the two 张伟 rows are then ordered by enrollee_id.
    frame = pl.DataFrame(
        {
            "enrollee_id": ["110101199001010011", "110101199001010038", "110101199001010020"],
            "name": ["章伟", "张伟", "张伟"],
            "fen": [1, 2, 3],
        }
    )
    result = order_by_pinyin(frame)
    assert result["enrollee_id"].to_list() == [
        "110101199001010020",
        "110101199001010038",
        "110101199001010011",
    ]
    assert result["fen"].to_list() == [3, 2, 1]
    # the same whatever the input order (deterministic)
    assert order_by_pinyin(frame.reverse()).equals(result)


def test_other_column_names_and_no_tie_column() -> None:
    frame = pl.DataFrame({"姓名": ["张伟", "曾志强", "单丽"], "__pinyin_key": [1, 2, 3]})
    result = order_by_pinyin(frame, name_col="姓名", tie=None)
    assert result["姓名"].to_list() == ["单丽", "曾志强", "张伟"]
    assert result["__pinyin_key"].to_list() == [3, 2, 1]  # a user column of that name survives
    assert result.columns == ["姓名", "__pinyin_key"]


def test_pypinyin_is_called_once_per_distinct_character(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    real = pinyin_module.lazy_pinyin

    def counting(*args, **kwargs):
        calls.append(args[0])
        return real(*args, **kwargs)

    monkeypatch.setattr(pinyin_module, "lazy_pinyin", counting)
    pool = "王李张曾欧"
    rng = random.Random(0)
    names = ["".join(rng.choice(pool) for _ in range(rng.choice((2, 3)))) for _ in range(1000)]
    keys = pinyin_key(pl.Series("name", names))
    assert len(calls) <= len(pool)
    assert sorted(calls) == sorted(set(calls))
    assert keys.len() == 1000
    readings = {"王": "wang", "李": "li", "张": "zhang", "曾": "ceng", "欧": "ou"}
    for name, got in zip(names[:50], keys.head(50).to_list(), strict=True):
        surname = "zeng" if name[0] == "曾" else readings[name[0]]
        assert got == " ".join([surname, *(readings[c] for c in name[1:])])


def test_many_names_keep_their_length() -> None:
    # Speed-insensitive: only shape and a few values are checked, never a time.
    pool = list("伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华建国志玲")
    surnames = ["王", "李", "张", "曾", "单", "区", "欧阳", "司马", "尉迟"]
    rng = random.Random(1)
    names: list[str | None] = [
        rng.choice(surnames) + "".join(rng.choice(pool) for _ in range(rng.choice((1, 2))))
        for _ in range(200_000)
    ]
    names[12345] = None
    keys = pinyin_key(pl.Series("name", names))
    assert keys.len() == 200_000
    assert keys.null_count() == 1
    assert keys[12345] is None
    assert keys.drop_nulls().str.contains(r"^[a-z]+( [a-z]+)+$").all()
