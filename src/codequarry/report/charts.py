"""Inline SVG charts drawn in Python: horizontal bars and a line chart, no script and no library.

Every label comes from the corpus or a plugin (paths, extractor names, messages), so every piece of
text goes through :func:`esc`; numbers are formatted here. Charts scale to their container through
the viewBox.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from codequarry.errors import printable

WIDTH = 720
LABEL = 230  # room for the labels left of the bars
BAR = 18
GAP = 6
PALETTE = (
    "#3b6fb6",
    "#e08a2c",
    "#3f9b5a",
    "#c44e52",
    "#8172b3",
    "#937860",
    "#d27dbf",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
)
STATUS_COLORS = {
    "ok": "#3f9b5a",
    "verified": "#3f9b5a",
    "errors": "#e0a12c",
    "failed": "#c44e52",
    "falsified": "#9467bd",
    "timeout": "#e08a2c",
    "memory_limit": "#17becf",
    "killed": "#7f7f7f",
    "invalid_output": "#d27dbf",
    "not_started": "#bbbbbb",
    "interrupted": "#7f7f7f",
    "cached": "#9ecae1",
}


def esc(text: object) -> str:
    """Text for HTML or SVG, quotes included (safe in attributes and in element content); control
    characters (a file name's ``\x1b[31m`` or newline) written as Python writes them, as in the text
    report, so the page shows them and a terminal paging the file is not driven by them."""
    return html.escape(printable(str(text)), quote=True)


def secs(value: float) -> str:
    """Seconds for people: 2.41 s, 12.3 ms, 85 \u00b5s."""
    if value >= 1 or value == 0:
        return f"{value:.2f} s" if value else "0 s"
    if value >= 0.001:
        return f"{value * 1000:.1f} ms"
    return f"{value * 1e6:.0f} \u00b5s"


def clip(text: str, n: int) -> str:
    """At most n characters; a long text keeps its start and its end (where a task id says the most)."""
    if len(text) <= n:
        return text
    head = n // 3
    return text[:head] + "\u2026" + text[len(text) - (n - head - 1) :]


@dataclass(frozen=True)
class Bar:
    label: str
    value: float
    text: str  # the value as shown at the end of the bar
    color: str = PALETTE[0]
    tip: str = ""  # tooltip (the SVG <title>); defaults to label and text


def bars(items: Sequence[Bar], *, title: str, css: str = "chart") -> str:
    """A horizontal bar chart, one row per item, longest bar = the largest value."""
    if not items:
        return ""
    top = max((b.value for b in items), default=0.0) or 1.0
    height = len(items) * (BAR + GAP) + GAP
    span = WIDTH - LABEL - min(300, 12 + 7 * max(len(b.text) for b in items))  # room for the value text
    out = [
        f'<svg class="{esc(css)}" role="img" viewBox="0 0 {WIDTH} {height}" width="100%" '
        f'preserveAspectRatio="xMinYMin meet" aria-label="{esc(title)}">'
    ]
    for i, b in enumerate(items):
        y = GAP + i * (BAR + GAP)
        w = max(1.0, span * b.value / top) if b.value > 0 else 0.0
        tip = b.tip or f"{b.label}: {b.text}"
        out.append(
            f"<g><title>{esc(tip)}</title>"
            f'<text x="{LABEL - 8}" y="{y + BAR - 5}" text-anchor="end" class="lbl">{esc(clip(b.label, 32))}'
            f'</text><rect x="{LABEL}" y="{y}" width="{w:.1f}" height="{BAR}" rx="2" fill="{esc(b.color)}"/>'
            f'<text x="{LABEL + w + 6:.1f}" y="{y + BAR - 5}" class="val">{esc(b.text)}</text></g>'
        )
    out.append("</svg>")
    return "".join(out)


def stacked(parts: Sequence[Bar], *, title: str) -> str:
    """One bar split into coloured parts (task statuses), with a legend below."""
    total = sum(p.value for p in parts)
    if total <= 0:
        return ""
    out = [f'<svg class="chart" role="img" viewBox="0 0 {WIDTH} 64" width="100%" aria-label="{esc(title)}">']
    x = 0.0
    for p in parts:
        w = WIDTH * p.value / total
        out.append(
            f'<rect x="{x:.1f}" y="4" width="{w:.1f}" height="26" fill="{esc(p.color)}">'
            f"<title>{esc(p.label)}: {esc(p.text)}</title></rect>"
        )
        x += w
    lx = 0
    for p in parts:
        out.append(
            f'<rect x="{lx}" y="42" width="12" height="12" fill="{esc(p.color)}"/>'
            f'<text x="{lx + 16}" y="53" class="lbl">{esc(clip(p.label, 18))} {esc(p.text)}</text>'
        )
        lx += 24 + 8 * len(clip(p.label, 18) + p.text) + 16
    out.append("</svg>")
    return "".join(out)


def lines(
    series: Sequence[tuple[str, str, Sequence[tuple[float, float]]]],
    *,
    title: str,
    fmt_y: Callable[[float], str],
    fmt_x: Callable[[float], str],
) -> str:
    """A line chart of (name, colour, points) series on shared axes, with a legend."""
    points = [p for _, _, pts in series for p in pts]
    if len(points) < 2:
        return ""
    left, right, top_pad, bottom = 80, 16, 26, 30
    height = 240
    x_max = max(p[0] for p in points) or 1.0
    y_max = max(p[1] for p in points) or 1.0
    pw, ph = WIDTH - left - right, height - top_pad - bottom

    def xy(p: tuple[float, float]) -> str:
        return f"{left + pw * p[0] / x_max:.1f},{top_pad + ph * (1 - p[1] / y_max):.1f}"

    out = [
        f'<svg class="chart" role="img" viewBox="0 0 {WIDTH} {height}" width="100%" aria-label="{esc(title)}">'
    ]
    for i in range(5):
        y = top_pad + ph * i / 4
        out.append(
            f'<line x1="{left}" x2="{WIDTH - right}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>'
            f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" class="val">'
            f"{esc(fmt_y(y_max * (1 - i / 4)))}</text>"
        )
    for i in range(5):
        x = left + pw * i / 4
        out.append(
            f'<text x="{x:.1f}" y="{height - 10}" text-anchor="middle" class="val">'
            f"{esc(fmt_x(x_max * i / 4))}</text>"
        )
    lx = left
    for name, color, pts in series:
        if pts:
            out.append(
                f'<polyline fill="none" stroke="{esc(color)}" stroke-width="2" '
                f'points="{" ".join(xy(p) for p in pts)}"><title>{esc(name)}</title></polyline>'
            )
        out.append(
            f'<rect x="{lx}" y="6" width="12" height="12" fill="{esc(color)}"/>'
            f'<text x="{lx + 16}" y="16" class="lbl">{esc(name)}</text>'
        )
        lx += 30 + 8 * len(name)
    out.append("</svg>")
    return "".join(out)


@dataclass(frozen=True)
class Span:
    label: str
    start: float  # seconds from the first start
    end: float
    color: str
    tip: str


def timeline(items: Sequence[Span], *, title: str) -> str:
    """A Gantt-like chart: one row per item, a bar from its start to its end, a time axis below."""
    if not items:
        return ""
    end = max(s.end for s in items) or 1.0
    span = WIDTH - LABEL - 20
    height = len(items) * (BAR + GAP) + GAP + 22
    out = [
        f'<svg class="chart" role="img" viewBox="0 0 {WIDTH} {height}" width="100%" aria-label="{esc(title)}">'
    ]
    for i, s in enumerate(items):
        y = GAP + i * (BAR + GAP)
        x = LABEL + span * s.start / end
        w = max(2.0, span * (s.end - s.start) / end)
        out.append(
            f"<g><title>{esc(s.tip)}</title>"
            f'<text x="{LABEL - 8}" y="{y + BAR - 5}" text-anchor="end" class="lbl">{esc(clip(s.label, 32))}</text>'
            f'<rect x="{x:.1f}" y="{y}" width="{w:.1f}" height="{BAR}" rx="2" fill="{esc(s.color)}"/></g>'
        )
    axis = height - 8
    for i in range(5):
        x = LABEL + span * i / 4
        out.append(
            f'<line x1="{x:.1f}" x2="{x:.1f}" y1="0" y2="{axis - 12}" class="grid"/>'
            f'<text x="{x:.1f}" y="{axis}" text-anchor="middle" class="val">{esc(secs(end * i / 4))}</text>'
        )
    out.append("</svg>")
    return "".join(out)
