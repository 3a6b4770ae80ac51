"""Rendering a report: GitHub Markdown tables, CSV of one table with raw values, and a
self-contained dark HTML page (parsed here: its tables hold the numbers, and nothing in it
points outside the file)."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from html.parser import HTMLParser

import pyarrow as pa
import pytest

from streamdash.reports.build import Coverage, Report, SectionResult
from streamdash.reports.cells import display, raw
from streamdash.reports.csv_output import render_csv
from streamdash.reports.definitions import Chart, ReportDefinition, Section, TableRequest
from streamdash.reports.html import render_html
from streamdash.reports.markdown import render_markdown
from streamdash.reports.period import Period
from streamdash.results import arrow_timestamp

T0 = datetime(2024, 5, 1, 12, tzinfo=UTC)
T1 = datetime(2024, 5, 1, 13, tzinfo=UTC)
SHOPS = Section(
    name="shops",
    title="Per shop",
    sql="unused here",
    formats={"shop": "text", "orders": "int", "share": "percent", "revenue": "money"},
    description="share = orders / all orders",
)
TREND = Section(
    name="trend",
    title="Over time",
    sql="unused here",
    formats={"bucket_start": "time", "shop": "text", "orders": "int"},
    chart_only=True,
)
DEFINITION = ReportDefinition(
    name="shops",
    description="Orders per shop.",
    title="Shop orders",
    tables={"o": TableRequest("orders", ("window_start",), view="orders", stream="shop")},
    coverage_table="o",
    sections=(SHOPS, TREND),
    charts=(
        Chart("shops", "bar", "shop", "share", "Share per shop"),
        Chart("trend", "line", "bucket_start", "orders", "Orders over time", color="shop"),
    ),
    notes=("Orders are exact.",),
)


def _report(shops: pa.Table, trend: pa.Table, *, rows: int = 12, final: int = 10) -> Report:
    coverage = Coverage(rows, final, T0 if rows else None, T1 if rows else None)
    return Report(
        DEFINITION,
        Period(T0, T1),
        "duckdb",
        T1,
        coverage,
        (SectionResult(SHOPS, shops), SectionResult(TREND, trend)),
    )


SHOP_ROWS = pa.table(
    {
        "shop": ["north|east", None, "west"],
        "orders": pa.array([1234567, 3, 0], pa.int64()),
        "share": [0.987654, 0.0123, None],
        "revenue": [12345.678, 0.5, float("nan")],
    }
)
TREND_ROWS = pa.table(
    {
        "bucket_start": pa.array([T0, T0, T1], arrow_timestamp()),
        "shop": ["north|east", "west", "west"],
        "orders": pa.array([5, 7, 9], pa.int64()),
    }
)
REPORT = _report(SHOP_ROWS, TREND_ROWS)
EMPTY = _report(SHOP_ROWS.schema.empty_table(), TREND_ROWS.schema.empty_table(), rows=0, final=0)


def test_cells_for_people_and_for_machines() -> None:
    assert display(1234567, "int") == "1,234,567"
    assert display(0.0123, "percent") == "1.23 %"
    assert display(12345.678, "money") == "12,345.68"
    assert display(87.44, "ms") == "87.4"
    assert display(None, "text") == display(float("nan"), "money") == "—"
    assert display(T0, "time") == "2024-05-01 12:00:00"
    assert raw(0.1 + 0.2) == "0.30000000000000004"  # full precision in csv
    assert raw(T0) == "2024-05-01T12:00:00Z"
    assert raw(None) == raw(float("nan")) == ""
    assert raw(True) == "true"


def test_markdown_has_one_github_table_per_section_and_the_notes() -> None:
    text = render_markdown(REPORT)
    lines = text.splitlines()
    assert lines[0] == "# Shop orders (`shops`)"
    assert "Period: 2024-05-01T12:00:00Z to 2024-05-01T13:00:00Z" in text
    assert "From 12 rows of orders" in text and "2 of them in windows not final yet" in text
    header = lines.index("| shop | orders | share | revenue |")
    assert lines[header + 1] == "|---|---:|---:|---:|"
    assert lines[header + 2] == "| north\\|east | 1,234,567 | 98.77 % | 12,345.68 |"  # | escaped
    assert lines[header + 3] == "| — | 3 | 1.23 % | 0.50 |"
    assert lines[header + 4] == "| west | 0 | — | — |"
    assert "## Over time" not in text  # chart-only: html draws it, csv gives it on request
    assert "- Orders are exact." in lines


def test_an_empty_report_says_so_in_every_section() -> None:
    import dataclasses

    text = render_markdown(dataclasses.replace(EMPTY, message="No orders in the period."))
    assert "**No orders in the period.**" in text
    assert "_No rows in this period._" in text
    assert "From " not in text  # no coverage line without rows


def test_csv_is_the_main_table_with_raw_values_or_the_one_asked_for() -> None:
    rows = list(csv.reader(io.StringIO(render_csv(REPORT))))
    assert rows == [
        ["shop", "orders", "share", "revenue"],
        ["north|east", "1234567", "0.987654", "12345.678"],
        ["", "3", "0.0123", "0.5"],
        ["west", "0", "", ""],
    ]
    trend = list(csv.reader(io.StringIO(render_csv(REPORT, "trend"))))
    assert trend[1] == ["2024-05-01T12:00:00Z", "north|east", "5"]
    with pytest.raises(KeyError, match="expected one of: shops, trend"):
        render_csv(REPORT, "nope")
    assert render_csv(EMPTY) == "shop,orders,share,revenue\n"


class _Page(HTMLParser):
    """What a browser would load or run: external references, scripts, table cells."""

    def __init__(self) -> None:
        super().__init__()
        self.references: list[str] = []
        self.scripts = 0
        self.cells: list[str] = []
        self.headings: list[str] = []
        self._tag = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._tag = tag
        values = dict(attrs)
        for name in ("src", "href"):
            if values.get(name):
                self.references.append(f"{tag} {name}={values[name]}")
        if tag == "script":
            self.scripts += 1

    def handle_data(self, data: str) -> None:
        if self._tag in ("td", "th"):
            self.cells.append(data)
        elif self._tag in ("h1", "h2"):
            self.headings.append(data.strip())


def _parse(text: str) -> _Page:
    page = _Page()
    page.feed(text)
    page.close()
    return page


def test_html_is_self_contained_with_the_tables_and_charts() -> None:
    text = render_html(REPORT)
    page = _parse(text)
    assert page.references == []  # no script src, no link href, no image: opens offline
    assert "cdn.plot.ly/plotly" not in text and "<link" not in text
    assert page.scripts >= 3  # plotly.js once, then one script per chart
    assert text.count("Plotly.newPlot") == 2
    assert "Share per shop" in text and "Orders over time" in text
    assert page.cells[4:8] == ["north|east", "1,234,567", "98.77 %", "12,345.68"]
    assert "Per shop" in page.headings and "Over time" not in page.headings
    assert "background: #1e1e1e" in text  # the dashboard's dark background


def test_an_empty_html_report_has_the_message_and_no_charts() -> None:
    import dataclasses

    text = render_html(dataclasses.replace(EMPTY, message="No orders in the period."))
    page = _parse(text)
    assert page.scripts == 0  # nothing to draw: no 4.7 MB of plotly.js either
    assert "No orders in the period." in text
    assert "No rows in this period." in page.cells
