"""The Spark benchmark's verdicts: the embedded engine against both Spark jobs (the
runner, and the hand-written job the issue's peer numbers come from)."""

from __future__ import annotations

from streamdash.bench.spark import SparkBenchResult


def _result(runner: float, handwritten: float, embedded: float) -> SparkBenchResult:
    return SparkBenchResult(
        events=1_000_000, spark_events_per_s=runner, spark_seconds=1e6 / runner,
        spark_steady_events_per_s=runner, embedded_events_per_s=embedded,
        kafka_decode_events_per_s=150e3, msgspec_decode_events_per_s=1.8e6,
        spark_counted=1_000_000, spark_latency_p50_ms=700.0, spark_latency_p99_ms=1100.0,
        spark_never_visible=0, embedded_latency_p50_ms=100.0, embedded_latency_p99_ms=160.0,
        spark_first_row_s=15.0, embedded_cold_first_row_s=2.5, embedded_warm_first_row_s=2.4,
        handwritten_events_per_s=handwritten, handwritten_latency_p99_ms=1000.0,
        handwritten_first_row_s=14.0,
    )  # fmt: skip


def _ten_times(result: SparkBenchResult) -> dict[str, bool | None]:
    return {m.target: m.met for m in result.measures() if m.target.startswith(">= 10x")}


def test_the_embedded_engine_is_judged_against_each_spark_job() -> None:
    # a runner faster than the hand-written job: 10x the latter, not the former
    verdicts = _ten_times(_result(runner=135e3, handwritten=115e3, embedded=1.2e6))
    assert verdicts == {">= 10x Spark": False, ">= 10x hand-written": True}
    verdicts = _ten_times(_result(runner=100e3, handwritten=120e3, embedded=1.1e6))
    assert verdicts == {">= 10x Spark": True, ">= 10x hand-written": False}


def test_the_runner_is_judged_against_the_handwritten_job() -> None:
    measures = {m.name: m for m in _result(120e3, 100e3, 1.2e6).measures()}
    assert measures["Spark runner --once"].met is True
    assert measures["Spark runner event -> row p99"].met is False  # 1100 > 1000 ms
    assert measures["Spark runner start -> first row"].met is False  # 15 > 14 s
