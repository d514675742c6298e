"""The digest's charts, drawn by matplotlib's SVG backend for inlining in the page.

Nothing is fetched: text stays text in the page's own fonts (svg.fonttype none), and the
XML prologue and matplotlib's metadata block are dropped so that the SVG can sit inside
HTML. Ids inside each SVG are salted per chart so that several on one page never clash.
"""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from datetime import date

import matplotlib

matplotlib.use("svg")  # before anything imports pyplot: no GUI backend, ever

from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

INK = "#1f2933"
MUTED = "#9aa5b1"
WARM = "#d9480f"
COOL = "#1864ab"
GAINED = "#2b8a3e"
LOST = "#c92a2a"

_PROLOGUE = re.compile(r"^.*?(?=<svg)", re.S)
_METADATA = re.compile(r"\s*<metadata>.*?</metadata>", re.S)
_STYLE = {
    "svg.fonttype": "none",
    "font.family": "sans-serif",
    "font.size": 9,
    "axes.edgecolor": MUTED,
    "axes.labelcolor": INK,
    "xtick.color": INK,
    "ytick.color": INK,
    "axes.spines.top": False,
    "axes.spines.right": False,
}


def _svg(figure: Figure, salt: str) -> str:
    out = io.StringIO()
    with matplotlib.rc_context({**_STYLE, "svg.hashsalt": salt}):
        figure.savefig(out, format="svg", transparent=True, metadata={"Date": None})
    return _METADATA.sub("", _PROLOGUE.sub("", out.getvalue(), count=1), count=1).strip()


def _figure(width: float, height: float) -> Figure:
    with matplotlib.rc_context(_STYLE):
        return Figure(figsize=(width, height), layout="constrained")


def layers_svg(rings: Sequence[tuple[str, int]], limit: int) -> str:
    """One stacked bar of the active ties, ring by ring (the strongest 5, the next 10 up to
    15, and so on, then everyone beyond 150), against the ~150 line."""
    with matplotlib.rc_context(_STYLE):
        figure = _figure(5.6, 1.6)
        axes = figure.add_subplot()
        shades = ["#0b3d91", "#1864ab", "#4dabf7", "#a5d8ff", "#dee2e6"]
        left = 0
        for (name, ring), shade in zip(rings, shades, strict=False):
            if ring > 0:
                axes.barh([0], [ring], left=left, color=shade, height=0.5, label=f"{name}: {ring}")
            left += ring
        axes.axvline(limit, color=WARM, linewidth=1.5)
        axes.annotate(f"~{limit}", (limit, 0.3), xytext=(3, 0), textcoords="offset points",
                      color=WARM, fontsize=8, va="bottom")
        axes.set_yticks([])
        axes.set_ylim(-0.4, 0.55)
        axes.set_xlim(0, max(left, limit) * 1.05)
        axes.set_xlabel("active ties")
        axes.spines["left"].set_visible(False)
        if left > 0:  # a legend of no rings makes matplotlib warn on the user's terminal
            figure.legend(loc="outside lower center", frameon=False, fontsize=7, ncols=5,
                          handlelength=1)
    return _svg(figure, "layers")


def months_svg(months: Sequence[tuple[date, int, int]]) -> str:
    """Bars per month: ties gained above the line, ties lost below it."""
    if not months:
        return ""
    with matplotlib.rc_context(_STYLE):
        figure = _figure(5.6, 2.0)
        axes = figure.add_subplot()
        labels = [m.strftime("%b\n%Y") if m.month == 1 or i == 0 else m.strftime("%b")
                  for i, (m, _, _) in enumerate(months)]
        rows = list(range(len(months)))
        axes.bar(rows, [g for _, g, _ in months], color=GAINED, label="gained")
        axes.bar(rows, [-lost for _, _, lost in months], color=LOST, label="lost")
        axes.axhline(0, color=MUTED, linewidth=0.8)
        axes.set_xticks(rows, labels, fontsize=7)
        axes.set_ylabel("ties")
        axes.yaxis.set_major_locator(MaxNLocator(integer=True))
        axes.legend(loc="upper left", frameon=False, fontsize=8, ncols=2)
    return _svg(figure, "months")


def sparkline_svg(days: Sequence[date], strengths: Sequence[float]) -> str:
    """A tie's strength over time on its own scale (the text gives the range), axes hidden,
    the latest value marked."""
    if len(days) < 2:
        return ""
    with matplotlib.rc_context(_STYLE):
        figure = Figure(figsize=(1.8, 0.32))
        axes = figure.add_axes((0.02, 0.1, 0.94, 0.8))
        axes.plot(days, strengths, color=COOL, linewidth=1.1)
        axes.plot(days[-1:], strengths[-1:], "o", color=WARM, markersize=2.5)
        low, high = min(strengths), max(strengths)
        pad = max(1.0, (high - low) * 0.1)
        axes.set_ylim(low - pad, high + pad)
        axes.set_axis_off()
    return _svg(figure, f"spark-{days[0]}-{days[-1]}-{sum(strengths):.3f}")
