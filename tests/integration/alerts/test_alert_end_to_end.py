"""End to end: result rows committed through `PostgresSink` -> the evaluator opens an
alert in the `alerts` table -> `GET /v1/alerts` of the API (the ingest app with the alerts
router mounted) and `streamdash_alerts_open` on its /metrics."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from alert_support import Results, app_rows, pipeline
from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families

from streamdash.alerts import AlertEvaluator
from streamdash.alerts.api import alerts_router
from streamdash.alerts.metrics import AlertsCollector
from streamdash.alerts.reader import AlertReader
from streamdash.ingest.app import create_app
from streamdash.log.sqlite import SqliteLog


def open_gauge(text: str) -> dict[tuple[str, str], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "streamdash_alerts_open":
                out[(sample.labels["rule"], sample.labels["severity"])] = sample.value
    return out


class Api:
    """Requests to the ASGI app in process (httpx's ASGI transport: no server, no mocks)."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app

    def get(self, path: str, params: dict[str, str] | None = None) -> httpx.Response:
        async def send() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app, raise_app_exceptions=True)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
                return await client.get(path, params=params)

        return asyncio.run(send())


@pytest.fixture
def api(pg_db: str, tmp_path: Path) -> Iterator[Api]:
    spec = pipeline()
    reader = AlertReader(pg_db)
    log = SqliteLog(tmp_path / "log")
    app = create_app(
        spec, log, token=None, reader=None,
        extra_collectors=[AlertsCollector.for_pipeline(spec, reader)],
    )  # fmt: skip
    # The wiring the API process needs: the router next to the ingest routes.
    app.include_router(alerts_router(reader))
    yield Api(app)
    reader.close()
    log.close()


def test_rows_to_alert_to_api_and_metrics(pg_db: str, api: Api) -> None:
    assert api.get("/v1/alerts").json() == []  # no evaluator yet: no table, no error
    assert open_gauge(api.get("/metrics").text)[("high_error_rate", "warning")] == 0

    results = Results(pg_db)
    results.commit(app_rows((0, "app-1", 0.2, True), (0, "app-2", 0.0, True)))
    results.commit(app_rows((1, "app-1", 0.3, True), (1, "app-2", 0.4, True)))
    evaluator = AlertEvaluator(pipeline(), pg_db)
    try:
        evaluator.tick()
        [alert] = api.get("/v1/alerts", params={"state": "open"}).json()
        assert alert["rule"] == "high_error_rate"
        assert alert["key"] == {"application_id": "app-1"}
        assert alert["severity"] == "warning" and alert["value"] == 0.3
        assert alert["opened_at"].endswith("Z") and alert["resolved_at"] is None
        assert alert["message"] == "error rate 30.0% on app-1"
        gauge = open_gauge(api.get("/metrics").text)
        assert gauge[("high_error_rate", "warning")] == 1
        assert gauge[("click_volume", "critical")] == 0

        results.commit(app_rows((2, "app-1", 0.0, True), (2, "app-2", 0.5, True)))
        evaluator.tick()
    finally:
        evaluator.close()
        results.close()
    everything = api.get("/v1/alerts").json()
    assert [(a["key"]["application_id"], a["state"]) for a in everything] == [
        ("app-2", "open"), ("app-1", "resolved"),
    ]  # fmt: skip
    assert len(api.get("/v1/alerts", params={"state": "resolved", "limit": "5"}).json()) == 1
    assert open_gauge(api.get("/metrics").text)[("high_error_rate", "warning")] == 1


@pytest.mark.parametrize("query", [{"state": "closed"}, {"limit": "0"}, {"limit": "x"}])
def test_bad_parameters_are_422(api: Api, query: dict[str, str]) -> None:
    answer = api.get("/v1/alerts", params=query)
    assert answer.status_code == 422
    assert answer.json()["error"] == "invalid_parameter"
