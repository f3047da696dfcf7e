"""Inline SVG charts for the nightly page: no JavaScript, no fonts or images to fetch.

Each function returns a complete `<svg>` element as `Markup` (safe to embed in the autoescaped
template); every label and tooltip is escaped here. Hovering a mark shows its exact value (SVG
`<title>`), and the chart carries an aria-label, so the numbers are never only in colours.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from html import escape

from markupsafe import Markup

FALLBACK_COLOUR = "#a0aec0"

# Contract §3 vocabularies, coloured once so the page and the notebooks agree.
SLA_COLOURS = {
    "chat_reply": "#3182ce",
    "aftersales_response": "#dd6b20",
    "cancellation_response": "#805ad5",
    "return_inspection": "#38a169",
    "dispatch": "#e53e3e",
    "auto_cancel": "#d69e2e",
    "appeal_window": "#319795",
    "dispute_window": "#718096",
}
DECISION_COLOURS = {
    "buyer_favour": "#3182ce",
    "partial_refund": "#805ad5",
    "seller_favour": "#38a169",
    "need_evidence": "#d69e2e",
    "manual_review": "#718096",
}
STATUS_COLOURS = {"ok": "#38a169", "warning": "#d69e2e", "breach": "#e53e3e"}
FONT = 'font-family="system-ui, sans-serif" font-size="11"'


def _e(text: object) -> str:
    return escape(str(text), quote=True)


def _nice_ceiling(value: float) -> float:
    """Smallest 1/2/5 x 10^k at or above `value`, for an axis that reads well."""
    if value <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 5, 10):
        if step * power >= value:
            return step * power
    return 10 * power


def _count(value: float) -> str:
    return f"{value:g}"


def _svg_open(label: str, width: float, height: float) -> str:
    """The opening tag of every chart: an image role with its label, so screen readers say what it shows."""
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="{_e(label)}" '
        f'width="{width}" height="{height}" viewBox="0 0 {width} {height}">'
    )


def _legend(names: Sequence[str], colours: Mapping[str, str], x: float, y: float) -> list[str]:
    parts = []
    for i, name in enumerate(names):
        top = y + i * 16
        colour = colours.get(name, FALLBACK_COLOUR)
        parts.append(f'<rect x="{x}" y="{top}" width="10" height="10" fill="{_e(colour)}"/>')
        parts.append(f'<text x="{x + 14}" y="{top + 9}" {FONT}>{_e(name)}</text>')
    return parts


def stacked_columns(
    categories: Sequence[str],
    series: Mapping[str, Sequence[float]],
    colours: Mapping[str, str],
    *,
    label: str,
    width: int = 720,
    height: int = 240,
) -> Markup:
    """One column per category (e.g. batch date), stacked by series (e.g. SLA type)."""
    left, right, top, bottom = 40, 170, 10, 28
    plot_w, plot_h = width - left - right, height - top - bottom
    totals = [sum(values[i] for values in series.values()) for i in range(len(categories))]
    y_max = _nice_ceiling(max(totals, default=0))
    slot = plot_w / max(len(categories), 1)
    bar_w = min(slot * 0.7, 48)
    parts = [_svg_open(label, width, height)]
    for tick in range(5):
        value = y_max * tick / 4
        y = top + plot_h - plot_h * tick / 4
        parts.append(f'<line x1="{left}" x2="{left + plot_w}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e2e8f0"/>')
        parts.append(f'<text x="{left - 4}" y="{y + 4:.1f}" text-anchor="end" {FONT}>{_count(value)}</text>')
    for i, category in enumerate(categories):
        x = left + slot * i + (slot - bar_w) / 2
        base = top + plot_h
        for name, values in series.items():
            value = values[i]
            if value <= 0:
                continue
            h = plot_h * value / y_max
            base -= h
            colour = colours.get(name, FALLBACK_COLOUR)
            parts.append(
                f'<rect x="{x:.1f}" y="{base:.1f}" width="{bar_w:.1f}" height="{h:.1f}" fill="{_e(colour)}">'
                f"<title>{_e(category)} · {_e(name)}: {_count(value)}</title></rect>"
            )
        parts.append(
            f'<text x="{x + bar_w / 2:.1f}" y="{height - 10}" text-anchor="middle" {FONT}>{_e(category)}</text>'
        )
    parts += _legend(list(series), colours, left + plot_w + 16, top)
    parts.append("</svg>")
    return Markup("".join(parts))


def stacked_rows(
    rows: Sequence[str],
    series: Mapping[str, Sequence[float]],
    colours: Mapping[str, str],
    *,
    label: str,
    width: int = 720,
) -> Markup:
    """One 100%-wide bar per row (e.g. market), split by series share (e.g. decision)."""
    left, right, top, row_h = 60, 170, 6, 26
    plot_w = width - left - right
    height = max(top * 2 + row_h * len(rows), top * 2 + 16 * len(series))
    parts = [_svg_open(label, width, height)]
    for i, row in enumerate(rows):
        y = top + i * row_h
        total = sum(values[i] for values in series.values())
        parts.append(f'<text x="{left - 6}" y="{y + 15}" text-anchor="end" {FONT}>{_e(row)}</text>')
        x = float(left)
        for name, values in series.items():
            value = values[i]
            if value <= 0 or total <= 0:
                continue
            w = plot_w * value / total
            colour = colours.get(name, FALLBACK_COLOUR)
            parts.append(
                f'<rect x="{x:.1f}" y="{y + 2}" width="{w:.1f}" height="{row_h - 6}" fill="{_e(colour)}">'
                f"<title>{_e(row)} · {_e(name)}: {_count(value)} of {_count(total)} "
                f"({value / total:.0%})</title></rect>"
            )
            x += w
    parts += _legend(list(series), colours, left + plot_w + 16, top)
    parts.append("</svg>")
    return Markup("".join(parts))


def bars(
    labels: Sequence[str],
    values: Sequence[float],
    *,
    label: str,
    value_text: Callable[[float], str],
    max_value: float | None = None,
    colour: str = "#3182ce",
    width: int = 720,
) -> Markup:
    """Horizontal bars with the value printed at the end of each bar."""
    left, right, top, row_h = 260, 70, 4, 20
    plot_w = width - left - right
    height = top * 2 + row_h * len(labels)
    scale = max_value if max_value else max(values, default=0) or 1.0
    parts = [_svg_open(label, width, height)]
    for i, (name, value) in enumerate(zip(labels, values, strict=True)):
        y = top + i * row_h
        w = plot_w * min(value / scale, 1.0)
        parts.append(f'<text x="{left - 6}" y="{y + 13}" text-anchor="end" {FONT}>{_e(name)}</text>')
        parts.append(
            f'<rect x="{left}" y="{y + 3}" width="{w:.1f}" height="{row_h - 6}" fill="{_e(colour)}">'
            f"<title>{_e(name)}: {_e(value_text(value))}</title></rect>"
        )
        parts.append(f'<text x="{left + w + 4:.1f}" y="{y + 13}" {FONT}>{_e(value_text(value))}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))
