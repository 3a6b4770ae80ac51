"""The typed `dashboards:` section: every problem reported with its YAML path."""

from __future__ import annotations

from typing import Any

import pytest

from streamdash.spec.dashboards import DashboardPanel, dashboard_problems, parse_dashboards
from streamdash.spec.loader import BUILTIN_STREAMS, load_builtin
from streamdash.spec.models import Pipeline


def _pipeline(*panels: dict[str, Any], stream: str = "app_logs") -> Pipeline:
    base = load_builtin("app_logs", "interactions")
    return base.model_copy(update={"dashboards": {stream: list(panels)}})


def test_builtin_dashboards_are_valid_and_cover_every_stream() -> None:
    pipeline = load_builtin(*BUILTIN_STREAMS)
    assert dashboard_problems(pipeline) == []
    pages = parse_dashboards(pipeline)
    assert set(pages) == set(BUILTIN_STREAMS)
    kinds = {name: {p.panel for p in panels} for name, panels in pages.items()}
    assert {"gauge", "line", "bar"} <= kinds["app_logs"]
    assert {"line", "map", "filter"} <= kinds["sensor"]
    assert {"heatmap", "line", "table"} <= kinds["user_events"]
    assert {"table", "line"} <= kinds["interactions"]
    assert {"stat", "histogram", "scatter"} <= kinds["users"]


def test_a_single_y_column_may_be_a_plain_string() -> None:
    panel = DashboardPanel.model_validate({"panel": "line", "view": "v", "y": "a"})
    assert panel.y == ["a"]


def test_unknown_view_is_reported_with_suggestions() -> None:
    problems = dashboard_problems(_pipeline({"panel": "line", "view": "nope", "y": "x"}))
    assert problems == [
        (
            "dashboards.app_logs[0].view",
            "unknown view 'nope'; expected one of: application_metrics, interactions_per_minute, "
            "item_aggregations, user_aggregations",
        )
    ]


def test_every_unknown_column_is_reported_at_its_field() -> None:
    problems = dashboard_problems(
        _pipeline(
            {"panel": "line", "view": "application_metrics", "y": ["error_rate", "bogus"]},
            {"panel": "table", "view": "user_aggregations", "sort": "-nope", "where": {"z": 1}},
        )
    )
    paths = [path for path, _ in problems]
    assert paths == [
        "dashboards.app_logs[0].y",
        "dashboards.app_logs[1].where",
        "dashboards.app_logs[1].sort",
    ]
    assert "has no column 'bogus'" in problems[0][1]
    assert "window_start" in problems[0][1]  # the message lists the columns there are


def test_required_fields_per_panel_type() -> None:
    problems = dashboard_problems(
        _pipeline(
            {"panel": "gauge", "view": "application_metrics"},
            {"panel": "heatmap", "view": "application_metrics", "x": "application_id"},
            {
                "panel": "scatter",
                "view": "application_metrics",
                "x": "error_rate",
                "y": ["request_count", "error_count"],
            },
        )
    )
    assert ("dashboards.app_logs[0].value", "a gauge panel needs `value`") in problems
    assert ("dashboards.app_logs[1].y", "a heatmap panel needs `y`") in problems
    assert ("dashboards.app_logs[1].value", "a heatmap panel needs `value`") in problems
    assert ("dashboards.app_logs[2].y", "a scatter panel takes one `y` column") in problems


def test_a_line_over_a_running_view_needs_an_x() -> None:
    problems = dashboard_problems(
        _pipeline({"panel": "line", "view": "user_aggregations", "y": "total_interactions"})
    )
    assert [path for path, _ in problems] == ["dashboards.app_logs[0].x"]


def test_structural_errors_are_problems_not_exceptions() -> None:
    problems = dashboard_problems(
        _pipeline(
            {"panel": "pie", "view": "application_metrics"},
            {"panel": "bar", "view": "application_metrics", "y": "error_rate", "colour": "x"},
        )
    )
    assert problems[0][0] == "dashboards.app_logs[0].panel"
    assert problems[1] == ("dashboards.app_logs[1].colour", "Extra inputs are not permitted")


def test_a_dashboard_must_belong_to_a_stream() -> None:
    problems = dashboard_problems(
        _pipeline({"panel": "bar", "view": "application_metrics", "y": "error_rate"}, stream="x")
    )
    assert problems == [
        ("dashboards.x", "unknown stream 'x'; expected one of: app_logs, interactions")
    ]


@pytest.mark.parametrize("width", [0, 13])
def test_width_is_a_bootstrap_column_count(width: int) -> None:
    problems = dashboard_problems(
        _pipeline(
            {"panel": "bar", "view": "application_metrics", "y": "error_rate", "width": width}
        )
    )
    assert [path for path, _ in problems] == ["dashboards.app_logs[0].width"]
