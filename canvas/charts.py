"""Server-drawn SVG charts: no script, no CDN, so pages work offline."""

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

SERIES = (("synced", "#137a4b", "Synced"), ("pending", "#c98a00", "Pending"),
          ("errored", "#b42318", "Errored"))
WIDTH, HEIGHT = 720, 220
LEFT, RIGHT, TOP, BOTTOM = 56, 12, 14, 46


def _nice_max(value: int) -> int:
    if value <= 5:
        return 5
    magnitude = 10 ** (len(str(int(value))) - 1)
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * magnitude:
            return int(step * magnitude)
    return value


# How a bucket's time reads on the axis and in its hover text.
TIME_FORMATS = {"minute": "%H:%M", "hour": "%b %d %H:%M", "day": "%b %d"}


def sync_chart_svg(series: list[dict], *, unit: str = "minute") -> SafeString:
    """Cumulative synced, pending and errored users per bucket, as an inline SVG. Hovering
    (or focusing) a bucket shows its three values."""
    if not series or not any(point[name] for point in series for name, _, _ in SERIES):
        return mark_safe('<p class="muted">No users reached this step in this time range.</p>')
    time_format = TIME_FORMATS[unit]
    top = _nice_max(max(max(point[name] for name, _, _ in SERIES) for point in series))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    start, end = series[0]["at"], series[-1]["at"]
    span = max((end - start).total_seconds(), 60.0)

    def x(point) -> float:
        return LEFT + plot_w * (point["at"] - start).total_seconds() / span

    def y(value: int) -> float:
        return TOP + plot_h * (1 - value / top)

    parts = [f'<svg viewBox="0 0 {WIDTH} {HEIGHT}" width="100%" role="img" '
             'aria-label="Synced, pending and errored users over time" '
             'style="max-width:760px;font:11px system-ui,sans-serif">']
    for i in range(6):
        value = top * i // 5
        parts.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y(value):.1f}" '
                     f'y2="{y(value):.1f}" stroke="#e3e6ec"/>'
                     f'<text x="{LEFT - 6}" y="{y(value) + 4:.1f}" text-anchor="end" '
                     f'fill="#6b7385">{value:,}</text>')
    for point, anchor in ((series[0], "start"), (series[len(series) // 2], "middle"),
                          (series[-1], "end")):
        parts.append(f'<text x="{x(point):.1f}" y="{TOP + plot_h + 15}" text-anchor="{anchor}" '
                     f'fill="#6b7385">{point["at"]:{time_format}} UTC</text>')
    for name, colour, _label in SERIES:
        points = " ".join(f"{x(p):.1f},{y(p[name]):.1f}" for p in series)
        parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" '
                     f'points="{points}"/>')
    # One transparent column per bucket carries the bucket's figures as its hover title.
    width = plot_w / max(len(series) - 1, 1)
    for point in series:
        figures = ", ".join(f"{label.lower()} {point[name]:,}" for name, _, label in SERIES)
        parts.append(f'<rect class="bucket" x="{x(point) - width / 2:.1f}" y="{TOP}" '
                     f'width="{width:.1f}" height="{plot_h}" fill="transparent">'
                     f'<title>{point["at"]:{time_format}} UTC: {figures}</title></rect>')
    legend_x = LEFT
    for name, colour, label in SERIES:
        parts.append(f'<rect x="{legend_x}" y="{HEIGHT - 13}" width="10" height="10" '
                     f'fill="{colour}"/><text x="{legend_x + 14}" y="{HEIGHT - 4}" '
                     f'fill="#1d2330">{escape(label)} {series[-1][name]:,}</text>')
        legend_x += 130
    parts.append("</svg>")
    return mark_safe("".join(parts))
