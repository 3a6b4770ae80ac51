"""The InfluxDB sink against a real InfluxDB 1.x (Debian's influxd): what it writes equals
what the engine computed, a write repeated after a crash replaces instead of adding, and a
sink that is down holds the offsets back instead of losing data."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streamdash.engine import Processor
from streamdash.errors import StoreUnavailable
from streamdash.log.sqlite import SqliteLog
from streamdash.results import CommitBatch
from streamdash.runtime.runner import EngineRunner
from streamdash.runtime.tables import load_table
from streamdash.sinks.influxdb import InfluxSink
from streamdash.sinks.lineprotocol import stored_tag
from streamdash.sinks.outputs import WithExtraSinks
from streamdash.sources.generators import generate
from streamdash.spec.loader import load_builtin
from streamdash.spec.models import Pipeline
from streamdash.spec.sinks import InfluxSinkSpec
from streamdash.store.postgres import PostgresSink
from streamdash.testing.influxdb import InfluxServer, influxd_binary

pytestmark = pytest.mark.skipif(
    influxd_binary() is None, reason="Debian `influxdb` is not installed (`make test` installs it)"
)
DB = "streamdash"
START_US = 1_780_000_000_000_000
COUNT = 3000


@pytest.fixture(scope="module")
def influx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InfluxServer]:
    with InfluxServer(tmp_path_factory.mktemp("influx")) as server:
        yield server


def _pipeline(influx: InfluxServer, database: str) -> Pipeline:
    sinks = {
        "influx": {
            "type": "influxdb",
            "url": influx.url,
            "database": database,
            "inputs": [
                {"stream": "user_events", "tags": ["event_type", "campaign_type", "region"],
                 "fields": ["user_id", "total_amount", "units", "is_conversion", "age"]},
                {"view": "campaign_metrics"},
                {"view": "user_sessions"},
            ],
        }
    }  # fmt: skip
    return load_builtin("user_events").model_copy(update={"sinks": sinks})


def _sink(pipeline: Pipeline) -> InfluxSink:
    spec = InfluxSinkSpec.model_validate(pipeline.sinks["influx"])
    return InfluxSink("influx", spec, pipeline)


def _log(tmp: Path) -> SqliteLog:
    """The generated events in the embedded log (chunks of 500: batches of 700 read one)."""
    log = SqliteLog(tmp / "log")
    items = list(generate("user_events", count=COUNT, seed=3, start_us=START_US, rate=200))
    for i in range(0, COUNT, 500):
        part = items[i : i + 500]
        log.append("user_events", [(b"".join(line + b"\n" for line in part), len(part))])
    return log


def _count(influx: InfluxServer, database: str, measurement: str) -> int:
    rows = influx.rows(database, f'SELECT count("log_offset") FROM "{measurement}"')
    return int(rows[0]["count"]) if rows else 0


class FailOnce:
    """PostgresSink whose next commit fails (after the extra sinks wrote): a crash between
    the InfluxDB write and the PostgreSQL commit."""

    def __init__(self, inner: PostgresSink) -> None:
        self.inner = inner
        self.fail_next = False

    def open(self, schemas: Any) -> None:
        self.inner.open(schemas)

    def commit(self, consumer: str, batch: CommitBatch) -> None:
        if self.fail_next and batch.updates:
            self.fail_next = False
            raise StoreUnavailable("simulated crash before the PostgreSQL commit")
        self.inner.commit(consumer, batch)

    def load_offsets(self, consumer: str) -> dict[str, int]:
        return self.inner.load_offsets(consumer)

    def load_checkpoint(self, consumer: str) -> tuple[dict[str, int], bytes] | None:
        return self.inner.load_checkpoint(consumer)


def _runner(pipeline: Pipeline, log: SqliteLog, sink: Any) -> EngineRunner:
    tables = {n: load_table(n, s) for n, s in pipeline.tables.items()}
    return EngineRunner(
        Processor(pipeline, tables), log, sink, ["user_events"], batch_events=700,
        clock=lambda: START_US / 1e6 + 60,  # no wall-clock advance: results follow the log
    )  # fmt: skip


def test_events_and_rows_equal_postgres_across_a_crash_between_the_two(
    influx: InfluxServer, pg_db: str, tmp_path: Path
) -> None:
    database = "crash"
    pipeline = _pipeline(influx, database)
    log = _log(tmp_path)
    failing = FailOnce(PostgresSink(pg_db))
    influx_sink = _sink(pipeline)
    sink = WithExtraSinks(failing, [influx_sink])
    runner = _runner(pipeline, log, sink)
    runner.start()
    runner.step()  # batch 1 fully committed
    failing.fail_next = True
    with pytest.raises(StoreUnavailable):
        runner.step()  # batch 2: written to InfluxDB, not to PostgreSQL
    # what engine_main does after a Retryable: a fresh processor from the last checkpoint
    runner.processor.close()  # type: ignore[attr-defined]
    runner = _runner(pipeline, log, sink)
    runner.start()
    while runner.step():
        pass
    # every event once (the re-written ones replaced themselves), with its values
    assert _count(influx, database, "user_events") == COUNT
    points = influx.rows(database, 'SELECT * FROM "user_events" ORDER BY time')
    sent = [
        msgspec.json.decode(line)
        for c in log.read("user_events", 0, COUNT)
        for line in c.payload.splitlines()
    ]
    by_offset = {p["log_offset"]: p for p in points}
    for offset in (0, 1234, COUNT - 1):
        event, point = sent[offset], by_offset[offset]
        assert point["event_type"] == event["event_type"]
        assert point["user_id"] == event["user_id"]
        assert point["total_amount"] == event.get("total_amount")
    # every campaign_metrics row in PostgreSQL is a point with the same numbers
    with psycopg.connect(pg_db) as conn:
        rows = conn.execute(
            "SELECT (extract(epoch FROM window_start) * 1e9)::bigint, campaign_id, country, "
            "clicks, purchases, revenue FROM campaign_metrics"
        ).fetchall()
    got = {
        (p["time"], p["campaign_id"], p.get("country")): (p["clicks"], p["purchases"], p["revenue"])
        for p in influx.rows(database, 'SELECT * FROM "campaign_metrics" GROUP BY *')
    }
    assert len(got) == len(rows) > 10
    for t, campaign, country, clicks, purchases, revenue in rows:
        assert got[(t, campaign, country)][:2] == (clicks, purchases)
        assert got[(t, campaign, country)][2] == pytest.approx(revenue)
    # merged session windows were deleted from InfluxDB as from PostgreSQL
    with psycopg.connect(pg_db) as conn:
        sessions = conn.execute("SELECT count(*) FROM user_sessions").fetchone()
    influx_sessions = influx.rows(database, 'SELECT count("final") FROM "user_sessions"')
    assert sessions is not None and int(influx_sessions[0]["count"]) == sessions[0]
    runner.processor.close()  # type: ignore[attr-defined]
    failing.inner.close()
    influx_sink.close()
    log.close()


def test_a_sink_that_is_down_holds_the_offsets_back(pg_db: str, tmp_path: Path) -> None:
    down = InfluxServer(tmp_path / "down")  # never started: nothing listens on its port
    pipeline = _pipeline(down, "down")
    log = _log(tmp_path)
    with PostgresSink(pg_db) as postgres, _sink(pipeline) as sink:
        runner = _runner(pipeline, log, WithExtraSinks(postgres, [sink]))
        with pytest.raises(StoreUnavailable, match="InfluxDB sink 'influx'"):
            runner.start()  # open() creates the database
        sink.spec = sink.spec.model_copy(update={"create_database": False})
        runner.start()  # gets past open(); the first write fails
        with pytest.raises(StoreUnavailable, match="while writing"):
            runner.step()
        assert postgres.load_offsets("engine").get("user_events", 0) == 0
        runner.processor.close()  # type: ignore[attr-defined]
    log.close()


def test_writing_a_batch_twice_stores_it_once(influx: InfluxServer, tmp_path: Path) -> None:
    pipeline = _pipeline(influx, "twice")
    log = _log(tmp_path)
    processor = Processor(pipeline, {n: load_table(n, s) for n, s in pipeline.tables.items()})
    batch = processor.process("user_events", log.read("user_events", 0, COUNT), START_US + 10**8)
    with _sink(pipeline) as sink:
        sink.open()
        assert sink.write(batch) == sink.write(batch) > COUNT
    assert _count(influx, "twice", "user_events") == COUNT
    log.close()


TEXT = st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\x00"), max_size=20)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(tag=TEXT, value=TEXT)
def test_hostile_text_round_trips_through_a_real_server(
    influx: InfluxServer, tag: str, value: str
) -> None:
    """Any tag and string value is accepted by InfluxDB and read back as written (tags as
    `stored_tag` documents: line breaks as spaces, no trailing backslash)."""
    import pyarrow as pa

    from streamdash.sinks.lineprotocol import encode

    sink_spec = InfluxSinkSpec.model_validate({"type": "influxdb", "url": influx.url,
        "database": "text", "inputs": [{"view": "campaign_metrics"}]})  # fmt: skip
    with InfluxSink("t", sink_spec, load_builtin("user_events")) as sink:
        sink.open()
        stamp = time.time_ns()
        table = pa.table({"k": [tag], "s": [value]})
        assert sink.write_lines(encode("hostile", table, ["k"], ["s"], [stamp])) == 1
    (row,) = influx.rows("text", f'SELECT "s", "k" FROM "hostile" WHERE time = {stamp}')
    assert row["s"] == value
    assert row.get("k") == stored_tag(tag)
