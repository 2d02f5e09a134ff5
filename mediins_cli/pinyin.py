"""汉语拼音 order of enrollee names, as on the agencies' paper lists (seed 003 §七).

pypinyin reads many surnames wrongly (曾 ceng, 单 dan …), so the surname goes through a table;
every distinct character is looked up once and whole columns are mapped with polars.
"""

from __future__ import annotations

import unicodedata

import polars as pl
from pypinyin import Style, lazy_pinyin

# Surname readings that pypinyin 0.55 gets wrong as a surname: it has no surname mode (upstream
# issue #297, still open; /work/shared/LIBRARIES.md "Pinyin ordering — pypinyin 0.55").
# Toneless, syllables separated by one space. A few entries equal pypinyin's current default
# (华 hua, 任 ren, 万 wan …); they are pinned so that a pypinyin upgrade cannot reorder the lists.
# Two-character keys are compound surnames whose per-character reading would be wrong; every
# compound whose first character is listed here must be listed too (a test checks it).
SURNAME_READINGS: dict[str, str] = {
    # named in LIBRARIES.md and sample_data/README.md
    "曾": "zeng",
    "单": "shan",
    "解": "xie",
    "仇": "qiu",
    "区": "ou",
    "查": "zha",
    "査": "zha",
    "朴": "piao",
    "覃": "qin",
    "缪": "miao",
    "翟": "zhai",
    # other surnames with a reading of their own
    "盖": "ge",
    "乐": "yue",
    "华": "hua",
    "纪": "ji",
    "任": "ren",
    "种": "chong",
    "秘": "bi",
    "句": "gou",
    "阚": "kan",
    "眭": "sui",
    "繁": "po",
    "那": "na",
    "折": "she",
    "员": "yun",
    "贠": "yun",
    "召": "shao",
    "万": "wan",
    "卜": "bu",
    "重": "chong",
    "颉": "xie",
    "都": "du",
    "能": "nai",
    "佴": "nai",
    "乜": "nie",
    "祭": "zhai",
    "黑": "he",
    "洗": "xian",
    "粘": "nian",
    "薄": "bo",
    "蔚": "yu",
    "炅": "gui",
    "角": "jue",
    # compound surnames read differently from their characters
    "单于": "chan yu",
    "尉迟": "yu chi",
    "万俟": "mo qi",
    "澹台": "tan tai",
    "乐正": "yue zheng",
    "子车": "zi ju",
    "长孙": "zhang sun",
}

# Two-character surnames (复姓): a name starting with one of these has a two-character surname.
# Readings come from SURNAME_READINGS when listed there, otherwise from pypinyin per character.
COMPOUND_SURNAMES: frozenset[str] = frozenset(
    {key for key in SURNAME_READINGS if len(key) == 2}
    | {
        "欧阳", "司马", "诸葛", "上官", "东方", "皇甫", "令狐", "公孙", "慕容", "宇文",
        "司徒", "夏侯", "轩辕", "公冶", "太史", "端木", "闻人", "呼延", "赫连", "申屠",
        "百里", "东郭", "南宫", "西门", "濮阳", "淳于", "仲孙", "钟离", "羊舌", "微生",
        "梁丘", "左丘", "谷梁", "拓跋", "宗政", "颛孙", "巫马", "公西", "漆雕", "壤驷",
        "公良", "段干", "亓官", "司寇", "鲜于", "第五", "公羊", "仉督", "闾丘", "东门",
        "归海", "宰父", "夹谷", "即墨", "达奚", "哥舒", "褚师",
    }
)  # fmt: skip


def _fold(text: str) -> str:
    """Lowercase letters and digits; any other character becomes a space (a word break)."""
    return "".join(c.lower() if c.isalnum() else " " for c in text)


def _char_token(char: str) -> str:
    """The key text of one character: a spaced syllable for 汉字, a folded character otherwise."""
    if char.isascii():
        return _fold(char)
    text = unicodedata.normalize("NFKC", char)  # full-width Ａ１ → A1, 　 → space
    if text.isascii():
        return _fold(text)
    reading = "".join(lazy_pinyin(text, style=Style.NORMAL))
    if reading != text and reading.isascii() and reading.isalpha():
        return f" {reading.lower()} "
    if unicodedata.name(text[0], "").startswith("CJK"):  # an ideograph pypinyin cannot read
        return f" {text} "
    return _fold(text)  # é, Cyrillic … stay letters of their word; "·" breaks words


def pinyin_key(names: pl.Series) -> pl.Series:
    """Toneless pinyin sort key per name ("曾志强" → "zeng zhi qiang"); nulls stay null."""
    stripped = names.cast(pl.String).str.strip_chars()
    chars = stripped.str.split("")
    distinct = chars.explode().drop_nulls().unique().to_list()
    tokens = {char: _char_token(char) for char in distinct}  # one pypinyin call per character
    surnames = {key: f" {value} " for key, value in SURNAME_READINGS.items()}
    frame = pl.DataFrame({"name": stripped, "chars": chars})
    size = pl.when(pl.col("name").str.slice(0, 2).is_in(list(COMPOUND_SURNAMES))).then(2)
    surname = pl.col("name").str.slice(0, size.otherwise(1))
    read = pl.col("chars").list.eval(pl.element().replace_strict(tokens, return_dtype=pl.String))
    key = (
        frame.lazy()
        .with_columns(
            size=size.otherwise(1).cast(pl.Int64),
            surname=surname,
            read=read,
        )
        .select(
            pl.concat_str(
                pl.when(pl.col("surname").is_in(list(surnames)))
                .then(pl.col("surname").replace_strict(surnames, default=None))
                .otherwise(pl.col("read").list.head(pl.col("size")).list.join("")),
                pl.col("read").list.slice(pl.col("size")).list.join(""),
            )
            .str.replace_all(" +", " ")
            .str.strip_chars(" ")
            .alias(names.name)
        )
        .collect()
    )
    return key.to_series()


def order_by_pinyin(
    frame: pl.DataFrame, name_col: str = "name", tie: str | None = "enrollee_id"
) -> pl.DataFrame:
    """Rows sorted by (pinyin key, name, tie) ascending, null names last; no key column left."""
    key = "__pinyin_key"
    while key in frame.columns:
        key += "_"
    by = [key, name_col] if tie is None else [key, name_col, tie]
    # one key per distinct name (names repeat: 10 M enrollees of the bench have 0.92 M names)
    names = frame.select(pl.col(name_col).unique())
    keys = names.with_columns(pinyin_key(names[name_col]).alias(key))
    return (
        frame.join(keys, on=name_col, how="left", nulls_equal=True, maintain_order="left")
        .sort(by, nulls_last=True, maintain_order=True)
        .drop(key)
    )
