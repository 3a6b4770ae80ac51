"""Line protocol text: types, escaping, NULLs and what the protocol cannot carry."""

from __future__ import annotations

from datetime import UTC, datetime

import pyarrow as pa

from streamdash.sinks.lineprotocol import encode, key, measurement, stored_tag


def test_types_of_fields() -> None:
    table = pa.table(
        {
            "k": ["a"],
            "i": pa.array([3], pa.int32()),
            "f": [1.5],
            "b": [True],
            "s": ['say "hi" \\ there'],
            "t": pa.array([datetime(2026, 1, 1, tzinfo=UTC)], pa.timestamp("us", tz="UTC")),
        }
    )
    (line,) = encode("m", table, ["k"], ["i", "f", "b", "s", "t"], [7])
    assert line == (
        'm,k=a i=3i,f=1.5,b=true,s="say \\"hi\\" \\\\ there",t="2026-01-01T00:00:00+00:00" 7'
    )


def test_nulls_nan_and_empty_tags_are_left_out() -> None:
    table = pa.table({"k": [None, ""], "f": [float("nan"), None], "g": [1.0, float("inf")]})
    lines = list(encode("m", table, ["k"], ["f", "g"], [1, 2]))
    assert lines == ["m g=1.0 1"]  # the second row has no field left: no point at all
    extra = [("log_offset", ["5i", "6i"])]
    assert list(encode("m", table, ["k"], ["f", "g"], [1, 2], extra))[1] == "m log_offset=6i 2"


def test_names_tags_and_keys_are_escaped() -> None:
    assert measurement("my m,x") == "my\\ m\\,x"
    assert key("a b,c=d") == "a\\ b\\,c\\=d"
    assert stored_tag("line\nbreak\\") == "line break"  # cannot be carried: normalised
    assert stored_tag("\\") is None
    table = pa.table({"tag key": ["x=y"], "field,key": [1]})
    assert next(encode("m", table, ["tag key"], ["field,key"], [0])) == (
        "m,tag\\ key=x\\=y field\\,key=1i 0"
    )
