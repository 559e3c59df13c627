"""Charts for the documents, drawn with matplotlib in the CJK font (Noto Sans CJK from Debian's
``fonts-noto-cjk``), as PNG bytes the writers embed (base64 in HTML, and so in the PDF).

A missing CJK font is an error, not a fallback: matplotlib would otherwise draw every Chinese
label as a row of empty boxes.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from functools import lru_cache

import matplotlib

matplotlib.use("Agg")  # no display here; must precede pyplot

import matplotlib.pyplot as plt  # noqa: E402
from matplotlib import font_manager  # noqa: E402

CJK_FAMILIES = ("Noto Sans CJK SC", "Noto Sans CJK JP", "Noto Serif CJK SC")
COLOURS = ("#1f4e79", "#c0392b", "#27ae60", "#e67e22", "#7f8c8d")


class FontMissing(RuntimeError):
    """No CJK font is installed (Debian: ``apt-get install fonts-noto-cjk``)."""


@lru_cache(maxsize=1)
def cjk_family() -> str:
    """The first installed CJK family matplotlib can load."""
    for family in CJK_FAMILIES:
        try:
            font_manager.findfont(font_manager.FontProperties(family=family), fallback_to_default=False)
            return family
        except ValueError:
            continue
    raise FontMissing("no CJK font found for the charts: install Debian's fonts-noto-cjk")


def _figure(width: float, height: float) -> tuple[plt.Figure, plt.Axes]:
    plt.rcParams["font.family"] = [cjk_family(), "DejaVu Sans"]
    plt.rcParams["axes.unicode_minus"] = False
    fig, ax = plt.subplots(figsize=(width, height), dpi=110)
    ax.spines[["top", "right"]].set_visible(False)
    return fig, ax


def _png(fig: plt.Figure) -> bytes:
    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return buffer.getvalue()


def bar(values: Mapping[str, float], *, title: str, xlabel: str, limit: int = 15, percent: bool = False) -> bytes:
    """A horizontal bar per key (the largest ``limit``, largest on top), its value at its end:
    horizontal so that long Chinese names stay readable."""
    items = sorted(values.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]
    labels = [k for k, _ in items] or ["（无）"]
    widths = [v for _, v in items] or [0]
    fig, ax = _figure(7.5, 0.9 + 0.32 * len(labels))
    bars = ax.barh(range(len(labels)), widths, color=COLOURS[0])
    ax.set_yticks(range(len(labels)), labels)
    ax.invert_yaxis()
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    if percent:
        ax.set_xlim(0, 110)
    ax.bar_label(bars, labels=[f"{w:.1f}%" if percent else f"{w:g}" for w in widths], padding=2, fontsize=8)
    return _png(fig)


def grouped(groups: Sequence[str], series: Mapping[str, Sequence[float]], *, title: str, ylabel: str) -> bytes:
    """Side-by-side bars: one group per label, one bar per series (e.g. new / resolved)."""
    fig, ax = _figure(7.5, 3.4)
    n = max(len(series), 1)
    width = 0.8 / n
    for i, (name, values) in enumerate(series.items()):
        xs = [g + (i - (n - 1) / 2) * width for g in range(len(groups))]
        bars = ax.bar(xs, values, width, label=name, color=COLOURS[i % len(COLOURS)])
        ax.bar_label(bars, fmt="%g", padding=2, fontsize=8)
    tilt = len(groups) > 4 or max((len(g) for g in groups), default=0) > 8
    ax.set_xticks(range(len(groups)), groups, rotation=30 if tilt else 0, ha="right" if tilt else "center")
    ax.set_title(title)
    ax.set_ylabel(ylabel)
    ax.legend(frameon=False)
    return _png(fig)


def monthly(points: Mapping[int, float], *, title: str, thresholds: Sequence[int] = (40, 60, 80)) -> bytes:
    """Points per month and their running total against the art. 43 thresholds."""
    fig, ax = _figure(7.5, 3.2)
    months = list(range(1, 13))
    per_month = [points.get(m, 0) for m in months]
    running = [sum(per_month[:i + 1]) for i in range(12)]
    ax.bar(months, per_month, color=COLOURS[0], label="当月记分")
    ax.plot(months, running, color=COLOURS[1], marker="o", label="累计记分")
    top = max(running + [0])
    for t in thresholds:
        if t <= max(top * 1.3, 45):
            ax.axhline(t, color=COLOURS[3], linestyle="--", linewidth=0.8)
            ax.text(12.4, t, f"{t}分", va="center", fontsize=8, color=COLOURS[3])
    ax.set_xticks(months, [f"{m}月" for m in months])
    ax.set_title(title)
    ax.set_ylabel("分")
    ax.legend(frameon=False, loc="upper left")
    return _png(fig)
