"""ResultReader against a real PostgreSQL: filters, ordering, limits, JSON-ready output."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime

import pyarrow as pa
import pytest

from streamdash.results import CommitBatch, DeadLetter, ViewSchema, ViewUpdate
from streamdash.store import InvalidQueryError, PostgresSink, ResultReader

S = 1_000_000
VIEW = ViewSchema(
    view="metrics",
    table="metrics",
    stream="s",
    window="tumbling",
    keys=(("app", pa.string()), ("shard", pa.int32())),
    metrics=(("n", pa.int64()), ("rate", pa.float64())),
)
USERS = ViewSchema(
    view="users", table="users", stream="s", window="none",
    keys=(("user_id", pa.int64()),), metrics=(("total", pa.int64()),),
)  # fmt: skip
T0 = 1_700_000_000  # a multiple of 10 s


def _rows() -> pa.Table:
    starts, apps, shards, counts, rates = [], [], [], [], []
    for w in range(5):
        for app in ("a", "b", "c"):
            starts.append((T0 + 10 * w) * S)
            apps.append(app)
            shards.append(w % 2)
            counts.append(w * 10 + ord(app) - ord("a"))
            rates.append(float("nan") if (w, app) == (0, "c") else w / 10)
    ts = pa.timestamp("us", tz="UTC")
    return pa.table(
        {
            "window_start": pa.array(starts, ts),
            "window_end": pa.array([s + 10 * S for s in starts], ts),
            "app": apps,
            "shard": pa.array(shards, pa.int32()),
            "n": pa.array(counts, pa.int64()),
            "rate": rates,
            "final": [s < (T0 + 30) * S for s in starts],
        }
    )


@pytest.fixture
def reader(pg_db: str) -> Iterator[ResultReader]:
    with PostgresSink(pg_db) as sink:
        sink.open([VIEW, USERS])
        users = pa.table(
            {
                "user_id": pa.array([1, 2], pa.int64()),
                "total": pa.array([10, 20], pa.int64()),
                "final": [False, False],
            }
        )
        letters = [
            DeadLetter("s", "malformed", f"bad {i}", f"raw {i}".encode(), received_us=i * S)
            for i in range(3)
        ]
        letters.append(DeadLetter("t", "late", "late", b"\xff", received_us=9 * S, view="x"))
        sink.commit(
            "engine",
            CommitBatch(
                updates=[ViewUpdate("metrics", _rows()), ViewUpdate("users", users)],
                dead_letters=letters,
                counters={("metrics", "late"): 2, ("s", "rejected"): 3},
                offsets={"s": 42},
                watermarks={"s": (T0 + 40) * S},
            ),
        )
    result = ResultReader(pg_db)
    yield result
    result.close()


def _at(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def test_newest_windows_first_and_json_ready(reader: ResultReader) -> None:
    rows = reader.query_view(VIEW, limit=4)
    assert [(r["window_start"], r["app"]) for r in rows] == [
        ("2023-11-14T22:14:00Z", "a"),
        ("2023-11-14T22:14:00Z", "b"),
        ("2023-11-14T22:14:00Z", "c"),
        ("2023-11-14T22:13:50Z", "a"),
    ]
    assert set(rows[0]) == {
        "window_start", "window_end", "app", "shard", "n", "rate", "final", "updated_at"
    }  # fmt: skip
    assert rows[0]["updated_at"].endswith("Z")
    json.dumps(rows, allow_nan=False)  # no datetimes, no NaN
    nan_row = reader.query_view(VIEW, key={"app": "c", "shard": "0"}, until=_at(T0 + 10))
    assert nan_row[0]["rate"] is None and nan_row[0]["n"] == 2


def test_since_until_and_key_filters(reader: ResultReader) -> None:
    rows = reader.query_view(VIEW, since=_at(T0 + 10), until=_at(T0 + 30), key={"app": "b"})
    assert [(r["window_start"], r["n"], r["shard"]) for r in rows] == [
        ("2023-11-14T22:13:40Z", 21, 0),
        ("2023-11-14T22:13:30Z", 11, 1),
    ]
    naive = datetime(2023, 11, 14, 22, 13, 50)  # taken as UTC
    assert len(reader.query_view(VIEW, since=naive)) == 6
    assert reader.query_view(VIEW, key={"app": "zzz"}) == []


def test_limits_and_bad_parameters(reader: ResultReader) -> None:
    assert len(reader.query_view(VIEW, limit=50_000)) == 15
    with pytest.raises(InvalidQueryError, match="at least 1"):
        reader.query_view(VIEW, limit=0)
    with pytest.raises(InvalidQueryError, match="expects a int32 value"):
        reader.query_view(VIEW, key={"shard": "one"})
    with pytest.raises(InvalidQueryError, match="no key column 'rate'"):
        reader.query_view(VIEW, key={"rate": "1"})


def test_running_view_filters_on_key(reader: ResultReader) -> None:
    rows = reader.query_view(USERS, key={"user_id": "2"})
    assert [(r["user_id"], r["total"]) for r in rows] == [(2, 20)]
    assert "window_start" not in rows[0]


def test_table_not_created_yet_reads_as_empty(reader: ResultReader) -> None:
    other = ViewSchema("later", "later", "s", "none", (("k", pa.string()),), ())
    assert reader.query_view(other) == []


def test_dead_letters_newest_first_with_filters(reader: ResultReader) -> None:
    rows = reader.dead_letters()
    assert [r["detail"] for r in rows] == ["late", "bad 2", "bad 1", "bad 0"]
    assert rows[0]["raw"] == "\ufffd" and rows[1]["raw"] == "raw 2"
    assert rows[1]["received_at"] == "1970-01-01T00:00:02Z"
    assert [r["detail"] for r in reader.dead_letters(stream="s", limit=2)] == ["bad 2", "bad 1"]
    assert [r["stream"] for r in reader.dead_letters(reason="late")] == ["t"]
    json.dumps(rows, allow_nan=False)


def test_mark_replayed(reader: ResultReader) -> None:
    ids = [r["id"] for r in reader.dead_letters(stream="s")]
    assert reader.mark_replayed(ids[:2]) == 2
    assert reader.mark_replayed(ids[:2]) == 0  # already replayed
    replayed = [r["replayed_at"] is not None for r in reader.dead_letters(stream="s")]
    assert replayed == [True, True, False]


def test_counters_and_offsets(reader: ResultReader) -> None:
    assert reader.counters() == {"metrics": {"late": 2}, "s": {"rejected": 3}}
    offsets = reader.offsets()
    assert offsets["engine"]["s"]["next_offset"] == 42
    assert offsets["engine"]["s"]["watermark_us"] == (T0 + 40) * S
    assert offsets["engine"]["s"]["watermark"] == "2023-11-14T22:14:00Z"
