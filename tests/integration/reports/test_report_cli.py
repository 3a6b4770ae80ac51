"""`streamdash report` on a real PostgreSQL: every format carries the numbers of the raw
events, an empty period is an empty report with exit code 0, and every way a report can
not be made is one `error:` line naming the problem, exit code 2, no traceback.

In-process through typer's runner (fast), except one run of the real entry point."""

from __future__ import annotations

import csv
import io
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from report_support import ReportData, app_expectations, at, campaign_expectations, rolled_up
from typer.testing import CliRunner, Result

from streamdash.cli import app

SINCE, UNTIL = "2024-05-01T12:05:00Z", "2024-05-01T12:15:00Z"


def report(url: str | None, *args: str, data_dir: Path | None = None) -> Result:
    env = {"STREAMDASH_DATABASE_URL": url or ""}
    extra = ["--data-dir", str(data_dir)] if data_dir else []
    return CliRunner().invoke(app, ["report", *args, *extra], env=env)


def _error(result: Result) -> str:
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


def test_list_names_every_report_with_a_line() -> None:
    result = report(None, "--list")
    assert result.exit_code == 0, result.output
    assert "app-health" in result.stdout and "campaigns" in result.stdout
    assert "conversion" in result.stdout


def test_markdown_holds_the_counts_of_the_raw_events(report_db: ReportData) -> None:
    result = report(report_db.url, "app-health", "--since", SINCE, "--until", UNTIL)
    assert result.exit_code == 0, result.output
    expected = app_expectations(report_db.events["app_logs"], at(5), at(15))
    for app_id, want in expected.items():
        line = next(x for x in result.stdout.splitlines() if x.startswith(f"| {app_id} |"))
        assert line.split(" | ")[1:3] == [f"{want.requests:,}", f"{want.errors:,}"]
    # the other name of the report works too
    alias = report(report_db.url, "application-health", "--since", SINCE, "--until", UNTIL)
    assert alias.exit_code == 0 and alias.stdout.startswith("# Application health")


def test_csv_is_the_main_table_or_the_one_asked_for(report_db: ReportData) -> None:
    args = ["campaigns", "--since", SINCE, "--until", UNTIL, "--format", "csv"]
    expected = campaign_expectations(report_db.events["user_events"], at(5), at(15))
    result = report(report_db.url, *args)
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    per_campaign = rolled_up(expected, 0)
    assert {r["campaign_id"]: int(r["clicks"]) for r in rows} == {
        k: v.clicks for k, v in per_campaign.items()
    }
    for row in rows:
        assert float(row["revenue"]) == pytest.approx(per_campaign[row["campaign_id"]].revenue)
    countries = report(report_db.url, *args, "--table", "countries")
    assert countries.stdout.splitlines()[0].startswith("country,clicks,purchases,revenue")


def test_the_real_command_writes_a_self_contained_html_file(
    report_db: ReportData, tmp_path: Path
) -> None:
    out = tmp_path / "health.html"
    env = {"STREAMDASH_DATABASE_URL": report_db.url, "PATH": "/usr/bin:/bin"}
    args = ["report", "app-health", "--since", SINCE, "--until", UNTIL, "--format", "html"]
    done = subprocess.run(
        [sys.executable, "-m", "streamdash", *args, "--out", str(out)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert f"wrote the app-health report to {out}" in done.stderr
    text = out.read_text()
    assert text.startswith("<!DOCTYPE html>") and text.rstrip().endswith("</html>")
    assert "<script src" not in text and "<link" not in text and 'src="http' not in text
    assert text.count("Plotly.newPlot") == 5
    expected = app_expectations(report_db.events["app_logs"], at(5), at(15))
    for app_id, want in expected.items():
        assert f'<td>{app_id}</td><td class="num">{want.requests:,}</td>' in text


def test_an_empty_period_is_an_empty_report_saying_where_the_data_is(
    report_db: ReportData,
) -> None:
    result = report(report_db.url, "app-health", "--since", "2024-06-01", "--until", "2024-06-02")
    assert result.exit_code == 0, result.output
    assert "No application_metrics window starts in the period 2024-06-01T00:00:00Z" in (
        result.stderr
    )
    assert "the table holds 600 rows, of windows starting from 2024-05-01T12:00:00Z" in (
        result.stderr
    )
    assert "**No application_metrics window starts" in result.stdout
    assert "_No rows in this period._" in result.stdout


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["nope"], "no report 'nope'; expected one of: app-health, campaigns"),
        (["app-health", "--since", "yesterday"], "--since 'yesterday' is neither an ISO-8601"),
        (["app-health", "--since", "1h", "--until", "2h"], "is not before --until"),
        (["app-health", "--table", "trend"], "--table picks the table of csv output"),
        (["app-health", "--format", "csv", "--table", "x"], "has no table 'x'; expected one of"),
        ([], "name a report, or use --list"),
    ],
)
def test_wrong_requests_are_refused_before_any_database(args: list[str], needle: str) -> None:
    # no database is configured at all: these are found first
    line = _error(report(None, *args, data_dir=Path("/nonexistent")))
    assert needle in line


def test_spark_without_its_jdbc_driver_is_refused_before_any_database(tmp_path: Path) -> None:
    missing = tmp_path / "postgresql.jar"
    result = CliRunner().invoke(
        app,
        ["report", "campaigns", "--engine", "spark", "--data-dir", str(tmp_path)],
        env={"STREAMDASH_DATABASE_URL": "", "STREAMDASH_JDBC_JAR": str(missing)},
    )
    line = _error(result)
    assert f"the PostgreSQL JDBC driver {missing} is missing" in line
    assert "libpostgresql-jdbc-java" in line


def test_a_missing_table_names_the_view_and_stream(pg_db: str) -> None:
    line = _error(report(pg_db, "campaigns"))
    assert "table 'campaign_metrics' does not exist in PostgreSQL 127.0.0.1:" in line
    assert "view 'campaign_metrics' of stream 'user_events'" in line


def test_a_database_that_is_down_is_named(tmp_path: Path) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    line = _error(report(f"postgresql://postgres@127.0.0.1:{port}/streamdash", "app-health"))
    assert f"cannot connect to PostgreSQL 127.0.0.1:{port}/streamdash" in line


def test_a_data_dir_without_a_database_says_how_to_get_one(tmp_path: Path) -> None:
    line = _error(report(None, "app-health", data_dir=tmp_path))
    assert "STREAMDASH_DATABASE_URL is not set" in line
    assert f"data dir {tmp_path} has no embedded database" in line
    assert not any(tmp_path.iterdir())  # a report creates no database


def test_an_unwritable_out_file_is_named(report_db: ReportData, tmp_path: Path) -> None:
    target = tmp_path / "missing-dir" / "r.md"
    line = _error(report(report_db.url, "campaigns", "--since", SINCE, "--out", str(target)))
    assert f"cannot write {target}" in line
