"""The pipeline part of `/metrics`: progress committed by the engine's sink (real
PostgreSQL, rows written through `PostgresSink.commit`) and log end offsets, shown by a real
`streamdash serve` process; read at most once per second; a scrape survives a dead store."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from cli_support import cli_env, free_port, serve
from prometheus_client.parser import text_string_to_metric_families

from streamdash.log.sqlite import SqliteLog
from streamdash.results import CommitBatch
from streamdash.runtime.status import PipelineCollector
from streamdash.spec.loader import load_builtin
from streamdash.store.postgres import PostgresSink

WATERMARK_US = 1_714_564_812_345_678


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """(sample name, sorted labels) -> value of a Prometheus text exposition."""
    out: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def commit_progress(url: str) -> None:
    """Two engine batches' worth of bookkeeping, as the runner commits it."""
    with PostgresSink(url) as sink:
        sink.open([])
        sink.commit(
            "engine",
            CommitBatch(
                offsets={"app_logs": 40},
                watermarks={"app_logs": WATERMARK_US - 1_000_000},
                counters={
                    ("application_metrics", "late"): 2,
                    ("app_logs", "rejected"): 5,
                    ("engine", "batches"): 1,
                    ("engine", "batch_us"): 1_500_000,
                },
            ),
        )
        sink.commit(
            "engine",
            CommitBatch(
                offsets={"app_logs": 60, "users": 7},
                watermarks={"app_logs": WATERMARK_US},
                counters={
                    ("application_metrics", "late"): 1,
                    ("_unknown", "rejected"): 1,
                    ("engine", "batches"): 1,
                    ("engine", "batch_us"): 250_000,
                },
            ),
        )
        # another consumer's progress must not leak into the engine's numbers
        sink.commit("other", CommitBatch(offsets={"app_logs": 1}))


def fill_log(data_dir: Path) -> None:
    log = SqliteLog(data_dir / "log")
    try:
        log.append("app_logs", [(b"{}\n" * 100, 100)])
        log.append("users", [(b"{}\n" * 7, 7)])
    finally:
        log.close()


def test_serve_metrics_show_the_pipeline(pg_db: str, tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    fill_log(data_dir)
    commit_progress(pg_db)
    port = free_port()
    with serve(data_dir, port, cli_env(STREAMDASH_DATABASE_URL=pg_db)):
        response = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10)
    assert response.status_code == 200
    got = samples(response.text)

    def value(name: str, **labels: str) -> float:
        return got[(name, tuple(sorted(labels.items())))]

    assert value("streamdash_store_up") == 1
    assert value("streamdash_stream_logged_events_total", stream="app_logs") == 100
    assert value("streamdash_stream_processed_events_total", stream="app_logs") == 60
    assert value("streamdash_stream_lag_events", stream="app_logs") == 40
    assert value("streamdash_stream_lag_events", stream="users") == 0
    assert value("streamdash_stream_processed_events_total", stream="sensor") == 0
    assert value("streamdash_stream_watermark_seconds", stream="app_logs") == pytest.approx(
        WATERMARK_US / 1e6, abs=1e-6
    )
    assert ("streamdash_stream_watermark_seconds", (("stream", "sensor"),)) not in got
    assert (
        value("streamdash_view_late_events_total", view="application_metrics", stream="app_logs")
        == 3
    )
    assert value("streamdash_view_late_events_total", view="sensor_metrics", stream="sensor") == 0
    assert value("streamdash_stream_rejected_events_total", stream="app_logs") == 5
    assert value("streamdash_stream_rejected_events_total", stream="_unknown") == 1
    assert value("streamdash_engine_batches_total") == 2
    assert value("streamdash_engine_batch_seconds_total") == pytest.approx(1.75)
    # the API's own metrics are still there, in the same scrape
    assert any(name == "streamdash_log_append_seconds_count" for name, _ in got)


def test_collector_reads_at_most_once_per_ttl(pg_db: str, tmp_path: Path) -> None:
    fill_log(tmp_path)
    commit_progress(pg_db)
    now = [100.0]
    collector = PipelineCollector(
        load_builtin(), tmp_path / "log", pg_db, ttl_s=1.0, clock=lambda: now[0]
    )

    def processed() -> float:
        for family in collector.collect():
            for sample in family.samples:
                if sample.name == "streamdash_stream_processed_events_total" and (
                    sample.labels["stream"] == "app_logs"
                ):
                    return sample.value
        raise AssertionError("no processed count for app_logs")

    assert processed() == 60
    with PostgresSink(pg_db) as sink:
        sink.commit("engine", CommitBatch(offsets={"app_logs": 100}))
    now[0] += 0.5
    assert processed() == 60  # cached: the scrape did not touch the database
    assert collector.reads == 1
    now[0] += 0.6
    assert processed() == 100
    assert collector.reads == 2


def test_collector_without_a_store_still_answers(tmp_path: Path) -> None:
    fill_log(tmp_path)
    dead = f"postgresql://nobody@127.0.0.1:{free_port()}/nothing"
    collector = PipelineCollector(load_builtin(), tmp_path / "log", dead)
    got = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in collector.collect()
        for sample in family.samples
    }
    assert got[("streamdash_store_up", ())] == 0
    assert got[("streamdash_stream_logged_events_total", (("stream", "app_logs"),))] == 100
    assert not any(name.startswith("streamdash_stream_lag") for name, _ in got)


def test_collector_before_any_engine_ran_shows_zero_progress(pg_db: str, tmp_path: Path) -> None:
    fill_log(tmp_path)  # events arrived, but no engine created its tables yet
    collector = PipelineCollector(load_builtin(), tmp_path / "log", pg_db)
    got = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in collector.collect()
        for sample in family.samples
    }
    assert got[("streamdash_store_up", ())] == 1
    assert got[("streamdash_stream_lag_events", (("stream", "app_logs"),))] == 100
    assert ("streamdash_engine_batches_total", ()) not in got
