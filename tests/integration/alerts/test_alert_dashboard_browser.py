"""The alerts banner and list in a real Chromium (Debian package, driven by playwright):
an alert the evaluator opens appears on the overview and on a stream page without a
reload, with no console errors."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator

import pytest
from alert_support import SCHEMAS, Results, app_rows, pipeline
from playwright.sync_api import expect, sync_playwright

from streamdash.alerts import AlertEvaluator
from streamdash.alerts.reader import AlertReader
from streamdash.dashboard.app import build_server, create_app
from streamdash.dashboard.data import DashboardData
from streamdash.dashboard.health import HealthTracker
from streamdash.store.reader import ResultReader

CHROMIUM = shutil.which("chromium")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Debian `chromium` is not installed")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]


@pytest.fixture
def dashboard(pg_db: str) -> Iterator[str]:
    spec = pipeline()
    reader, alerts = ResultReader(pg_db), AlertReader(pg_db)
    data = DashboardData(
        {s.view: s for s in SCHEMAS}, reader, HealthTracker(spec, reader), alerts=alerts
    )
    server = build_server(create_app(spec, data), "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()
    thread.join()
    reader.close()
    alerts.close()


def test_an_opened_alert_shows_up_without_a_reload(pg_db: str, dashboard: str) -> None:
    results = Results(pg_db)
    evaluator = AlertEvaluator(pipeline(), pg_db)
    errors: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page()
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.goto(dashboard + "/")
            expect(page.locator("#alerts")).to_contain_text("No alerts so far", timeout=15_000)
            assert not page.locator("#alerts-banner").is_visible()

            results.commit(app_rows((0, "app-1", 0.2, True), (1, "app-1", 0.3, True)))
            evaluator.tick()
            banner = page.locator("#alerts-banner")
            expect(banner).to_contain_text("error rate 30.0% on app-1", timeout=10_000)
            expect(page.locator("#alerts")).to_contain_text("application_id=app-1")

            page.goto(dashboard + "/streams/app_logs")
            expect(banner).to_contain_text("1 open alert", timeout=10_000)
            results.commit(app_rows((2, "app-1", 0.0, True)))
            evaluator.tick()
            expect(banner).to_be_hidden(timeout=10_000)
        finally:
            browser.close()
            evaluator.close()
            results.close()
    assert errors == []
