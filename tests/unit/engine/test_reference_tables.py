"""Reference tables: kept in snapshots (a replay joins the table version that produced the
committed results), and NULL keys from a join that finds no row grouped as one key."""

from __future__ import annotations

from typing import Any

import msgspec
import pyarrow as pa
import pytest

from streamdash.engine import Processor
from streamdash.spec.models import Pipeline

from .conftest import Run, to_chunks

T0_MS = 1_700_000_000_000


def campaign_pipeline(window: dict[str, Any] | None) -> Pipeline:
    view: dict[str, Any] = {
        "from": "clicks",
        "group_by": ["campaign_id", "country"],
        "metrics": {"n": "count()", "spend": "sum(amount)", "p50": "quantile(amount, 0.5)"},
    }
    if window is not None:
        view["window"] = window
    return Pipeline.model_validate(
        {
            "streams": {
                "clicks": {
                    "time": {"field": "ts", "unit": "ms"},
                    "lateness": "1s",
                    "schema": {"ts": "int64", "user_id": "int64", "campaign_id": "string?"},
                    "derived": {"amount": "CAST(user_id % 7 AS DOUBLE)"},
                    "joins": [{"table": "users", "on": "user_id"}],
                }
            },
            "tables": {
                "users": {
                    "key": "id",
                    "schema": {"id": "int64", "country": "string"},
                    "source": {"generator": "users"},
                }
            },
            "views": {"campaigns": view},
        }
    )


USERS_V1 = pa.table({"id": [1, 2], "country": ["FR", "DE"]})
USERS_V2 = pa.table({"id": [1, 2, 3], "country": ["IT", "IT", "IT"]})


def clicks(n: int, start: int = 0) -> list[dict[str, Any]]:
    """Users 1-4 (3 and 4 are missing from USERS_V1), campaigns c1, c2 and none."""
    return [
        {
            "ts": T0_MS + (start + i) * 250,
            "user_id": i % 4 + 1,
            "campaign_id": [None, "c1", "c2"][i % 3],
        }
        for i in range(n)
    ]


def keys_of(run: Run) -> dict[tuple[Any, ...], dict[str, Any]]:
    return run.rows.get("campaigns", {})


@pytest.mark.parametrize(
    "window", [{"tumbling": "10s"}, {"hopping": {"size": "10s", "every": "5s"}}, None]
)
@pytest.mark.parametrize("batch", [1, 7, 1000])
def test_null_keys_from_a_join_are_one_group_whatever_the_batching(
    window: dict[str, Any] | None, batch: int
) -> None:
    pipeline = campaign_pipeline(window)
    run = Run(Processor(pipeline, {"users": USERS_V1}))
    events = clicks(120)
    run.feed(to_chunks(events, 5, stream="clicks"), batch_events=batch)
    rows = keys_of(run)
    # one row per window and key, NULL keys included (Run keys rows by the primary key)
    null_rows = [r for r in rows.values() if r["country"] is None]
    assert null_rows and any(r["campaign_id"] is None for r in null_rows)
    total = sum(r["n"] for r in rows.values())
    panes = 2 if window and "hopping" in window else 1
    assert total == len(events) * panes
    if window is None:
        expected: dict[tuple[Any, Any], int] = {}
        for e in events:
            country = {1: "FR", 2: "DE"}.get(e["user_id"])
            key = (e["campaign_id"], country)
            expected[key] = expected.get(key, 0) + 1
        assert {k: r["n"] for k, r in rows.items()} == expected


def test_null_key_results_do_not_depend_on_batch_size() -> None:
    pipeline = campaign_pipeline({"session": {"gap": "2s"}})
    results = []
    for batch in (1, 13, 1000):
        run = Run(Processor(pipeline, {"users": USERS_V1}))
        run.feed(to_chunks(clicks(90), 3, stream="clicks"), batch_events=batch)
        results.append(keys_of(run))
    assert results[0] == results[1] == results[2]
    assert any(k[2] is None for k in results[0])  # (window_start, campaign_id, country)


def _sorted(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(rows, key=lambda row: repr(sorted(row.items())))


def test_snapshot_keeps_the_reference_table_version() -> None:
    pipeline = campaign_pipeline(None)
    first = Processor(pipeline, {"users": USERS_V1})
    first.process("clicks", to_chunks(clicks(8), 4, stream="clicks"), now_us=0)
    snapshot = first.snapshot()
    first.set_table("users", USERS_V2)  # a refresh after the checkpoint
    # a restart loads the table from its source again: now version 2
    restarted = Processor(pipeline, {"users": USERS_V2})
    restarted.restore(snapshot)
    # the replay of the events after the checkpoint joins version 1, like the original run
    later = to_chunks(clicks(4, start=8), 4, stream="clicks", start=8)
    replayed = restarted.process("clicks", later, now_us=0)
    original = Processor(pipeline, {"users": USERS_V1})
    original.process("clicks", to_chunks(clicks(8), 4, stream="clicks"), now_us=0)
    expected = original.process("clicks", later, now_us=0)
    # the same rows; their order is DuckDB's (two threads), not part of the contract
    assert _sorted(replayed.updates[0].rows.to_pylist()) == _sorted(
        expected.updates[0].rows.to_pylist()
    )
    countries = {r["country"] for r in replayed.updates[0].rows.to_pylist()}
    assert countries == {"FR", "DE", None}
    # set_table after a restore takes effect as usual
    restarted.set_table("users", USERS_V2)
    batch = restarted.process(
        "clicks", to_chunks(clicks(4, start=12), 4, stream="clicks", start=12), now_us=0
    )
    assert "IT" in {r["country"] for r in batch.updates[0].rows.to_pylist()}


def test_snapshot_without_tables_keeps_the_loaded_ones() -> None:
    """Snapshots written before reference tables were kept restore as before."""
    pipeline = campaign_pipeline(None)
    processor = Processor(pipeline, {"users": USERS_V1})
    old = msgspec.msgpack.decode(processor.snapshot())
    del old["tables"]
    restored = Processor(pipeline, {"users": USERS_V2})
    restored.restore(msgspec.msgpack.encode(old))
    batch = restored.process("clicks", to_chunks(clicks(4), 4, stream="clicks"), now_us=0)
    assert {r["country"] for r in batch.updates[0].rows.to_pylist()} == {"IT", None}


def test_after_the_replay_the_tables_loaded_at_start_apply_again() -> None:
    pipeline = campaign_pipeline(None)
    first = Processor(pipeline, {"users": USERS_V1})
    snapshot = first.snapshot()
    assert first.resume_tables() is False  # nothing was restored
    restarted = Processor(pipeline, {"users": USERS_V2})
    restarted.restore(snapshot)
    replayed = restarted.process("clicks", to_chunks(clicks(4), 4, stream="clicks"), now_us=0)
    assert {r["country"] for r in replayed.updates[0].rows.to_pylist()} == {"FR", "DE", None}
    assert restarted.resume_tables() is True  # the runner checkpoints after this
    assert restarted.resume_tables() is False
    later = to_chunks(clicks(4, start=4), 4, stream="clicks", start=4)
    batch = restarted.process("clicks", later, now_us=0)
    assert {r["country"] for r in batch.updates[0].rows.to_pylist()} == {"IT", None}
