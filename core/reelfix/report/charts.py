"""Small inline SVG line charts (no plotting library): per-frame curves of the review page.

A chart carries its frame range and plot area as data attributes, so the page's script can
turn a click into a frame number."""

from __future__ import annotations

import html
import math
from dataclasses import dataclass, field
from typing import Sequence

WIDTH, HEIGHT = 760, 190
LEFT, RIGHT, TOP, BOTTOM = 62, 12, 12, 30


@dataclass
class Series:
    label: str
    colour: str
    points: Sequence[tuple[int, float]]  # (frame, value); a gap in frames breaks the line
    dashed: bool = False


@dataclass
class Chart:
    title: str
    unit: str
    series: list[Series] = field(default_factory=list)
    marks: Sequence[int] = ()  # frames drawn as vertical lines (shot starts, failures)

    @property
    def empty(self) -> bool:
        return not any(s.points for s in self.series)


def _fmt(v: float) -> str:
    return f"{v:.3g}" if abs(v) < 10000 else f"{v:.0f}"


def _range(values: Sequence[float]) -> tuple[float, float]:
    lo, hi = min(values), max(values)
    if math.isclose(lo, hi, rel_tol=1e-9, abs_tol=1e-12):
        pad = abs(lo) * 0.05 or 1.0
        return lo - pad, hi + pad
    pad = (hi - lo) * 0.06
    return lo - pad, hi + pad


def _runs(points: Sequence[tuple[int, float]]) -> list[list[tuple[int, float]]]:
    """Points split where frames are not consecutive within the series' own spacing."""
    pts = sorted(points)
    step = min((b[0] - a[0] for a, b in zip(pts, pts[1:])), default=1)
    runs: list[list[tuple[int, float]]] = []
    for p in pts:
        if not runs or p[0] - runs[-1][-1][0] > step:
            runs.append([])
        runs[-1].append(p)
    return runs


def render(chart: Chart, key: str) -> str:
    """The chart as an <svg> element (or an empty string when it has no points)."""
    if chart.empty:
        return ""
    xs = [p[0] for s in chart.series for p in s.points]
    ys = [p[1] for s in chart.series for p in s.points]
    x0, x1 = min(xs), max(xs)
    y0, y1 = _range(ys)
    pw, ph = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def px(x: float) -> float:
        return LEFT + (x - x0) / max(1, x1 - x0) * pw

    def py(y: float) -> float:
        return TOP + (1 - (y - y0) / (y1 - y0)) * ph

    out = [
        f'<svg class="chart" data-chart="{html.escape(key)}" data-x0="{x0}" data-x1="{x1}" data-left="{LEFT}" data-width="{pw}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" role="img" aria-label="{html.escape(chart.title)}">',
        f'<rect x="{LEFT}" y="{TOP}" width="{pw}" height="{ph}" class="plot"/>',
    ]
    for i in range(5):
        v = y0 + (y1 - y0) * i / 4
        y = py(v)
        out.append(f'<line x1="{LEFT}" x2="{LEFT + pw}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>')
        out.append(f'<text x="{LEFT - 6}" y="{y + 4:.1f}" class="tick" text-anchor="end">{_fmt(v)}</text>')
    for x in sorted({x0, x1, (x0 + x1) // 2}):
        out.append(f'<text x="{px(x):.1f}" y="{HEIGHT - 10}" class="tick" text-anchor="middle">{x}</text>')
    for m in chart.marks:
        if x0 <= m <= x1:
            out.append(f'<line x1="{px(m):.1f}" x2="{px(m):.1f}" y1="{TOP}" y2="{TOP + ph}" class="mark"/>')
    for s in chart.series:
        dash = ' stroke-dasharray="5 3"' if s.dashed else ""
        for run in _runs(s.points):
            if len(run) == 1:
                out.append(f'<circle cx="{px(run[0][0]):.1f}" cy="{py(run[0][1]):.1f}" r="2.5" fill="{s.colour}"/>')
                continue
            pts = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in run)
            out.append(f'<polyline points="{pts}" fill="none" stroke="{s.colour}" stroke-width="1.6"{dash}/>')
    out.append('<line class="cursor" x1="-10" x2="-10" y1="%d" y2="%d"/>' % (TOP, TOP + ph))
    out.append("</svg>")
    legend = " ".join(
        f'<span class="key"><i style="background:{s.colour}"></i>{html.escape(s.label)}</span>' for s in chart.series if s.points
    )
    return (
        f'<figure class="curve"><figcaption>{html.escape(chart.title)} <small>({html.escape(chart.unit)})</small> {legend}</figcaption>'
        + "".join(out)
        + "</figure>"
    )
