"""PostgresSink against a real PostgreSQL: tables, upserts, deletes, dead letters, offsets,
checkpoints, atomicity, retries."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import psycopg
import pyarrow as pa
import pytest

from streamdash.errors import StoreUnavailable
from streamdash.results import CommitBatch, DeadLetter, ViewSchema, ViewUpdate
from streamdash.store import BatchRejected, PostgresSink, SchemaMismatch

S = 1_000_000  # microseconds per second
APP = ViewSchema(
    view="application_metrics",
    table="application_metrics",
    stream="app_logs",
    window="tumbling",
    keys=(("application_id", pa.string()),),
    metrics=(("request_count", pa.int64()), ("error_rate", pa.float64())),
)
SESSIONS = ViewSchema(
    view="sessions",
    table="sessions",
    stream="app_logs",
    window="session",
    keys=(("user_id", pa.int32()),),
    metrics=(("events", pa.int64()),),
)
TOTAL = ViewSchema(
    view="total", table="total", stream="app_logs", window="none", keys=(),
    metrics=(("events", pa.int64()),),
)  # fmt: skip


def app_rows(*rows: tuple[int, str, int, float, bool]) -> pa.Table:
    """(window start s, application, count, error rate, final) -> rows of APP (10 s windows)."""
    return pa.table(
        {
            "window_start": pa.array([r[0] * S for r in rows], pa.timestamp("us", tz="UTC")),
            "window_end": pa.array([(r[0] + 10) * S for r in rows], pa.timestamp("us", tz="UTC")),
            "application_id": [r[1] for r in rows],
            "request_count": pa.array([r[2] for r in rows], pa.int64()),
            "error_rate": [r[3] for r in rows],
            "final": [r[4] for r in rows],
        },
        schema=APP.arrow_schema,
    )


def table_rows(url: str, query: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute(query).fetchall()


def app_table(url: str) -> list[tuple[Any, ...]]:
    return table_rows(
        url,
        "SELECT extract(epoch FROM window_start)::int, application_id, request_count, "
        "error_rate, final FROM application_metrics ORDER BY 1, 2",
    )


@pytest.fixture
def sink(pg_db: str) -> Iterator[PostgresSink]:
    with PostgresSink(pg_db) as opened:
        opened.open([APP, SESSIONS, TOTAL])
        yield opened


def test_open_creates_result_and_internal_tables(sink: PostgresSink, pg_db: str) -> None:
    columns = table_rows(
        pg_db,
        "SELECT column_name, data_type, is_nullable FROM information_schema.columns "
        "WHERE table_name = 'application_metrics' ORDER BY ordinal_position",
    )
    assert columns == [
        ("window_start", "timestamp with time zone", "NO"),
        ("window_end", "timestamp with time zone", "NO"),
        ("application_id", "text", "YES"),  # a key from a left join may be NULL
        ("request_count", "bigint", "YES"),
        ("error_rate", "double precision", "YES"),
        ("final", "boolean", "NO"),
        ("updated_at", "timestamp with time zone", "NO"),
    ]
    tables = {r[0] for r in table_rows(pg_db, "SELECT tablename FROM pg_tables")}
    expected = {"streamdash_offsets", "streamdash_checkpoints", "streamdash_counters"}
    assert expected | {"dead_letters", "sessions", "total"} <= tables
    sink.open([APP, SESSIONS, TOTAL])  # opening again is a no-op


def test_existing_table_with_other_columns_is_a_clear_error(pg_db: str) -> None:
    with psycopg.connect(pg_db, autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE application_metrics (window_start timestamptz, application_id text, "
            "request_count integer, note text)"
        )
    with PostgresSink(pg_db) as sink, pytest.raises(SchemaMismatch) as caught:
        sink.open([APP])
    message = str(caught.value)
    assert "missing column error_rate double precision" in message
    assert "unexpected column note text" in message
    assert "column request_count is integer, expected bigint" in message
    assert table_rows(pg_db, "SELECT count(*) FROM application_metrics") == [(0,)]


def test_upsert_is_idempotent_and_later_batches_overwrite(sink: PostgresSink, pg_db: str) -> None:
    first = CommitBatch(
        updates=[ViewUpdate(APP.view, app_rows((0, "a", 5, 0.2, False), (0, "b", 1, 0.0, False)))],
        offsets={"app_logs": 6},
    )
    sink.commit("engine", first)
    sink.commit("engine", CommitBatch(updates=first.updates, offsets={"app_logs": 6}))
    assert app_table(pg_db) == [(0, "a", 5, 0.2, False), (0, "b", 1, 0.0, False)]
    b_updated = table_rows(
        pg_db, "SELECT updated_at FROM application_metrics WHERE application_id='b'"
    )

    later = app_rows((0, "a", 9, 0.5, True), (10, "a", 1, 0.0, False))
    sink.commit("engine", CommitBatch(updates=[ViewUpdate(APP.view, later)]))
    assert app_table(pg_db) == [
        (0, "a", 9, 0.5, True),
        (0, "b", 1, 0.0, False),
        (10, "a", 1, 0.0, False),
    ]
    # an unchanged row is not rewritten
    assert (
        table_rows(pg_db, "SELECT updated_at FROM application_metrics WHERE application_id='b'")
        == b_updated
    )


def test_duplicate_keys_in_one_batch_keep_the_last_row(sink: PostgresSink, pg_db: str) -> None:
    rows = app_rows((0, "a", 1, 0.0, False), (0, "a", 2, 0.0, False), (0, "a", 3, 0.1, True))
    sink.commit("engine", CommitBatch(updates=[ViewUpdate(APP.view, rows)]))
    assert app_table(pg_db) == [(0, "a", 3, 0.1, True)]


def _session_rows(*rows: tuple[int, int, int]) -> pa.Table:
    return pa.table(
        {
            "window_start": pa.array([r[0] * S for r in rows], pa.timestamp("us", tz="UTC")),
            "window_end": pa.array([(r[0] + 30) * S for r in rows], pa.timestamp("us", tz="UTC")),
            "user_id": pa.array([r[1] for r in rows], pa.int32()),
            "events": pa.array([r[2] for r in rows], pa.int64()),
            "final": [False] * len(rows),
        }
    )


def test_deleted_rows_are_removed(sink: PostgresSink, pg_db: str) -> None:
    sink.commit("e", CommitBatch(updates=[ViewUpdate("sessions", _session_rows((100, 1, 2)))]))
    sink.commit("e", CommitBatch(updates=[ViewUpdate("sessions", _session_rows((200, 1, 1)))]))
    # a late event bridges the gap: both sessions merge into one starting at 100
    merged = _session_rows((100, 1, 4))
    deleted = _session_rows((200, 1, 1)).select(["window_start", "user_id"])
    sink.commit("e", CommitBatch(updates=[ViewUpdate("sessions", merged, deleted=deleted)]))
    query = "SELECT extract(epoch FROM window_start)::int, user_id, events FROM sessions"
    assert table_rows(pg_db, query) == [(100, 1, 4)]


def test_keyless_running_view_has_one_row(sink: PostgresSink, pg_db: str) -> None:
    def total(*values: int) -> pa.Table:
        return pa.table({"events": pa.array(values, pa.int64()), "final": [False] * len(values)})

    sink.commit("e", CommitBatch(updates=[ViewUpdate("total", total(3))]))
    sink.commit("e", CommitBatch(updates=[ViewUpdate("total", total(5, 8))]))
    assert table_rows(pg_db, "SELECT events FROM total") == [(8,)]


def test_dead_letters_keep_raw_bytes_and_readable_text(sink: PostgresSink, pg_db: str) -> None:
    raw = b'{"a": \x00 1, "b": "\xff"}'
    letter = DeadLetter(
        stream="app_logs", reason="malformed", detail="line 1: invalid JSON", raw=raw,
        received_us=1_700_000_000 * S, event_time_us=None, offset=12,
    )  # fmt: skip
    late = DeadLetter(
        stream="app_logs", reason="late", detail="window closed", raw=b"{}",
        received_us=1_700_000_001 * S, event_time_us=1_600_000_000 * S, view=APP.view,
    )  # fmt: skip
    sink.commit("e", CommitBatch(dead_letters=[letter, late]))
    rows = table_rows(
        pg_db,
        "SELECT stream, view, reason, detail, raw, raw_text, event_time, received_at, "
        "log_offset, replayed_at FROM dead_letters ORDER BY id",
    )
    assert rows[0][:5] == ("app_logs", None, "malformed", "line 1: invalid JSON", raw)
    assert rows[0][5] == '{"a": \ufffd 1, "b": "\ufffd"}'
    assert rows[0][6:] == (None, datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC), 12, None)
    assert rows[1][1:3] == (APP.view, "late")
    assert rows[1][6] == datetime(2020, 9, 13, 12, 26, 40, tzinfo=UTC)


def test_offsets_watermarks_counters_and_checkpoint_round_trip(
    sink: PostgresSink, pg_db: str
) -> None:
    assert sink.load_offsets("engine") == {}
    assert sink.load_checkpoint("engine") is None
    sink.commit(
        "engine",
        CommitBatch(
            offsets={"app_logs": 100, "sensor": 7},
            watermarks={"app_logs": 5 * S},
            counters={("application_metrics", "late"): 2},
        ),
    )
    sink.commit(
        "engine",
        CommitBatch(
            offsets={"app_logs": 250},
            watermarks={"app_logs": 9 * S, "sensor": 3 * S},
            counters={("application_metrics", "late"): 1, ("app_logs", "rejected"): 4},
            checkpoint=b"\x00state\xff",
        ),
    )
    assert sink.load_offsets("engine") == {"app_logs": 250, "sensor": 7}
    assert sink.load_watermarks("engine") == {"app_logs": 9 * S, "sensor": 3 * S}
    assert sink.load_checkpoint("engine") == ({"app_logs": 250, "sensor": 7}, b"\x00state\xff")
    assert sink.load_offsets("other") == {}
    counters = table_rows(pg_db, "SELECT scope, name, value FROM streamdash_counters ORDER BY 1")
    assert counters == [("app_logs", "rejected", 4), ("application_metrics", "late", 3)]


def test_failed_batch_leaves_nothing_behind(sink: PostgresSink, pg_db: str) -> None:
    sink.commit("engine", CommitBatch(offsets={"app_logs": 10}, counters={("x", "n"): 1}))
    good = ViewUpdate(APP.view, app_rows((0, "a", 5, 0.2, False)))
    bad_rows = _session_rows((100, 1, 2)).set_column(
        1, "window_end", pa.array([None], pa.timestamp("us", tz="UTC"))
    )  # no window end: the database refuses it after the first update was written
    bad = CommitBatch(
        updates=[good, ViewUpdate("sessions", bad_rows)],
        dead_letters=[DeadLetter("app_logs", "invalid", "x", b"{}", received_us=0)],
        offsets={"app_logs": 20},
        counters={("x", "n"): 5},
        checkpoint=b"state",
    )
    with pytest.raises(BatchRejected, match="window_end"):
        sink.commit("engine", bad)
    assert app_table(pg_db) == []
    assert table_rows(pg_db, "SELECT count(*) FROM dead_letters") == [(0,)]
    assert table_rows(pg_db, "SELECT value FROM streamdash_counters") == [(1,)]
    assert sink.load_offsets("engine") == {"app_logs": 10}
    assert sink.load_checkpoint("engine") is None
    # the sink is still usable
    sink.commit("engine", CommitBatch(updates=[good], offsets={"app_logs": 20}))
    assert sink.load_offsets("engine") == {"app_logs": 20}


def test_rows_that_do_not_fit_the_view_are_rejected(sink: PostgresSink) -> None:
    rows = app_rows((0, "a", 5, 0.2, False)).drop_columns(["error_rate"])
    with pytest.raises(BatchRejected, match=r"missing: \['error_rate'\]"):
        sink.commit("e", CommitBatch(updates=[ViewUpdate(APP.view, rows)]))
    with pytest.raises(BatchRejected, match="not opened"):
        sink.commit("e", CommitBatch(updates=[ViewUpdate("nope", rows)]))


def test_retrying_the_same_batch_applies_it_once(sink: PostgresSink, pg_db: str) -> None:
    batch = CommitBatch(
        updates=[ViewUpdate(APP.view, app_rows((0, "a", 5, 0.2, False)))],
        dead_letters=[DeadLetter("app_logs", "invalid", "x", b"{}", received_us=0)],
        counters={("app_logs", "rejected"): 1},
        offsets={"app_logs": 3},
    )
    sink.commit("engine", batch)
    sink.commit("engine", batch)  # e.g. the COMMIT was applied but its acknowledgement lost
    assert table_rows(pg_db, "SELECT count(*) FROM dead_letters") == [(1,)]
    assert table_rows(pg_db, "SELECT value FROM streamdash_counters") == [(1,)]
    assert app_table(pg_db) == [(0, "a", 5, 0.2, False)]


def test_lost_connection_is_retryable_and_the_sink_reconnects(
    sink: PostgresSink, pg_db: str
) -> None:
    sink.commit("engine", CommitBatch(offsets={"app_logs": 1}))
    with psycopg.connect(pg_db, autocommit=True) as admin:
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    batch = CommitBatch(counters={("s", "n"): 1}, offsets={"app_logs": 2})
    with pytest.raises(StoreUnavailable):
        sink.commit("engine", batch)
    sink.commit("engine", batch)
    assert sink.load_offsets("engine") == {"app_logs": 2}
    assert table_rows(pg_db, "SELECT value FROM streamdash_counters") == [(1,)]


def test_unreachable_database_is_retryable_and_hides_the_password() -> None:
    sink = PostgresSink("postgresql://u:s3cret@127.0.0.1:1/x?connect_timeout=1")
    with pytest.raises(StoreUnavailable) as caught:
        sink.open([APP])
    assert "127.0.0.1:1" in str(caught.value) and "s3cret" not in str(caught.value)
