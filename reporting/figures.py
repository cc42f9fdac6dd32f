"""Matplotlib figures rendered to inline SVG, in one house style.

Figures are made with ``matplotlib.figure.Figure`` rather than pyplot, so no GUI backend or
global figure state is involved (the report is drawn inside a Dagster run). Text stays text in
the SVG (``svg.fonttype: none``), so the page is small, searchable and uses the reader's
fonts (no font is embedded or fetched); a fixed ``svg.hashsalt`` and no metadata make the same
data draw the same bytes, which is what lets a test see a chart change when its mart changes.
"""

from __future__ import annotations

import io
import re
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import matplotlib
from matplotlib.axes import Axes
from matplotlib.figure import Figure

STYLE = {
    "svg.fonttype": "none",
    "svg.hashsalt": "weixi-report",
    "font.family": "sans-serif",
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.titlesize": 10,
    "axes.titleweight": "bold",
    "axes.grid": True,
    "grid.alpha": 0.3,
}
BLUE, ORANGE, GREEN, RED, GREY = "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#7f7f7f"
WIDTH = 9.0
"""Inches; the page shows every chart at its full width."""

_XML_PROLOGUE = re.compile(r"^.*?(?=<svg)", re.DOTALL)


@dataclass
class Drawing:
    """A figure being drawn, its axes (a flat list) and, once the drawing block ends, its SVG."""

    figure: Figure
    axes: list[Axes]
    svg: str = field(default="")


@contextmanager
def drawing(height: float = 3.2, rows: int = 1, columns: int = 1) -> Iterator[Drawing]:
    """A figure of the report's width with ``rows * columns`` axes; draw inside the block (the
    house style applies there), read ``.svg`` after it."""
    with matplotlib.rc_context(STYLE):
        figure = Figure(figsize=(WIDTH, height), layout="constrained")
        grid = figure.subplots(rows, columns, squeeze=False)
        current = Drawing(figure, [ax for row in grid for ax in row])
        yield current
        current.svg = to_svg(figure)


def to_svg(figure: Figure) -> str:
    """The figure as an ``<svg>`` element to put straight into HTML (no XML prologue, no
    metadata, nothing loaded from elsewhere)."""
    buffer = io.StringIO()
    with warnings.catch_warnings():
        # Product names are often Chinese, which matplotlib's bundled font lacks. The text
        # stays text in the SVG and the browser draws it in a font that has it, so the
        # warning is only about matplotlib's estimate of the label's width.
        warnings.filterwarnings("ignore", message="Glyph .* missing from font")
        figure.savefig(
            buffer,
            format="svg",
            metadata={"Date": None, "Creator": None, "Format": None, "Type": None},
        )
    return _XML_PROLOGUE.sub("", buffer.getvalue(), count=1)
