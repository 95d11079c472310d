"""Charts as inline SVG drawn on the server (no script): bars and lines, text escaped."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from markupsafe import Markup, escape

__all__ = ["bar_chart", "line_chart"]

_W, _H, _PAD = 440, 180, 34
_COLOURS = ("#2451b7", "#c0392b", "#1f7a3a", "#8e44ad", "#d35400", "#16a085", "#7f8c8d")


def bar_chart(bars: Sequence[tuple[str, float]], *, top: float | None = None,
              unit: str = "", title: str = "") -> Markup:
    """One bar per (label, value), scaled to `top` (default: the largest value)."""
    high = top or max((v for _, v in bars), default=1.0) or 1.0
    width = (_W - 2 * _PAD) / max(len(bars), 1)
    parts = [_axes()]
    for i, (label, value) in enumerate(bars):
        h = (_H - 2 * _PAD) * value / high
        x, y = _PAD + i * width + width * 0.15, _H - _PAD - h
        parts.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{width * 0.7:.1f}" height="{h:.1f}" '
                     f'fill="{_COLOURS[0]}"><title>{escape(label)}: {value:g}{unit}</title>'
                     f'</rect><text x="{x + width * 0.35:.1f}" y="{y - 3:.1f}" '
                     f'text-anchor="middle">{value:.3g}{escape(unit)}</text>'
                     f'<text x="{x + width * 0.35:.1f}" y="{_H - _PAD + 13}" '
                     f'text-anchor="middle">{escape(label)}</text>')
    return _svg(parts, title)


def line_chart(series: Mapping[str, Sequence[float]], labels: Sequence[str], *, unit: str = "",
               title: str = "") -> Markup:
    """One line per named series over the same x `labels` (first and last labelled)."""
    high = max((v for values in series.values() for v in values), default=1.0) or 1.0
    steps = max(len(labels) - 1, 1)
    parts = [_axes(), f'<text x="{_PAD + 4}" y="{_PAD - 4}">max {high:.3g}{escape(unit)}'
             f'</text>']
    for n, (name, values) in enumerate(series.items()):
        points = " ".join(f"{_PAD + i * (_W - 2 * _PAD) / steps:.1f},"
                          f"{_H - _PAD - (_H - 2 * _PAD) * v / high:.1f}"
                          for i, v in enumerate(values))
        colour = _COLOURS[n % len(_COLOURS)]
        parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" '
                     f'points="{points}"><title>{escape(name)}</title></polyline>'
                     f'<text x="{_W - _PAD}" y="{14 + 12 * n}" text-anchor="end" '
                     f'fill="{colour}">{escape(name)}</text>')
    if labels:
        parts.append(f'<text x="{_PAD}" y="{_H - _PAD + 14}">{escape(labels[0])}</text>'
                     f'<text x="{_W - _PAD}" y="{_H - _PAD + 14}" text-anchor="end">'
                     f'{escape(labels[-1])}</text>')
    return _svg(parts, title)


def _axes() -> str:
    return (f'<line x1="{_PAD}" y1="{_H - _PAD}" x2="{_W - _PAD}" y2="{_H - _PAD}" '
            f'stroke="#999"/><line x1="{_PAD}" y1="{_PAD}" x2="{_PAD}" y2="{_H - _PAD}" '
            f'stroke="#999"/>')


def _svg(parts: list[str], title: str) -> Markup:
    return Markup(f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {_W} {_H}" '
                  f'role="img" aria-label="{escape(title)}">{"".join(parts)}</svg>')
