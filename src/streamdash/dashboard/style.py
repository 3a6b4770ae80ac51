"""The common look of every chart: dark template, transparent background (the card shows
through), compact margins, legend placement, percent axes."""

from __future__ import annotations

import math

from streamdash.dashboard import frames
from streamdash.dashboard.libs import Figure
from streamdash.spec.dashboards import DashboardPanel


def base(panel: DashboardPanel, figure: Figure) -> Figure:
    # the dark template is attached when the figure is sent (`libs.themed`), not here
    figure.update_layout(
        margin={"l": 56, "r": 16, "t": 16, "b": 40},
        height=300,
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.0, "x": 0},
        paper_bgcolor="rgba(0,0,0,0)",
        plot_bgcolor="rgba(0,0,0,0)",
        hovermode="closest",
        # Keeps zoom and hidden traces while new data arrives.
        uirevision=f"{panel.view}:{panel.heading}",
    )
    if frames.is_percent(panel):
        figure.update_yaxes(tickformat=".0%")
    if len(figure.data) > 6:  # a long legend goes below the plot instead of squashing it
        rows = math.ceil(len(figure.data) / 3)
        figure.update_layout(
            legend={"orientation": "h", "yanchor": "top", "y": -0.3, "x": 0},
            height=330 + 22 * rows,
            margin={"b": 60 + 22 * rows},
        )
    return figure
