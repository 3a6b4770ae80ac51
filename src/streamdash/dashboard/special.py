"""The two figures that are not plain x/y charts: gauges (one dial per group) and the
location track (positions on plain lon/lat axes, no map tiles, so it works offline)."""

from __future__ import annotations

import math
from collections.abc import Sequence

from streamdash.dashboard import frames, style
from streamdash.dashboard.frames import Row
from streamdash.dashboard.libs import Figure, go
from streamdash.spec.dashboards import DashboardPanel


def track(panel: DashboardPanel, rows: Sequence[Row]) -> Figure:
    """`map`: positions as a line on plain lon/lat axes; no map tiles, so it works offline.
    The y axis is scaled by 1/cos(latitude) so that distances look right."""
    assert panel.x is not None
    lon, lat = panel.x, panel.y[0]
    time = frames.time_column(rows)
    figure = go.Figure()
    latitudes: list[float] = []
    for group, members in frames.groups(rows, panel.by):
        ordered = sorted(members, key=lambda r: frames.sort_key(r.get(time)))
        points = [(frames.number(r.get(lon)), frames.number(r.get(lat)), r.get(time))
                  for r in ordered]  # fmt: skip
        kept = [p for p in points if p[0] is not None and p[1] is not None]
        latitudes += [p[1] for p in kept if p[1] is not None]
        figure.add_scatter(
            x=[p[0] for p in kept],
            y=[p[1] for p in kept],
            text=[frames.plot_time(p[2]) for p in kept],
            mode="lines+markers",
            marker={"size": 6},
            name=frames.short(group) if group is not None else "track",
            hovertemplate="%{text}<br>lat %{y:.5f}, lon %{x:.5f}<extra>%{fullData.name}</extra>",
        )
    if latitudes:
        ratio = 1 / max(math.cos(math.radians(sum(latitudes) / len(latitudes))), 0.01)
        figure.update_yaxes(scaleanchor="x", scaleratio=ratio)
    figure.update_xaxes(title_text="longitude (°)", tickformat=".4f")
    figure.update_yaxes(title_text="latitude (°)", tickformat=".4f")
    return style.base(panel, figure)


def gauge(panel: DashboardPanel, rows: Sequence[Row]) -> Figure:
    """One gauge per group (e.g. per application): its latest value by default."""
    assert panel.value is not None
    groups = [panel.by] if panel.by else []
    reduced = frames.reduce(rows, groups, panel.value, panel.reducer)
    keys = sorted(reduced, key=lambda k: frames.sort_key(k[0] if k else None))
    percent = frames.is_percent(panel)
    seen = [v for v in reduced.values() if v is not None]
    low, high = panel.range or (0.0, 1.0 if percent else max([*seen, 1.0]) * 1.2)
    figure = go.Figure()
    for i, key in enumerate(keys):
        figure.add_indicator(
            mode="gauge+number",
            value=reduced[key],
            title={"text": frames.short(key[0]) if key else frames.label(panel.value)},
            number={
                "valueformat": ".1%" if percent else ",.4~g",
                "suffix": "" if percent or not panel.unit else f" {panel.unit}",
            },
            gauge={
                "axis": {
                    "range": [low, high],
                    "tickformat": ".0%" if percent else None,
                    "nticks": 5,
                    "tickfont": {"size": 10},
                },
                "bar": {"color": "#3498db"},
                "steps": [
                    {"range": [low, low + (high - low) * 0.5], "color": "rgba(0,188,140,0.25)"},
                    {"range": [low + (high - low) * 0.5, high], "color": "rgba(231,76,60,0.25)"},
                ],
            },
            # Gaps between gauges keep their end labels (0 %, max) from running together.
            domain={"x": [i / len(keys) + 0.03, (i + 1) / len(keys) - 0.03], "y": [0, 1]},
        )
    return style.base(panel, figure).update_layout(height=220, margin={"t": 40, "b": 8})
