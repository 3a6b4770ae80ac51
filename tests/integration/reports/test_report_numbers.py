"""The numbers of both reports, run by the DuckDB engine on result tables the real engine
wrote to a real PostgreSQL, against an independent computation from the raw events (plain
Python over the generated events: counts, the demographics join, window p95s)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from report_support import (
    CampaignTotals,
    ReportData,
    app_expectations,
    at,
    campaign_expectations,
    lower_quantile,
    rolled_up,
)

from streamdash.reports import Period, build_report
from streamdash.reports.app_health import APP_HEALTH
from streamdash.reports.build import Report
from streamdash.reports.campaigns import CAMPAIGNS
from streamdash.reports.duckdb_engine import DuckDBEngine

S = 1_000_000
SKETCH = 0.0101
"""Window p95s are DDSketch values within 1 % of the exact lower quantile."""
PART = Period(at(5), at(15))
"""A period inside the data: windows at its edges are left out, not cut."""
ALL = Period(at(-60), at(60))


def _report(data: ReportData, definition: Any, period: Period) -> Report:
    engine = DuckDBEngine(data.url, period)
    try:
        return build_report(definition, engine, period)
    finally:
        engine.close()


def _rows(report: Report, section: str) -> list[dict[str, Any]]:
    return report.result(section).rows.to_pylist()


@pytest.mark.parametrize("period", [PART, ALL], ids=["part", "all"])
def test_app_health_per_application_equals_the_raw_events(
    report_db: ReportData, period: Period
) -> None:
    expected = app_expectations(report_db.events["app_logs"], period.since, period.until)
    report = _report(report_db, APP_HEALTH, period)
    rows = {row["application_id"]: row for row in _rows(report, "applications")}
    assert sorted(rows) == sorted(expected) == [f"app-{i}" for i in range(1, 6)]
    for app, want in expected.items():
        got = rows[app]
        assert (got["requests"], got["errors"]) == (want.requests, want.errors), app
        assert got["error_rate"] == pytest.approx(want.error_rate, rel=1e-12)
        assert got["avg_latency_ms"] == pytest.approx(want.latency_sum / want.requests, rel=1e-9)
        assert got["windows"] == len(want.windows)
        # the documented derivations, recomputed from exact window quantiles
        assert got["p95_latency_ms"] == pytest.approx(want.p95_estimate, rel=SKETCH)
        assert got["max_window_p95_ms"] == pytest.approx(want.max_window_p95, rel=SKETCH)
        # ... and what they promise about the period's true p95
        true_p95 = lower_quantile(want.latencies, 0.95)
        assert true_p95 <= got["max_window_p95_ms"] * (1 + SKETCH), app
    [overall] = _rows(report, "overall")
    assert overall["requests"] == sum(e.requests for e in expected.values())
    assert overall["errors"] == sum(e.errors for e in expected.values())
    assert report.coverage.rows == sum(len(e.windows) for e in expected.values())
    if period is ALL:
        # not final: the windows that end after the watermark (latest event - 10 s lateness)
        watermark_us = max(e["timestamp"] for e in report_db.events["app_logs"]) * 1000 - 10 * S
        open_rows = sum(
            start + 10 * S > watermark_us for e in expected.values() for start in e.windows
        )
        assert report.coverage.open_rows == open_rows > 0
    else:
        assert report.coverage.open_rows == 0
        assert (report.coverage.first_window, report.coverage.last_window_end) == (at(5), at(15))


def test_the_worst_windows_are_ranked_as_documented(report_db: ReportData) -> None:
    expected = app_expectations(report_db.events["app_logs"], PART.since, PART.until)
    windows = [
        (app, start, events)
        for app, want in expected.items()
        for start, events in want.windows.items()
    ]
    report = _report(report_db, APP_HEALTH, PART)

    def key(window: tuple[str, int, list[dict[str, Any]]]) -> tuple[float, int, int, str]:
        app, start, events = window
        errors = sum(e["status_code"] >= 500 for e in events)
        return (-errors / len(events), -errors, start, app)

    by_errors = sorted(windows, key=key)[: APP_HEALTH.worst_limit]
    got = _rows(report, "worst-error-windows")
    assert [(r["application_id"], _us(r["window_start"])) for r in got] == [
        (app, start) for app, start, _ in by_errors
    ]
    assert [r["request_count"] for r in got] == [len(events) for _, _, events in by_errors]

    # by p95: sketch values order windows whose p95s are within 1 % of each other freely, so
    # check the list's promise: descending, each value right, nobody clearly worse left out
    exact = {
        (app, start): lower_quantile([e["latency_ms"] for e in ev], 0.95)
        for app, start, ev in windows
    }
    slow = _rows(report, "worst-latency-windows")
    values = [r["p95_latency_ms"] for r in slow]
    assert values == sorted(values, reverse=True) and len(values) == APP_HEALTH.worst_limit
    listed = {(r["application_id"], _us(r["window_start"])) for r in slow}
    for row in slow:
        window = (row["application_id"], _us(row["window_start"]))
        assert row["p95_latency_ms"] == pytest.approx(exact[window], rel=SKETCH)
    cut = values[-1] * (1 + 2 * SKETCH)
    assert {w for w, p95 in exact.items() if p95 > cut} <= listed


def _us(moment: datetime) -> int:
    return round(moment.timestamp() * 1_000_000)


def _check_totals(got: dict[str, Any], want: CampaignTotals) -> None:
    assert (got["clicks"], got["purchases"]) == (want.clicks, want.purchases)
    assert got["revenue"] == pytest.approx(want.revenue, rel=1e-9)
    assert got["conversion_rate"] == pytest.approx(want.purchases / want.clicks, rel=1e-12)
    if want.purchases:
        per_purchase = want.revenue / want.purchases
        assert got["revenue_per_purchase"] == pytest.approx(per_purchase, rel=1e-9)
    else:
        assert got["revenue_per_purchase"] is None


@pytest.mark.parametrize("period", [PART, ALL], ids=["part", "all"])
def test_campaigns_equal_the_raw_events(report_db: ReportData, period: Period) -> None:
    expected = campaign_expectations(report_db.events["user_events"], period.since, period.until)
    report = _report(report_db, CAMPAIGNS, period)

    pairs = {(r["campaign_id"], r["country"]): r for r in _rows(report, "campaign-country")}
    assert set(pairs) == set(expected)
    for key, want in expected.items():
        _check_totals(pairs[key], want)
    for section, by in (("campaigns", 0), ("countries", 1)):
        rows = _rows(report, section)
        want_by = rolled_up(expected, by)
        column = "campaign_id" if by == 0 else "country"
        assert {r[column] for r in rows} == set(want_by)
        for row in rows:
            _check_totals(row, want_by[row[column]])
        revenues = [r["revenue"] for r in rows]
        assert revenues == sorted(revenues, reverse=True)  # best first
    assert sum(r["revenue"] for r in _rows(report, "trend")) == pytest.approx(
        sum(t.revenue for t in expected.values()), rel=1e-9
    )
