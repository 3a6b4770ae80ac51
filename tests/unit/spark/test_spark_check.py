"""`streamdash check --engine spark`: what Spark cannot run is reported with its YAML path
and reason before anything starts; the built-in specs have nothing to report."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import pytest

from streamdash.spark.check import spark_notes, spark_problems
from streamdash.spark.session import SESSION_THREAD
from streamdash.spec.loader import load_builtin, load_pipeline

SPECS = Path(__file__).parents[2] / "fixtures" / "specs"


def test_every_builtin_spec_runs_on_spark() -> None:
    assert spark_problems(load_builtin()) == []


def test_the_differences_are_notes_not_errors() -> None:
    notes = dict(spark_notes(load_builtin()))
    assert "closed" in notes["views.user_sessions.window"]


def test_each_untranslatable_part_is_reported_with_its_path() -> None:
    problems = dict(spark_problems(load_pipeline(SPECS / "duckdb_only.yaml")))
    assert set(problems) == {
        "streams.readings.lateness",
        "streams.readings.derived.big",
        "views.per_sensor.where",
        "views.per_sensor.metrics.top",
    }
    assert "milliseconds" in problems["streams.readings.lateness"]
    assert "UBIGINT" in problems["streams.readings.derived.big"]
    assert "GLOB" in problems["views.per_sensor.where"]
    assert "list_aggregate" in problems["views.per_sensor.metrics.top"]


def test_derived_fields_of_streams_without_views_are_not_checked() -> None:
    spec = """
streams:
  a:
    time: {field: t, unit: ms}
    schema: {t: int64, x: float64}
    derived: {y: "x::UBIGINT"}
"""
    assert spark_problems(load_pipeline(spec)) == []


def test_extra_sinks_are_refused_rather_than_silently_not_written() -> None:
    sinks = {"influx": {"type": "influxdb", "inputs": [{"view": "campaign_metrics"}]}}
    pipeline = load_builtin("user_events").model_copy(update={"sinks": sinks})
    problems = dict(spark_problems(pipeline))
    assert set(problems) == {"sinks.influx"}
    assert "embedded engine only" in problems["sinks.influx"]


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "streamdash", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_check_command_with_spark_engine() -> None:
    spec = str(SPECS / "duckdb_only.yaml")
    assert _cli("check", spec).returncode == 0  # fine for the embedded engine
    refused = _cli("check", spec, "--engine", "spark")
    assert refused.returncode == 1
    assert "4 part(s) cannot run on Spark" in refused.stderr
    assert "views.per_sensor.metrics.top: function list_aggregate()" in refused.stderr
    ok = _cli("check", str(SPECS / "thermostats.yaml"), "--engine", "spark")
    assert ok.returncode == 0, ok.stderr
    unknown = _cli("check", spec, "--engine", "flink")
    assert unknown.returncode == 2
    assert "expected duckdb or spark" in unknown.stderr


def test_spark_run_without_kafka_fails_before_launching_spark() -> None:
    """(A refused spec is checked while the JVM boots: tests/integration/spark.)"""
    from typer.testing import CliRunner

    from streamdash.cli import app

    no_kafka = {"STREAMDASH_KAFKA_BOOTSTRAP": None}
    missing = CliRunner().invoke(
        app, ["spark", "run", str(SPECS / "thermostats.yaml")], env=no_kafka
    )
    assert missing.exit_code == 2
    assert "give --kafka HOST:PORT" in missing.output
    assert not _launching()


def test_spark_run_names_a_wrong_reader_or_decode_choice(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from streamdash.cli import app

    base = ["spark", "run", str(SPECS / "thermostats.yaml"), "--kafka", "127.0.0.1:1"]
    for option, value, expected in (
        ("--kafka-reader", "jdbc", "expected auto, connector or python"),
        ("--decode", "jvm", "expected auto, source or spark"),
    ):
        result = CliRunner().invoke(app, [*base, "--data-dir", str(tmp_path), option, value])
        assert result.exit_code == 2, result.output
        assert f"{option} {value!r}: {expected}" in result.output
        assert not _launching()


def _launching() -> bool:
    """Whether a SparkSession is being launched in this process (`launch_session`)."""
    return any(thread.name == SESSION_THREAD for thread in threading.enumerate())


def test_decoding_in_the_source_needs_the_python_source() -> None:
    from streamdash.errors import Fatal
    from streamdash.spark.runner import decode_in_source

    assert decode_in_source("python", "auto") and decode_in_source("python", "source")
    assert not decode_in_source("python", "spark") and not decode_in_source("connector", "auto")
    with pytest.raises(Fatal, match="only with streamdash's Python Kafka source"):
        decode_in_source("connector", "source")
