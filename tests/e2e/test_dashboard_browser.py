"""The dashboard in a real Chromium against a real PostgreSQL.

Result rows are made the way production makes them: the built-in generators' events go
through the real engine (`Processor`) and the real sink (`PostgresSink`). Then the
dashboard server runs in a thread of this process and Chromium (Debian package, driven by
playwright; never `playwright install`) opens every page. Screenshots of every page are
saved to docs/screenshots/.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec
import psycopg
import pyarrow as pa
import pytest
from playwright.sync_api import Browser, Page, sync_playwright
from psycopg import sql
from psycopg.conninfo import make_conninfo

from streamdash.bench.viewers import CHROMIUM_ARGS
from streamdash.dashboard.app import build_server, create_app
from streamdash.dashboard.data import DEFAULT_RANGE, RANGES, DashboardData
from streamdash.dashboard.health import HealthTracker
from streamdash.dashboard.layout import REFRESH_MS
from streamdash.engine import Processor
from streamdash.log.base import Chunk
from streamdash.log.sqlite import SqliteLog
from streamdash.results import CommitBatch, ViewUpdate
from streamdash.runtime.queries import view_schemas
from streamdash.runtime.tables import load_table
from streamdash.sources.generators import generate
from streamdash.spec.dashboards import parse_dashboards
from streamdash.spec.loader import BUILTIN_STREAMS, load_builtin
from streamdash.spec.models import Pipeline
from streamdash.store.postgres import PostgresSink
from streamdash.store.reader import ResultReader

CHROMIUM = shutil.which("chromium")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="Debian `chromium` is not installed (`make test` installs it)"
)
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
CONSUMER = "engine"
SECONDS = 1200
"""Event time covered by the generated data (the 20 minutes before now)."""


def _sensor_events(body: bytes) -> list[dict[str, Any]]:
    """A Sensor Logger push body flattened as the ingest adapter does (one event per
    reading, `values` keys at the top level)."""
    push = msgspec.json.decode(body)
    events = []
    for reading in push["payload"]:
        event = {
            "device_id": push["deviceId"],
            "session_id": push["sessionId"],
            "message_id": push["messageId"],
            "sensor": reading["name"],
            "time": reading["time"],
            **reading.get("values", {}),
        }
        events.append(event)
    return events


def _lines(stream: str, count: int, seed: int, start_us: int) -> list[bytes]:
    rate = count / SECONDS
    items = generate(stream, count=count, seed=seed, start_us=start_us, rate=rate)
    if stream != "sensor":
        return [item.rstrip(b"\n") for item in items]
    return [msgspec.json.encode(e) for body in items for e in _sensor_events(body)]


def populate(
    url: str, pipeline: Pipeline, log: SqliteLog | None = None, *, count: int = 6000, seed: int = 7
) -> None:
    """Generated events of every built-in stream, through the engine, into PostgreSQL
    (and into the embedded log, whose end offsets the overview shows as "received")."""
    tables = {name: load_table(name, spec) for name, spec in pipeline.tables.items()}
    processor = Processor(pipeline, tables)
    now_us = int(time.time() * 1e6)
    start_us = now_us - SECONDS * 1_000_000
    try:
        with PostgresSink(url) as sink:
            sink.open(processor.schemas())
            for i, stream in enumerate(BUILTIN_STREAMS):
                lines = _lines(
                    stream, count // (20 if stream == "sensor" else 1), seed + i, start_us
                )
                payload = b"".join(line + b"\n" for line in lines)
                if log is not None:
                    log.append(stream, [(payload, len(lines))])
                chunk = Chunk(stream, 0, len(lines), now_us, payload)
                batch = processor.process(stream, [chunk], now_us)
                batch.offsets[stream] = chunk.end
                sink.commit(CONSUMER, batch)
    finally:
        processor.close()


# -- the running dashboard -------------------------------------------------------------


@dataclass
class Dashboard:
    url: str
    database_url: str
    pipeline: Pipeline
    data: DashboardData


@contextlib.contextmanager
def running_dashboard(
    database_url: str, pipeline: Pipeline, log: SqliteLog | None
) -> Iterator[Dashboard]:
    """The dashboard server in a thread of this process, on a free port."""
    reader = ResultReader(database_url)
    data = DashboardData(view_schemas(pipeline), reader, HealthTracker(pipeline, reader, log))
    server = build_server(create_app(pipeline, data), "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, name="dashboard", daemon=True)
    thread.start()
    try:
        yield Dashboard(f"http://127.0.0.1:{server.server_port}", database_url, pipeline, data)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
        reader.close()


@pytest.fixture(scope="module")
def database(pg_url: str) -> Iterator[str]:
    """One populated database for the module (populating takes a few seconds)."""
    name = f"test_dash_{uuid.uuid4().hex}"
    with psycopg.connect(pg_url, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = make_conninfo(pg_url, dbname=name)
    try:
        yield url
    finally:
        with psycopg.connect(pg_url, autocommit=True) as admin:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


@pytest.fixture(scope="module")
def dashboard(database: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dashboard]:
    pipeline = load_builtin(*BUILTIN_STREAMS)
    log = SqliteLog(tmp_path_factory.mktemp("log"))
    try:
        populate(database, pipeline, log)
        with running_dashboard(database, pipeline, log) as running:
            yield running
    finally:
        log.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@dataclass
class Watched:
    """A page plus what it did: console errors and every URL it requested."""

    page: Page
    errors: list[str]
    requests: list[str]

    def graph(self, panel_id: str) -> Any:
        """The Plotly data of the chart in a panel card (what the browser draws); [] until
        the first data arrives."""
        self.page.locator(f"#{panel_id} .js-plotly-plot").wait_for()
        return self.page.locator(f"#{panel_id} .js-plotly-plot").evaluate(
            "gd => (gd.data || []).map(t => ({name: t.name, x: t.x, y: t.y, value: t.value, "
            "title: t.title && t.title.text}))"
        )


@pytest.fixture
def watched(browser: Browser) -> Iterator[Watched]:
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    requests: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda err: errors.append(str(err)))
    page.on("request", lambda r: requests.append(r.url))
    try:
        yield Watched(page, errors, requests)
    finally:
        context.close()


def wait_until(check: Any, timeout: float = 8.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(0.2)


# -- the tests -------------------------------------------------------------------------

PAGES = {"overview": "/", **{stream: f"/streams/{stream}" for stream in BUILTIN_STREAMS}}


def _local_only(watched: Watched, base: str) -> None:
    outside = sorted({u for u in watched.requests if not u.startswith((base, "data:"))})
    assert outside == [], "the page loaded something that is not served by the dashboard"


def _pick_range(page: Page, label: str) -> None:
    page.locator(".btn-group label", has_text=label).first.click()


def test_every_page_loads_offline_without_errors(dashboard: Dashboard, watched: Watched) -> None:
    page = watched.page
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for name, path in PAGES.items():
        page.goto(dashboard.url + path)
        page.wait_for_selector("#updated:has-text('updated')")
        if name == "overview":
            page.wait_for_selector("#stream-app_logs")
            assert page.locator(".card[id^=stream-]").count() == len(BUILTIN_STREAMS)
            assert page.locator("#alerts").count() == 1
        else:
            panels = [p for p in parse_dashboards(dashboard.pipeline)[name] if p.panel != "filter"]
            page.wait_for_selector(".sd-panel")
            assert page.locator(".sd-panel").count() == len(panels)
            _pick_range(page, "1 h")  # the 5-minute windows need more than 5 minutes
            # Every panel has drawn its data: no "waiting" state is left.
            wait_until(lambda: page.get_by_text("Waiting for data").count() == 0)
            assert page.get_by_text("Waiting for data").count() == 0, name
            for title in (p.heading for p in panels):
                assert page.get_by_text(title, exact=True).count() == 1, title
        assert not page.locator("#db-error").is_visible()
        page.wait_for_timeout(1200)  # let a refresh tick or two pass: they must not error
        page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
    assert watched.errors == []
    _local_only(watched, dashboard.url)
    assert any("bootstrap-darkly.min.css" in u for u in watched.requests)


def test_charts_show_the_rows_in_the_database(dashboard: Dashboard, watched: Watched) -> None:
    reader = ResultReader(dashboard.database_url)
    try:
        schemas = view_schemas(dashboard.pipeline)
        metrics = reader.query_view(schemas["application_metrics"], limit=10_000)
        users = reader.query_view(schemas["user_aggregations"], limit=10_000)
    finally:
        reader.close()
    latest: dict[str, float] = {}
    for row in metrics:  # newest first: the first row of an app is its latest window
        latest.setdefault(row["application_id"], row["error_rate"])
    watched.page.goto(dashboard.url + "/streams/app_logs")
    gauges = wait_until(lambda: watched.graph("panel-app_logs-1"))
    assert {g["title"]: g["value"] for g in gauges} == pytest.approx(latest)

    top = max(users, key=lambda r: (r["total_interactions"], -r["user_id"]))
    watched.page.goto(dashboard.url + "/streams/interactions")
    first_row = watched.page.locator("#panel-interactions-4 tbody tr").first
    first_row.wait_for()
    cells = first_row.locator("td").all_inner_texts()
    assert cells[:2] == [str(top["user_id"]), f"{top['total_interactions']:,}"]
    assert watched.errors == []


def test_a_new_result_row_shows_up_without_a_reload(dashboard: Dashboard, watched: Watched) -> None:
    page = watched.page
    page.goto(dashboard.url + "/streams/app_logs")
    assert wait_until(lambda: watched.graph("panel-app_logs-1"))
    assert "app-new" not in {g["title"] for g in watched.graph("panel-app_logs-1")}
    navigations: list[str] = []
    page.on("framenavigated", lambda frame: navigations.append(frame.url))
    schema = view_schemas(dashboard.pipeline)["application_metrics"]
    start = datetime.now(UTC).replace(microsecond=0)
    row = {name: 0 for name, _ in schema.metrics} | {
        "window_start": start, "window_end": start + timedelta(seconds=10),
        "application_id": "app-new", "request_count": 7, "error_rate": 0.125, "final": False,
    }  # fmt: skip
    written = time.monotonic()
    with PostgresSink(dashboard.database_url) as sink:
        sink.open([schema])
        table = pa.Table.from_pylist([row], schema=schema.arrow_schema)
        sink.commit("test", CommitBatch(updates=[ViewUpdate("application_metrics", table)]))

    def shown() -> float | None:
        values = {g["title"]: g["value"] for g in watched.graph("panel-app_logs-1")}
        return values.get("app-new")

    assert wait_until(shown, timeout=5.0) == pytest.approx(0.125)
    assert time.monotonic() - written < 5.0
    assert navigations == []  # updated in place, not reloaded
    assert watched.errors == []


def test_key_filter_narrows_every_panel(dashboard: Dashboard, watched: Watched) -> None:
    page = watched.page
    page.goto(dashboard.url + "/streams/sensor")
    page.wait_for_selector("#panel-sensor-1 .js-plotly-plot .scatterlayer .trace")
    devices = {t["name"].split(" · ")[0] for t in watched.graph("panel-sensor-1")}
    assert len(devices) > 1
    page.locator(".sd-filter").first.click()
    option = page.locator(".dash-dropdown-option").first
    chosen = option.inner_text()
    option.click()
    page.keyboard.press("Escape")

    def names() -> set[str]:
        return {t["name"].split(" · ")[0] for t in watched.graph("panel-sensor-1")}

    assert wait_until(lambda: len(names()) == 1)
    assert names() == {chosen[:8] + "\u2026"}  # long device ids are shortened in legends
    _pick_range(page, "1 h")
    page.wait_for_timeout(1500)
    page.screenshot(path=str(SCREENSHOTS / "sensor_one_device.png"), full_page=True)
    assert watched.errors == []


def test_database_down_shows_an_error_banner(watched: Watched) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nothing listens here once closed
    pipeline = load_builtin(*BUILTIN_STREAMS)
    with running_dashboard(f"postgresql://postgres@127.0.0.1:{port}/gone", pipeline, None) as dash:
        for path in ("/", "/streams/app_logs"):
            watched.page.goto(dash.url + path)
            banner = watched.page.locator("#db-error")
            banner.wait_for(state="visible")
            # visible may come a moment before its text does on a busy machine
            assert wait_until(lambda b=banner: "Database unreachable" in b.inner_text())
            assert watched.page.locator(".navbar").is_visible()  # never a blank page
        watched.page.screenshot(path=str(SCREENSHOTS / "database_down.png"))
    # The failed requests are the app's own; the browser console stays clean.
    assert watched.errors == []


def test_viewers_share_one_query_per_tick(dashboard: Dashboard, browser: Browser) -> None:
    context = browser.new_context()
    try:
        pages = [context.new_page() for _ in range(4)]
        for page in pages:
            page.goto(dashboard.url + "/streams/interactions")
            page.wait_for_selector("#updated:has-text('updated')")
        before = dashboard.data.queries
        time.sleep(5)
        loads = dashboard.data.queries - before
    finally:
        context.close()
    views = {p.view for p in parse_dashboards(dashboard.pipeline)["interactions"]}
    # One load per view per TTL, not one per viewer and tick (that would be 4 viewers x
    # 2 ticks/s x 5 s = 40 per view).
    per_view = 5 / RANGES[DEFAULT_RANGE].ttl + 1
    assert loads <= len(views) * per_view, loads
    assert per_view < 4 * 5 * 1000 / REFRESH_MS


def test_custom_range_bounds_every_panel(dashboard: Dashboard, watched: Watched) -> None:
    page = watched.page
    page.goto(dashboard.url + "/streams/app_logs")
    assert not page.locator(".sd-custom").is_visible()  # only for "custom"
    _pick_range(page, "custom")
    page.locator(".sd-custom").wait_for(state="visible")
    # Ten minutes in the middle of the generated data, in absolute UTC times.
    since = (datetime.now(UTC) - timedelta(minutes=15)).replace(second=0, microsecond=0)
    until = since + timedelta(minutes=5)

    def fill(part: str, text: str) -> None:
        box = page.locator(f".sd-custom input >> nth={0 if part == 'from' else 1}")
        box.fill(text)
        box.press("Enter")

    fill("from", since.strftime("%Y-%m-%d %H:%M"))
    fill("to", until.strftime("%Y-%m-%d %H:%M"))

    def times() -> list[datetime]:
        traces = watched.graph("panel-app_logs-2")
        return [datetime.fromisoformat(x).replace(tzinfo=UTC) for t in traces for x in t["x"]]

    def bounded() -> bool:
        shown = times()
        return bool(shown) and since <= min(shown) and max(shown) < until

    assert wait_until(bounded), (since, until, min(times(), default=None))
    # A range before any data: every panel waits for data.
    fill("from", "now-3h")
    fill("to", "now-2h")
    assert wait_until(lambda: page.get_by_text("Waiting for data").count() >= 4)
    # A bad bound: say why, keep what is shown.
    fill("from", "yesterday")
    problem = page.locator(".sd-custom .text-danger")
    assert wait_until(lambda: "now-2h" in problem.inner_text())
    assert not page.locator("#db-error").is_visible()
    assert watched.errors == []
