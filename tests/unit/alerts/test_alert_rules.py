"""Alert rules in the spec: typed parsing and every cross-check, one mistake at a time."""

from __future__ import annotations

from typing import Any

import pytest

from streamdash.spec.alerts import AlertRule, alert_problems, parse_alerts, parse_rule
from streamdash.spec.loader import load_builtin
from streamdash.spec.models import Pipeline

BASE: dict[str, Any] = {
    "streams": {
        "logs": {
            "time": {"field": "ts", "unit": "ms"},
            "schema": {"ts": "int64", "app": "string", "region": "string", "status": "int32"},
        }
    },
    "views": {
        "per_app": {
            "from": "logs",
            "window": {"tumbling": "10s"},
            "group_by": ["app", "region"],
            "metrics": {"n": "count()", "error_rate": "avg(CASE WHEN status >= 500 THEN 1.0 END)"},
        },
        "totals": {"from": "logs", "group_by": ["app"], "metrics": {"n": "count()"}},
    },
}


def problems(**rule: Any) -> list[tuple[str, str]]:
    return alert_problems(Pipeline.model_validate({**BASE, "alerts": {"r": rule}}))


def paths(**rule: Any) -> list[str]:
    return [path for path, _ in problems(**rule)]


def test_a_complete_rule_parses_to_typed_fields() -> None:
    rule = parse_rule(
        {
            "view": "per_app",
            "when": "error_rate > 0.05",
            "for": "2 windows",
            "by": "app",
            "severity": "critical",
            "message": "{error_rate:.1%} on {app}",
            "webhook": "https://hooks.example.com/x?token=1",
        }
    )
    assert rule.window_count() == 2
    assert rule.by == ["app"]
    assert rule.severity == "critical"


@pytest.mark.parametrize(
    ("text", "windows", "duration_us"),
    [("1 window", 1, None), ("3 windows", 3, None), (2, 2, None), ("30s", None, 30_000_000),
     ("1min", None, 60_000_000)],
)  # fmt: skip
def test_for_is_windows_or_a_duration(
    text: object, windows: int | None, duration_us: int | None
) -> None:
    rule = parse_rule({"view": "v", "when": "x > 1", "for": text})
    assert rule.for_ is not None
    assert (rule.for_.windows, rule.for_.duration_us) == (windows, duration_us)


def test_defaults_one_window_no_duration_and_the_views_keys() -> None:
    pipeline = Pipeline.model_validate(
        {**BASE, "alerts": {"r": {"view": "per_app", "when": "n > 1"}}}
    )
    rule = parse_alerts(pipeline)["r"]
    assert isinstance(rule, AlertRule)
    assert (rule.window_count(), rule.duration_us()) == (1, 0)
    assert rule.keys(pipeline.views["per_app"]) == ["app", "region"]


def test_a_valid_rule_has_no_problems() -> None:
    assert problems(view="per_app", when="error_rate > 0.05 AND n >= 10", for_="2 windows") == [
        ("alerts.r.for_", "Extra inputs are not permitted")
    ]  # the YAML key is `for`, not `for_`
    assert problems(view="per_app", when="error_rate > 0.05", **{"for": "2 windows"}) == []


def test_unknown_view() -> None:
    found = problems(view="per_ap", when="n > 1")
    assert found[0][0] == "alerts.r.view" and "per_app" in found[0][1]


def test_when_must_parse_and_read_only_the_views_columns() -> None:
    assert paths(view="per_app", when="n >") == ["alerts.r.when"]
    found = problems(view="per_app", when="status >= 500")
    assert found[0][0] == "alerts.r.when" and "unknown column 'status'" in found[0][1]
    assert paths(view="per_app", when="(SELECT 1) > 0") == ["alerts.r.when"]


def test_by_must_name_keys_of_the_view() -> None:
    assert paths(view="per_app", when="sum(n) > 1", by=["country"]) == ["alerts.r.by[0]"]


def test_coarser_by_needs_an_aggregating_when() -> None:
    assert paths(view="per_app", when="sum(n) > 100", by=["app"]) == []
    found = problems(view="per_app", when="n > 100", by=["app"])
    assert [p for p, _ in found] == ["alerts.r.when"]
    assert "sum(n)" in found[0][1]


def test_for_must_fit_the_kind_of_view() -> None:
    assert paths(view="totals", when="n > 1", **{"for": "2 windows"}) == ["alerts.r.for"]
    assert paths(view="per_app", when="n > 1", **{"for": "30s"}) == ["alerts.r.for"]
    assert paths(view="totals", when="n > 1", **{"for": "30s"}) == []
    assert paths(view="per_app", when="n > 1", **{"for": "often"}) == ["alerts.r.for"]


def test_message_placeholders_must_exist() -> None:
    assert paths(view="per_app", when="n > 1", message="{n} on {app} {value} {rule}") == []
    found = problems(view="per_app", when="n > 1", message="{error_rte:.1%}")
    assert found[0][0] == "alerts.r.message" and "error_rte" in found[0][1]
    # an aggregating rule has no row columns to show, only its keys, window and value
    assert paths(view="per_app", when="sum(n) > 1", by=["app"], message="{value} {app}") == []
    assert paths(view="per_app", when="sum(n) > 1", by=["app"], message="{n}") == [
        "alerts.r.message"
    ]
    assert paths(view="per_app", when="n > 1", message="{unclosed") == ["alerts.r.message"]


def test_severity_and_webhook_are_checked_without_echoing_the_url() -> None:
    assert paths(view="per_app", when="n > 1", severity="fatal") == ["alerts.r.severity"]
    found = problems(view="per_app", when="n > 1", webhook="ftp://x/secret-token")
    assert [p for p, _ in found] == ["alerts.r.webhook"]
    assert "secret-token" not in found[0][1]
    assert paths(view="per_app", when="n > 1", webhook="env:ALERT_HOOK") == []
    assert paths(view="per_app", when="n > 1", webhook="env:1bad") == ["alerts.r.webhook"]


def test_unknown_keys_are_errors() -> None:
    assert paths(view="per_app", when="n > 1", wen="x") == ["alerts.r.wen"]


def test_a_view_may_not_write_the_alerts_table() -> None:
    spec = {**BASE, "views": {**BASE["views"], "alerts": BASE["views"]["totals"]}}
    pipeline = Pipeline.model_validate(
        {**spec, "alerts": {"r": {"view": "per_app", "when": "n > 1"}}}
    )
    assert [p for p, _ in alert_problems(pipeline)] == ["views.alerts"]


def test_the_builtin_rules_are_valid() -> None:
    pipeline = load_builtin()
    assert alert_problems(pipeline) == []
    assert {"high_error_rate", "high_interaction_volume"} <= set(parse_alerts(pipeline))
