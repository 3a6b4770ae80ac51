"""Each benchmark runs end to end at a tiny size and returns sane numbers.

No timing assertions: the machine is shared, and speed is what the benchmarks report, not
what tests judge. What is checked is that every piece ran and counted the right things.
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest
from rich.console import Console

from streamdash.bench import run_benchmarks, select
from streamdash.bench.dashboard import run_dashboard_benchmark
from streamdash.bench.engine import run_engine_benchmark
from streamdash.bench.freshness import run_freshness_benchmark
from streamdash.bench.ingest import run_ingest_benchmark
from streamdash.bench.memory import run_memory_benchmark
from streamdash.bench.report import Measure
from streamdash.bench.startup import run_startup_benchmark
from streamdash.bench.workload import percentile


def _positive(value: float) -> bool:
    return math.isfinite(value) and value > 0


def test_engine_counts_every_event_once() -> None:
    result = run_engine_benchmark(20_000, chunk_events=2_000, runs=1)
    assert result.counted_events == 20_000  # sum(request_count) in PostgreSQL
    assert result.result_rows > 0
    assert _positive(result.log_to_postgres_events_per_s)
    assert _positive(result.processor_events_per_s)
    assert _positive(result.msgspec_decode_events_per_s)
    assert [m.name for m in result.measures()] == ["log -> PostgreSQL", "Processor alone"]


def test_ingest_accepts_over_http() -> None:
    result = run_ingest_benchmark(1.0, clients=2, body_bytes=64 << 10)
    assert result.requests > 0
    assert _positive(result.http_events_per_s)
    assert _positive(result.validate_events_per_s)
    assert result.request_p50_ms <= result.request_p99_ms


def test_freshness_sees_every_batch() -> None:
    result = run_freshness_benchmark(2.0, rate=2_000.0)
    assert result.batches == 40
    assert result.never_visible == 0
    assert 0 < result.visible_p50_ms <= result.visible_p95_ms <= result.visible_p99_ms
    assert result.polls > 0


def test_startup_cold_then_warm() -> None:
    result = run_startup_benchmark(1)
    for timing in (*result.cold_runs, *result.warm_runs):
        assert 0 < timing.healthz_s <= timing.posted_s <= timing.first_row_s


@pytest.mark.skipif(shutil.which("chromium") is None, reason="Debian `chromium` is not installed")
def test_dashboard_sees_every_probe_in_every_viewer() -> None:
    result = run_dashboard_benchmark(
        3.0, viewer_counts=(1, 2), probe_every=0.5, seed_users_count=20
    )
    assert [p.viewers for p in result.phases] == [1, 2]
    for phase in result.phases:
        assert phase.probes >= 3
        assert phase.missing == 0
        assert phase.samples == phase.probes * phase.viewers
        # committed before shown: the row poller runs on the same clock as the pages
        assert 0 < phase.post_to_row_p50_ms <= phase.post_to_dom_p50_ms
        assert phase.queries_per_s > 0  # counted by PostgreSQL for the viewer role
        assert phase.dashboard_cpu_cores > 0
    assert len(result.measures()) == 12


def test_memory_samples_both_processes() -> None:
    result = run_memory_benchmark(3.0, rate=2_000.0, sample_every=1.0)
    assert [s.process for s in result.series] == ["api", "engine"]
    for series in result.series:
        assert len(series.rss_mb) >= 3
        assert all(_positive(m) for m in series.rss_mb)
        assert math.isfinite(series.slope_mb_per_min())
    assert result.events > 0


def test_run_benchmarks_prints_and_writes_json(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    console = Console(record=True, width=200)
    results = run_benchmarks(events=5_000, only="engine", console=console, json_path=out)
    assert len(results) == 1
    assert "log -> PostgreSQL" in console.export_text()
    saved = json.loads(out.read_text())
    assert saved["machine"]["cpus"] >= 1
    assert saved["results"][0]["raw"]["events"] == 5_000


def test_select_names_and_aliases() -> None:
    assert select(None) == [
        "engine",
        "ingest",
        "freshness",
        "startup",
        "dashboard",
        "memory",
        "kafka",
    ]
    assert select("start,engine") == ["startup", "engine"]
    with pytest.raises(ValueError, match="unknown benchmark"):
        select("speed")


def test_percentile_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 50.0
    assert percentile(values, 99) == 99.0
    assert percentile([3.0], 99) == 3.0


def test_measure_ratio() -> None:
    assert Measure("x", "y", 2.0, "events/s", 4.0).ratio == 0.5
    assert Measure("x", "y", 2.0, "events/s").ratio is None


def test_kafka_rows_compare_with_the_same_run() -> None:
    from streamdash.bench.kafka import KafkaBenchResult

    result = KafkaBenchResult(1000, 4, 500_000.0, 260_000.0, 450_000.0, 200_000.0)
    result.cores = {"bare": {"bare consumer": 1.0}, "1 worker(s)": {"workers": 0.9, "broker": 0.1}}
    _, default, one, two, *cpu = result.measures()
    assert default.baseline == 500_000.0 and default.ratio == 0.4
    assert one.baseline == 500_000.0 and one.met is True
    assert two.baseline == 260_000.0 and two.ratio is not None and two.met is False
    assert [(m.name, round(m.value, 2), m.unit, m.baseline) for m in cpu] == [
        ("bare: CPU per event", 2.0, "CPU us/event", None),
        ("1 worker(s): CPU per event", 3.46, "CPU us/event", 2.0),
        ("bare: CPU of the bare consumer", 1.0, "cores", None),
        ("1 worker(s): CPU of the workers", 0.9, "cores", None),
        ("1 worker(s): CPU of the broker", 0.1, "cores", None),
    ]
