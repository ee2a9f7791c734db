"""Bar charts as plain geometry for server-rendered SVG (templates/_charts.html).

No script and no inline style: the CSP allows neither, and the page must read
without JavaScript. Colours come from classes in style.css; every chart sits
next to a table with the same numbers (screen readers read the table)."""

from __future__ import annotations

from dataclasses import dataclass, field

from modsys.reads.export.transparency import Section, Series

WIDTH, HEIGHT = 720, 240
LEFT, RIGHT, TOP, BOTTOM = 48, 8, 12, 28
PALETTE = 8  # style.css defines .s0 ... .s7


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    w: float
    h: float
    cls: str
    label: str  # tooltip: "2026-03, ban: 4"


@dataclass
class Chart:
    id: str
    title: str
    width: int = WIDTH
    height: int = HEIGHT
    bars: list[Bar] = field(default_factory=list)
    y_ticks: list[tuple[float, str]] = field(default_factory=list)
    x_labels: list[tuple[float, str]] = field(default_factory=list)
    legend: list[tuple[str, str]] = field(default_factory=list)
    baseline: float = HEIGHT - BOTTOM


def series_label(s: Series) -> str:
    return f"{s.metric.replace('_', ' ')}{': ' + s.key if s.key else ''}"


def format_value(value: float | int | None, unit: str) -> str:
    """How a number reads on the page (the CSV and JSON carry it raw)."""
    if value is None:
        return "–"
    if unit == "share":
        return f"{value * 100:.1f} %"
    if unit == "hours":
        return f"{value:.1f}"
    return str(int(value))


def plotted(section: Section) -> list[Series]:
    unit = {"bars": "count"}.get(section.chart, section.chart)
    return [s for s in section.series if s.unit == unit]


def bar_chart(section: Section, months: list[str]) -> Chart:
    series = plotted(section)
    chart = Chart(id=f"chart-{section.id}", title=section.title)
    chart.legend = [(f"s{i % PALETTE}", series_label(s)) for i, s in enumerate(series)]
    values = [v for s in series for v in s.values.values() if v is not None]
    top = 1.0 if section.chart == "share" else _nice_max(max(values, default=0))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_w / max(len(months), 1)
    bar_w = (slot * 0.8) / max(len(series), 1)
    for t in range(5):
        v = top * t / 4
        chart.y_ticks.append((TOP + plot_h * (1 - t / 4), format_value(v, "share") if section.chart == "share"
                              else (f"{v:g}")))
    unit = series[0].unit if series else "count"
    for mi, month in enumerate(months):
        x0 = LEFT + mi * slot + slot * 0.1
        chart.x_labels.append((LEFT + mi * slot + slot / 2, month[2:]))  # "26-03": twelve fit on a phone
        for si, s in enumerate(series):
            v = s.values.get(month)
            if not v:
                continue
            h = plot_h * min(v / top, 1.0)
            chart.bars.append(Bar(round(x0 + si * bar_w, 2), round(TOP + plot_h - h, 2), round(bar_w, 2), round(h, 2),
                                  f"s{si % PALETTE}", f"{month}, {series_label(s)}: {format_value(v, unit)}"))
    return chart


def _nice_max(v: float) -> float:
    """The smallest 1, 2, 2.5 or 5 x 10^n at or above v (at least 4, so ticks are whole)."""
    if v <= 4:
        return 4
    magnitude = 10 ** (len(str(int(v))) - 1)
    for step in (1, 2, 2.5, 5, 10):
        if step * magnitude >= v:
            return step * magnitude
    return 10 * magnitude
