"""Third-party modules without type hints, imported in this one place so that the rest of
the package stays `mypy --strict` clean without an ignore on every import. Their objects
are `Any` to the type checker; `Figure` names a Plotly figure in signatures."""

from __future__ import annotations

from typing import Any, TypeAlias

import dash_bootstrap_components as dbc  # type: ignore[import-untyped]
import plotly.graph_objects as go  # type: ignore[import-untyped]
import plotly.io as pio  # type: ignore[import-untyped]
import plotly.offline  # type: ignore[import-untyped]
from dash_bootstrap_templates import read_template  # type: ignore[import-untyped]

Figure: TypeAlias = Any

TEMPLATE = "darkly"
"""The dash-bootstrap-templates figure template matching the Bootswatch DARKLY CSS."""


def figure_template() -> str:
    """The name of the figure template, registered with plotly on first use (plotly's
    template registry is process-wide; registering does not change its default)."""
    if TEMPLATE not in pio.templates:
        read_template(TEMPLATE)
    return TEMPLATE


def plotly_js() -> str:
    """The plotly.js bundle shipped in the plotly package (for self-contained HTML files)."""
    return str(plotly.offline.get_plotlyjs())


__all__ = ["TEMPLATE", "Figure", "dbc", "figure_template", "go", "pio", "plotly_js"]
