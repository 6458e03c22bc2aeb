"""The weekly review-request chart, drawn on the server as inline SVG: no JavaScript, no fonts or files
fetched, so the admin page works offline and under a `default-src 'none'` Content-Security-Policy.

`weekly_chart_svg` is pure: counts in, markup out. Every text it writes is escaped here, which is what
lets the page template insert the result unescaped.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape

from tasks.admin.dashboard import WeekCounts

# (field of WeekCounts, legend label, colour): colour-blind-safe Tableau 10 colours.
SERIES: tuple[tuple[str, str, str], ...] = (
    ("sent", "Sent", "#4e79a7"),
    ("delivered", "Delivered", "#59a14f"),
    ("clicked", "Clicked", "#f28e2b"),
    ("opted_out", "Opted out", "#e15759"),
)

_MARGIN_LEFT = 56
_MARGIN_RIGHT = 16
_MARGIN_TOP = 40
_MARGIN_BOTTOM = 52


def nice_ticks(maximum: int, *, target: int = 5) -> list[int]:
    """Integer y-axis ticks from 0 to at least `maximum`, steps of 1, 2 or 5 times a power of ten."""
    if maximum <= 0:
        return [0, 1]
    raw = maximum / target
    magnitude = 10 ** max(0, math.floor(math.log10(raw))) if raw >= 1 else 1
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)
    top = math.ceil(maximum / step) * step
    return list(range(0, top + 1, step))


def _num(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def weekly_chart_svg(
    weeks: Sequence[WeekCounts],
    *,
    width: int = 1120,
    height: int = 320,
    title: str = "Review requests per week",
) -> str:
    """Grouped bars (sent, delivered, clicked, opted out) per week, with axes, axis titles and a legend."""
    plot_w = width - _MARGIN_LEFT - _MARGIN_RIGHT
    plot_h = height - _MARGIN_TOP - _MARGIN_BOTTOM
    x0, y0 = _MARGIN_LEFT, _MARGIN_TOP + plot_h  # origin of the plot, bottom-left
    maximum = max((getattr(w, field) for w in weeks for field, _, _ in SERIES), default=0)
    ticks = nice_ticks(maximum)
    top = ticks[-1]

    def y(value: int) -> float:
        return y0 - plot_h * value / top

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-labelledby="chart-title" '
        'font-family="system-ui, -apple-system, Segoe UI, Roboto, sans-serif" font-size="12">',
        f'<title id="chart-title">{escape(title)}</title>',
        f'<rect x="0" y="0" width="{width}" height="{height}" fill="#ffffff"/>',
    ]
    # Legend, top right to left.
    legend_x = x0
    out.append('<g class="legend">')
    for field, label, colour in SERIES:
        out.append(
            f'<rect x="{legend_x}" y="12" width="12" height="12" fill="{colour}" data-series="{field}"/>'
            f'<text x="{legend_x + 17}" y="22.5" fill="#333">{escape(label)}</text>'
        )
        legend_x += 17 + 8 * len(label) + 22
    out.append("</g>")
    # Horizontal grid lines and y-axis labels.
    out.append('<g class="y-axis">')
    for tick in ticks:
        ty = _num(y(tick))
        out.append(
            f'<line x1="{x0}" y1="{ty}" x2="{x0 + plot_w}" y2="{ty}" stroke="{"#999" if tick == 0 else "#e5e5e5"}"/>'
            f'<text x="{x0 - 6}" y="{_num(y(tick) + 4)}" text-anchor="end" fill="#555">{tick}</text>'
        )
    mid = _num(_MARGIN_TOP + plot_h / 2)
    out.append(
        f'<text class="axis-title" x="14" y="{mid}" text-anchor="middle" fill="#333" '
        f'transform="rotate(-90 14 {mid})">Review requests</text>'
    )
    out.append("</g>")
    # Bars, one group per week.
    if weeks:
        group_w = plot_w / len(weeks)
        bar_w = group_w * 0.8 / len(SERIES)
        for i, week in enumerate(weeks):
            gx = x0 + i * group_w + group_w * 0.1
            label = f"{week.week_start:%b} {week.week_start.day}"
            out.append(f'<g class="week" data-week="{week.week_start.isoformat()}">')
            for j, (field, name, colour) in enumerate(SERIES):
                value = int(getattr(week, field))
                bar_h = plot_h * value / top
                out.append(
                    f'<rect class="bar" data-series="{field}" data-value="{value}" '
                    f'x="{_num(gx + j * bar_w)}" y="{_num(y0 - bar_h)}" width="{_num(bar_w)}" '
                    f'height="{_num(bar_h)}" fill="{colour}">'
                    f"<title>Week of {escape(label)}: {value} {escape(name.lower())}</title></rect>"
                )
            out.append(
                f'<text x="{_num(x0 + (i + 0.5) * group_w)}" y="{y0 + 16}" text-anchor="middle" '
                f'fill="#555">{escape(label)}</text></g>'
            )
    else:
        out.append(
            f'<text x="{_num(x0 + plot_w / 2)}" y="{_num(_MARGIN_TOP + plot_h / 2)}" text-anchor="middle" '
            'fill="#777">No data yet</text>'
        )
    out.append(
        f'<text class="axis-title" x="{_num(x0 + plot_w / 2)}" y="{height - 10}" text-anchor="middle" '
        'fill="#333">Week starting (Monday, UTC)</text>'
    )
    out.append("</svg>")
    return "".join(out)
