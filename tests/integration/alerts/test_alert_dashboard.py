"""The dashboard's alerts: the banner (every page) and the overview list, filled by the
refresh step from the real `alerts` table with one shared query per tick."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from alert_support import SCHEMAS, Results, app_rows, pipeline

from streamdash.alerts import AlertEvaluator
from streamdash.alerts.reader import AlertReader
from streamdash.dashboard import alert_panels
from streamdash.dashboard.data import DashboardData
from streamdash.dashboard.health import HealthTracker
from streamdash.dashboard.refresh import Refresher, Update
from streamdash.store.reader import ResultReader

LIST = [alert_panels.LIST_ID]


def text(component: Any) -> str:
    return json.dumps(component, default=lambda c: c.to_plotly_json())


@pytest.fixture
def refresher(pg_db: str) -> Iterator[Refresher]:
    spec = pipeline()
    reader, alerts = ResultReader(pg_db), AlertReader(pg_db)
    data = DashboardData(
        {s.view: s for s in SCHEMAS}, reader, HealthTracker(spec, reader), alerts=alerts
    )
    yield Refresher({}, data)
    reader.close()
    alerts.close()


def refresh(refresher: Refresher) -> Update:
    result = refresher.safe_refresh([], [], [], [], [], "5m", LIST)
    assert isinstance(result, Update), result
    return result


def test_no_alerts_no_banner(refresher: Refresher) -> None:
    update = refresh(refresher)
    assert update.banner[1] is False
    assert "No alerts so far" in text(update.alert_lists[0])


def test_open_alerts_raise_the_banner_and_fill_the_list(pg_db: str, refresher: Refresher) -> None:
    results = Results(pg_db)
    results.commit(app_rows((0, "app-1", 0.2, True), (1, "app-1", 0.3, True),
                            (0, "app-2", 0.2, True), (1, "app-2", 0.2, True)))  # fmt: skip
    evaluator = AlertEvaluator(pipeline(), pg_db)
    try:
        evaluator.tick()
        results.commit(app_rows((2, "app-2", 0.0, True), (2, "app-1", 0.3, True)))
        evaluator.tick()
    finally:
        evaluator.close()
        results.close()
    children, is_open, color = refresh(refresher).banner
    assert (is_open, color) == (True, "warning")
    banner = text(children)
    assert "1 open alert" in banner and "error rate 30.0% on app-1" in banner
    assert "app-2" not in banner  # resolved: only in the list
    listed = text(refresh(refresher).alert_lists[0])
    assert "application_id=app-1" in listed and "application_id=app-2" in listed
    assert listed.index("app-1") < listed.index("app-2")  # open ones first
    assert refresher.data.queries == 1  # the second refresh came from the shared cache


def test_banner_is_red_for_critical_and_caps_the_list() -> None:
    alerts = [
        {"rule": f"r{i}", "state": "open", "severity": "critical" if i == 0 else "info",
         "key": {"k": i}, "message": f"m{i}"}
        for i in range(7)
    ]  # fmt: skip
    children, is_open, color = alert_panels.banner(alerts)
    assert (is_open, color) == (True, "danger")
    assert "7 open alerts" in text(children) and "and 2 more" in text(children)
