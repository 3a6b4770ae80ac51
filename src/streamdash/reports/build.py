"""Running a report: every section's SQL on one engine, the answers normalised to the same
Arrow types whichever engine ran them (renderers and tests compare engines on them)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import pyarrow as pa

from streamdash.reports.definitions import ReportDefinition, Section, coverage_sql
from streamdash.reports.engine import ReportEngine
from streamdash.reports.period import Period
from streamdash.results import arrow_timestamp


@dataclass(frozen=True)
class Coverage:
    """The rows (one per window and key) of the period the report is made of."""

    rows: int
    final_rows: int
    first_window: datetime | None
    last_window_end: datetime | None

    @property
    def open_rows(self) -> int:
        """Rows of windows still open (not final): their numbers may still grow."""
        return self.rows - self.final_rows


@dataclass(frozen=True)
class SectionResult:
    section: Section
    rows: pa.Table


@dataclass(frozen=True)
class Report:
    definition: ReportDefinition
    period: Period
    engine: str
    generated_at: datetime
    coverage: Coverage
    sections: tuple[SectionResult, ...]
    message: str = ""
    """Shown above the tables when set: why the report is empty and where the data is."""

    @property
    def empty(self) -> bool:
        return self.coverage.rows == 0

    def result(self, name: str) -> SectionResult:
        section = self.definition.section(name)  # KeyError naming the known ones
        return next(r for r in self.sections if r.section is section)


def _normal_type(kind: pa.DataType) -> pa.DataType:
    if pa.types.is_timestamp(kind):
        return arrow_timestamp()
    if pa.types.is_large_string(kind) or pa.types.is_string_view(kind):
        return pa.string()
    if pa.types.is_decimal(kind):
        return pa.float64()
    return kind


def normalise(table: pa.Table) -> pa.Table:
    """Timestamps as UTC microseconds, strings as `string`: DuckDB and Spark differ here."""
    schema = pa.schema([(f.name, _normal_type(f.type)) for f in table.schema])
    return table.cast(schema) if schema != table.schema else table


def _coverage(table: pa.Table) -> Coverage:
    row = table.to_pylist()[0]
    return Coverage(
        rows=int(row["result_rows"] or 0),
        final_rows=int(row["final_rows"] or 0),
        first_window=row["first_window"],
        last_window_end=row["last_window_end"],
    )


def build_report(
    definition: ReportDefinition,
    engine: ReportEngine,
    period: Period,
    generated_at: datetime | None = None,
) -> Report:
    tables = definition.tables
    coverage = normalise(engine.query(coverage_sql(definition.coverage_table), tables))
    sections = tuple(
        SectionResult(section, normalise(engine.query(definition.sql(section, period), tables)))
        for section in definition.sections
    )
    return Report(
        definition,
        period,
        engine.name,
        generated_at or datetime.now(UTC),
        _coverage(coverage),
        sections,
    )
