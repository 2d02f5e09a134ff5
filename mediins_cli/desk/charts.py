"""The monthly report's charts: matplotlib figures saved as SVG and inlined in the page.

Text stays text (``svg.fonttype = 'none'``), so Chinese is drawn by the viewer's own fonts;
ids are salted with a fixed string and the SVG carries no date or creator, so the same numbers
give the same bytes. Numbers are floats here for drawing only: every number a person reads is
printed beside the chart from the exact values. matplotlib is imported by this module alone,
which only ``mediins report`` loads (``mediins --help`` stays fast).
"""

from __future__ import annotations

import io
import logging
import re
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

#: the viewer's fonts, Latin first, then common Chinese ones, then any sans-serif
FONTS = [
    "DejaVu Sans",
    "Noto Sans CJK SC",
    "Source Han Sans SC",
    "Microsoft YaHei",
    "PingFang SC",
    "WenQuanYi Micro Hei",
    "SimHei",
]
COLLECTED = "#2e7d32"
UNPAID = "#c62828"
SERIES = ("#1565c0", "#ef6c00")

_RC: Any = {  # matplotlib types its keys as literals
    "svg.fonttype": "none",
    "svg.hashsalt": "mediins-report",
    "font.family": "sans-serif",
    "font.sans-serif": FONTS,
    "font.size": 10,
    "axes.spines.top": False,
    "axes.spines.right": False,
}


@contextmanager
def _drawing() -> Iterator[None]:
    """matplotlib's settings for the report, and quiet about fonts this machine lacks (the
    viewer's browser draws the text, not matplotlib)."""
    import matplotlib

    font_log = logging.getLogger("matplotlib.font_manager")
    level = font_log.level
    font_log.setLevel(logging.ERROR)
    try:
        with matplotlib.rc_context(_RC), warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "Glyph … missing from font(s)"
            yield
    finally:
        font_log.setLevel(level)


def _figure(width: float, height: float) -> Figure:
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def _svg(fig: Figure, title: str) -> str:
    """The figure as an ``<svg>`` element for an HTML page: no XML prologue or DOCTYPE (which
    names a URL), no namespace declarations (HTML gives inline SVG its namespace), ``href`` for
    ``xlink:href``, and a title for screen readers."""
    buffer = io.BytesIO()
    fig.savefig(
        buffer,
        format="svg",
        metadata={"Date": None, "Creator": None, "Format": None, "Type": None},
    )
    text = buffer.getvalue().decode("utf-8")
    text = text[text.index("<svg") :]
    text = re.sub(r'\s+xmlns(:\w+)?="[^"]*"', "", text)
    text = text.replace("xlink:href=", "href=")
    opening = text.index(">") + 1
    safe = title.replace("&", "&amp;").replace("<", "&lt;")
    return f"{text[:opening]}\n <title>{safe}</title>{text[opening:]}".rstrip() + "\n"


def _height(rows: int) -> float:
    return 1.0 + 0.38 * max(rows, 1)


def _finish_barh(ax: Axes, labels: Sequence[str]) -> None:
    ax.set_yticks(range(len(labels)), labels=list(labels))
    ax.invert_yaxis()
    ax.grid(axis="x", color="#dddddd", linewidth=0.6)
    ax.set_axisbelow(True)


def stacked_bars(
    title: str,
    labels: Sequence[str],
    parts: Sequence[tuple[str, Sequence[float], str]],
    xlabel: str,
) -> str:
    """Horizontal bars, one per label, stacked from ``parts`` (name, values, colour)."""
    with _drawing():
        fig = _figure(6.4, _height(len(labels)) + 0.5)
        ax = fig.add_subplot()
        left = [0.0] * len(labels)
        for name, values, colour in parts:
            ax.barh(range(len(labels)), values, left=left, color=colour, label=name, height=0.6)
            left = [a + b for a, b in zip(left, values, strict=True)]
        _finish_barh(ax, labels)
        ax.set_xlabel(xlabel)
        ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncols=len(parts), frameon=False)
        return _svg(fig, title)


def grouped_bars(
    title: str,
    labels: Sequence[str],
    series: Sequence[tuple[str, Sequence[float]]],
    xlabel: str,
) -> str:
    """Horizontal bars, one group per label, one bar per series (name, values)."""
    with _drawing():
        fig = _figure(6.4, _height(len(labels) * max(len(series), 1) // 2 + 1) + 0.5)
        ax = fig.add_subplot()
        width = 0.8 / max(len(series), 1)
        for i, (name, values) in enumerate(series):
            offset = (i - (len(series) - 1) / 2) * width
            ax.barh(
                [k + offset for k in range(len(labels))],
                values,
                height=width,
                color=SERIES[i % len(SERIES)],
                label=name,
            )
        _finish_barh(ax, labels)
        ax.set_xlabel(xlabel)
        if len(series) > 1:
            ax.legend(
                loc="lower center", bbox_to_anchor=(0.5, 1.0), ncols=len(series), frameon=False
            )
        return _svg(fig, title)


def rate_line(title: str, months: Sequence[str], rates: Sequence[float], ylabel: str) -> str:
    """The collection rate (percent) by month, each point marked."""
    with _drawing():
        fig = _figure(6.4, 3.2)
        ax = fig.add_subplot()
        ax.plot(range(len(months)), rates, marker="o", color=SERIES[0], linewidth=1.6)
        ax.set_xticks(range(len(months)), labels=list(months))
        if len(months) > 6:
            for tick in ax.get_xticklabels():
                tick.set_rotation(45)
                tick.set_horizontalalignment("right")
        low = min(rates, default=0.0)
        ax.set_ylim(max(0.0, min(low - 5.0, 80.0)), 100.5)
        ax.set_xlim(-0.5, max(len(months) - 0.5, 0.5))
        ax.set_ylabel(ylabel)
        ax.grid(axis="y", color="#dddddd", linewidth=0.6)
        return _svg(fig, title)
