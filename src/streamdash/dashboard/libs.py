"""Third-party modules without type hints, imported in this one place so that the rest of
the package stays `mypy --strict` clean without an ignore on every import. Their objects
are `Any` to the type checker; `Figure` names a Plotly figure in signatures."""

from __future__ import annotations

import functools
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


@functools.cache
def _template_json() -> dict[str, Any]:
    template: dict[str, Any] = pio.templates[figure_template()].to_plotly_json()
    return template


def themed(figure: Figure) -> dict[str, Any]:
    """`figure` as the JSON-ready dict Dash sends, with the dark template attached.

    The builders make figures without a template and it is attached here, as one shared
    plain dict: setting `layout.template` on a Plotly figure validates and deep-copies the
    whole template, which measured 30-75 ms per figure — most of the cost of a page refresh.
    """
    plain: dict[str, Any] = figure.to_plotly_json()
    plain.setdefault("layout", {})["template"] = _template_json()
    return plain


__all__ = ["TEMPLATE", "Figure", "dbc", "figure_template", "go", "pio", "plotly_js", "themed"]
