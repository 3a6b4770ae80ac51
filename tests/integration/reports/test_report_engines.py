"""The same report from both engines: DuckDB in-process and Spark SQL (pyspark local[2],
tables read over JDBC with Debian's PostgreSQL driver) give the same rows, in the same
order, for every section of both reports — the proof that the SQL is written once in their
common subset. One short period (trend = the stored windows) and one long one (trend =
`date_trunc` buckets).

Starts a JVM (several seconds, more on a loaded machine): marked slow, run by `make test`."""

from __future__ import annotations

import math
import shutil
from collections.abc import Iterator

import pytest
from report_support import ReportData, at

from streamdash.reports import Period, build_report
from streamdash.reports.app_health import APP_HEALTH
from streamdash.reports.build import Report
from streamdash.reports.campaigns import CAMPAIGNS
from streamdash.reports.definitions import ReportDefinition, bucket_expression
from streamdash.reports.duckdb_engine import DuckDBEngine
from streamdash.reports.spark_engine import SparkEngine
from streamdash.spark.session import DEBIAN_JDBC_JAR

pytest.importorskip("pyspark", reason="the [spark] extra is not installed (make test installs it)")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("java") is None, reason="Spark needs Java 17 on PATH"),
    pytest.mark.skipif(
        not DEBIAN_JDBC_JAR.is_file(),
        reason="Debian libpostgresql-jdbc-java is not installed (make test installs it as root)",
    ),
]
SHORT = Period(at(5), at(15))
LONG = Period(at(-300), at(300))


@pytest.fixture(scope="module", params=[SHORT, LONG], ids=["short", "long"])
def spark(request: pytest.FixtureRequest, report_db: ReportData) -> Iterator[SparkEngine]:
    engine = SparkEngine(report_db.url, request.param)
    try:
        yield engine
    finally:
        engine.close()


def _both(definition: ReportDefinition, data: ReportData, spark: SparkEngine) -> list[Report]:
    duckdb = DuckDBEngine(data.url, spark.period)
    try:
        return [build_report(definition, e, spark.period) for e in (duckdb, spark)]
    finally:
        duckdb.close()


def _same(a: object, b: object) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return (math.isnan(a) and math.isnan(b)) or math.isclose(a, b, rel_tol=1e-9)
    return type(a) is type(b) and a == b


@pytest.mark.parametrize("definition", [APP_HEALTH, CAMPAIGNS], ids=lambda d: d.name)
def test_duckdb_and_spark_give_the_same_report(
    definition: ReportDefinition, report_db: ReportData, spark: SparkEngine
) -> None:
    by_duckdb, by_spark = _both(definition, report_db, spark)
    assert by_spark.engine == "spark"
    assert by_duckdb.coverage == by_spark.coverage and by_duckdb.coverage.rows > 0
    for ours, theirs in zip(by_duckdb.sections, by_spark.sections, strict=True):
        name = ours.section.name
        assert ours.rows.schema == theirs.rows.schema, name
        assert ours.rows.num_rows == theirs.rows.num_rows > 0, name
        for i, (a, b) in enumerate(
            zip(ours.rows.to_pylist(), theirs.rows.to_pylist(), strict=True)
        ):
            different = {k: (a[k], b[k]) for k in a if not _same(a[k], b[k])}
            assert not different, f"{name} row {i}: {different}"
    if spark.period is LONG:
        assert bucket_expression(LONG).startswith("date_trunc('minute'")
