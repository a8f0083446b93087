"""Charts as SVG written here, for the HTML report: no library, no script, no network.

Every drawn mark has class ``mark`` and carries its number in ``data-value`` (and a
``<title>`` a browser shows on hover), so the marks can be checked against the report.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

PALETTE = ("#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1",
           "#ff9da7", "#9c755f", "#bab0ac")
WIDTH = 720
ROW = 22  # height of one bar
LABELS = 170  # room for the labels left of bars


def _svg(height: float, body: list[str], name: str) -> str:
    return (f'<svg class="chart" data-report="{escape(name)}" xmlns="http://www.w3.org/2000/svg" '
            f'width="{WIDTH}" height="{height:.0f}" viewBox="0 0 {WIDTH} {height:.0f}" '
            f'role="img">{"".join(body)}</svg>')


def _text(x: float, y: float, text: str, anchor: str = "start", size: int = 12,
          cls: str = "label") -> str:
    return (f'<text class="{cls}" x="{x:.1f}" y="{y:.1f}" font-size="{size}" '
            f'text-anchor="{anchor}">{escape(text)}</text>')


def _mark(kind: str, attributes: str, value: float | int | None, tip: str) -> str:
    return (f'<{kind} class="mark" data-value="{_number(value)}" {attributes}>'
            f"<title>{escape(tip)}</title></{kind}>")


def _number(value: float | int | None) -> str:
    return "" if value is None else repr(value) if isinstance(value, float) else str(value)


def bars(name: str, rows: Sequence[tuple[str, Sequence[float | None]]],
         series: Sequence[str], *, fmt: str = "{:g}") -> str:
    """Horizontal bars: one group per row label, one bar per series, each with its number."""
    values = [v or 0 for _, vs in rows for v in vs]
    top = max(values, default=0) or 1
    span = WIDTH - LABELS - 70
    height = 24 + len(rows) * (ROW * len(series) + 8)
    body = _legend(series) if len(series) > 1 else []
    y = 24.0
    for label, group in rows:
        body.append(_text(LABELS - 8, y + ROW * len(series) / 2 + 4, label, "end"))
        for i, value in enumerate(group):
            width = span * (value or 0) / top
            body.append(_mark("rect", f'x="{LABELS}" y="{y:.1f}" width="{max(width, 0.5):.1f}" '
                              f'height="{ROW - 4}" fill="{PALETTE[i % len(PALETTE)]}"', value,
                              f"{label} {series[i]}: {_shown(value, fmt)}"))
            body.append(_text(LABELS + width + 4, y + ROW - 8, _shown(value, fmt), size=11,
                              cls="value"))
            y += ROW
        y += 8
    return _svg(height, body, name)


def lines(name: str, points: Sequence[str], series: Sequence[tuple[str, Sequence[float | None]]],
          *, fmt: str = "{:g}") -> str:
    """One line per series over the labelled points (months), each point a mark."""
    left, bottom, height = 50, 40, 260
    values = [v for _, vs in series for v in vs if v is not None]
    top = max(values, default=0) or 1
    step = (WIDTH - left - 20) / max(len(points) - 1, 1)
    body = _legend([s for s, _ in series])
    for tick in (0, top / 2, top):
        y = height - bottom - (height - bottom - 30) * tick / top
        body += [f'<line x1="{left}" x2="{WIDTH - 10}" y1="{y:.1f}" y2="{y:.1f}" '
                 'stroke="#ddd"/>', _text(left - 6, y + 4, _shown(tick, "{:g}"), "end", 10)]
    every = -(-len(points) // 8)  # at most eight labels along the bottom
    for i, label in enumerate(points):
        if i % every == 0:
            body.append(_text(left + i * step, height - bottom + 16, label, "middle", 10))
    for n, (label, vs) in enumerate(series):
        colour = PALETTE[n % len(PALETTE)]
        xy = [(left + i * step, height - bottom - (height - bottom - 30) * v / top, v, points[i])
              for i, v in enumerate(vs) if v is not None]
        if len(xy) > 1:
            path = " ".join(f"{x:.1f},{y:.1f}" for x, y, _, _ in xy)
            body.append(f'<polyline points="{path}" fill="none" stroke="{colour}" '
                        'stroke-width="2"/>')
        body += [_mark("circle", f'cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{colour}"', v,
                       f"{point} {label}: {_shown(v, fmt)}") for x, y, v, point in xy]
    return _svg(height, body, name)


def heatmap(name: str, rows: Sequence[str], columns: Sequence[str],
            cells: dict[tuple[str, str], float | int], *, fmt: str = "{:g}",
            corner: str = "") -> str:
    """A grid of cells shaded by their number, each showing it."""
    size = max(16.0, min(44.0, (WIDTH - 90) / max(len(columns), 1)))
    top_value = max(cells.values(), default=0) or 1
    body = [_text(84, 14, corner, "end", 10)]
    body += [_text(90 + j * size + size / 2, 14, c, "middle", 10) for j, c in enumerate(columns)]
    for i, r in enumerate(rows):
        y = 20 + i * size
        body.append(_text(84, y + size / 2 + 4, r, "end", 10))
        for j, c in enumerate(columns):
            value = cells.get((r, c))
            if value is None:
                continue
            shade = 0.08 + 0.85 * value / top_value
            body.append(_mark("rect", f'x="{90 + j * size:.1f}" y="{y:.1f}" width="{size - 2:.1f}" '
                              f'height="{size - 2:.1f}" fill="#4e79a7" fill-opacity="{shade:.2f}"',
                              value, f"{r} / {c}: {_shown(value, fmt)}"))
            if size >= 30:
                body.append(_text(90 + j * size + size / 2 - 1, y + size / 2 + 3,
                                  _shown(value, fmt), "middle", 9, "value"))
    return _svg(30 + len(rows) * size, body, name)


def _legend(series: Sequence[str]) -> list[str]:
    body = []
    for i, label in enumerate(series):
        x = LABELS + i * 110
        body += [f'<rect x="{x}" y="4" width="10" height="10" fill="{PALETTE[i % len(PALETTE)]}"/>',
                 _text(x + 14, 13, label, size=11)]
    return body


def _shown(value: float | int | None, fmt: str) -> str:
    return "–" if value is None else fmt.format(value)
