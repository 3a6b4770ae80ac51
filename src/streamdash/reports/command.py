"""`streamdash report NAME`: the typer command, and the one function it shells over.

Exit codes: 0 with a report, also an empty one (a period without data is an answer, and a
message on stderr says so and where the data is); 2 when no report can be made (unknown
report or option, bad period, no database, database down, missing table), with an
`error:` line naming the problem — never a traceback."""

from __future__ import annotations

import dataclasses
import logging
import sys
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from streamdash.errors import StreamdashError

if TYPE_CHECKING:
    from streamdash.reports.build import Report
    from streamdash.reports.definitions import ReportDefinition
    from streamdash.reports.period import Period


class OutputFormat(StrEnum):
    md = "md"
    csv = "csv"
    html = "html"


class EngineName(StrEnum):
    duckdb = "duckdb"
    spark = "spark"


@dataclasses.dataclass(frozen=True)
class ReportRequest:
    """What the command line asked for, as given."""

    name: str
    since: str | None
    until: str | None
    output: OutputFormat
    engine: str
    table: str | None


@dataclasses.dataclass(frozen=True)
class ReportJob:
    """A request checked without any I/O: a known report, table and engine, a period."""

    definition: ReportDefinition
    period: Period
    output: OutputFormat
    engine: str
    table: str | None


def _list_reports(console: Console) -> None:
    from streamdash.reports.catalog import REPORTS

    table = Table(title="streamdash reports", title_justify="left")
    table.add_column("report", no_wrap=True)
    table.add_column("what it shows")
    for definition in REPORTS.values():
        table.add_row(definition.name, definition.description)
    console.print(table)


def plan_report(request: ReportRequest, now: datetime) -> ReportJob:
    """Check the request before touching a database; raises StreamdashError naming what is
    wrong (unknown report or table, bad period, engine not installed)."""
    from streamdash.reports.catalog import find_report
    from streamdash.reports.engine import ReportError, check_engine
    from streamdash.reports.period import parse_period

    definition = find_report(request.name)
    if request.table is not None:
        if request.output is not OutputFormat.csv:
            raise ReportError("--table picks the table of csv output; md and html show them all")
        try:
            definition.section(request.table)
        except KeyError as err:
            raise ReportError(str(err.args[0])) from None
    period = parse_period(request.since, request.until, now)
    check_engine(request.engine)
    return ReportJob(definition, period, request.output, request.engine, request.table)


def empty_message(job: ReportJob, database_url: str) -> str:
    """Why the report is empty, and where the data is if there is any."""
    from streamdash.reports.period import iso
    from streamdash.reports.result_tables import table_extent

    source = job.definition.tables[job.definition.coverage_table]
    extent = table_extent(database_url, source)
    message = f"No {source.table} window starts in the period {job.period.describe()}"
    if extent.rows and extent.first_window and extent.last_window:
        return message + (
            f"; the table holds {extent.rows:,} rows, of windows starting from "
            f"{iso(extent.first_window)} to {iso(extent.last_window)}."
        )
    return message + f"; the table is empty (no {source.stream} events processed yet)."


def run_report(job: ReportJob, database_url: str, now: datetime) -> tuple[str, str]:
    """(the rendered report, a message for stderr or ""). Raises StreamdashError."""
    from streamdash.reports.build import build_report
    from streamdash.reports.engine import open_engine

    engine = open_engine(job.engine, database_url, job.period)
    try:
        report = build_report(job.definition, engine, job.period, now)
    finally:
        engine.close()
    message = ""
    if report.empty:
        message = empty_message(job, database_url)
        report = dataclasses.replace(report, message=message)
    return _render(report, job), message


def _render(report: Report, job: ReportJob) -> str:
    if job.output is OutputFormat.csv:
        from streamdash.reports.csv_output import render_csv

        return render_csv(report, job.table)
    if job.output is OutputFormat.html:
        from streamdash.reports.html import render_html

        return render_html(report)
    from streamdash.reports.markdown import render_markdown

    return render_markdown(report)


def report(
    name: Annotated[
        str | None, typer.Argument(help="The report, e.g. app-health or campaigns (see --list).")
    ] = None,
    since: Annotated[
        str | None,
        typer.Option(
            help="Start: an ISO-8601 time (UTC unless it has an offset) or a duration back "
            "from now (1h, 24h, 7d, 30min). Default: 24 h before --until."
        ),
    ] = None,
    until: Annotated[
        str | None, typer.Option(help="End (exclusive), same forms as --since. Default: now.")
    ] = None,
    output: Annotated[
        OutputFormat, typer.Option("--format", help="md, csv (the main table) or html.")
    ] = OutputFormat.md,
    engine: Annotated[
        EngineName, typer.Option(help="Where the SQL runs: duckdb, or spark (the \\[spark] extra).")
    ] = EngineName.duckdb,
    out: Annotated[Path | None, typer.Option(help="Write here instead of stdout.")] = None,
    table: Annotated[
        str | None, typer.Option(help="csv only: this section instead of the main table.")
    ] = None,
    data_dir: Annotated[
        Path | None,
        typer.Option(help="Data dir of the embedded database (without STREAMDASH_DATABASE_URL)."),
    ] = None,
    list_reports: Annotated[
        bool, typer.Option("--list", help="List the reports with a one-line description.")
    ] = False,
) -> None:
    """Reports over the stored results of a period (md, csv or a self-contained html)."""
    from streamdash.config import Settings
    from streamdash.runtime.services import database

    console = Console()
    err_console = Console(stderr=True, soft_wrap=True)
    if list_reports:
        _list_reports(console)
        return
    if name is None:
        err_console.print("[red]error:[/] name a report, or use --list to see them")
        raise typer.Exit(2)
    if engine is EngineName.spark:  # py4j logs every gateway connection at INFO
        logging.getLogger("py4j").setLevel(logging.WARNING)
    request = ReportRequest(name, since, until, output, engine.value, table)
    now = datetime.now(UTC).replace(microsecond=0)
    try:
        settings = Settings.from_env()
    except ValueError as err:  # e.g. STREAMDASH_PORT=abc
        err_console.print(f"[red]error:[/] {escape(str(err))}")
        raise typer.Exit(2) from None
    if data_dir is not None:
        settings = dataclasses.replace(settings, data_dir=data_dir)
    try:
        job = plan_report(request, now)
        # reads only: never creates a database, never stops a running pipeline's server
        with database(settings, create=False, stop_reused=False) as database_url:
            text, message = run_report(job, database_url, now)
    except StreamdashError as err:
        err_console.print(f"[red]error:[/] {escape(str(err))}")
        raise typer.Exit(2) from None
    if message:
        err_console.print(f"[yellow]{escape(message)}[/] (an empty report, exit code 0)")
    if out is None:
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    try:
        out.write_text(text, encoding="utf-8")
    except OSError as err:
        err_console.print(f"[red]error:[/] cannot write {escape(str(out))}: {err.strerror or err}")
        raise typer.Exit(2) from None
    err_console.print(f"wrote the {escape(request.name)} report to {escape(str(out))}")
