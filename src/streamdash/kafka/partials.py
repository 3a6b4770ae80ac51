"""The partitions' partial states in PostgreSQL, and the merge step of a partition's commit.

Table `streamdash_partials`: one row per (view, group, partition) with the partition's
partial state of the group (JSON, see `results.PartialState`). In the transaction that
commits a partition's batch (its results, offsets and watermark), for each view that needs
merging, under a lock that serialises the merges of that view:

1. upsert the batch's partial rows of the partition;
2. the stream's watermark = the smallest watermark over all partitions of its topic (none
   while any partition has none);
3. re-merge the groups the batch touched and the groups whose window ended at or before
   the watermark (all partitions passed it: they are final), from every partition's rows;
4. upsert the merged rows into the view's table, and delete the partial rows of the final
   groups (no partition can add to them any more: its events would be late there).

The lock (`pg_advisory_xact_lock` per view, taken after the batch's counter rows, in view
order) makes each merge see every partial committed before it: two workers merging the
same group one after the other each see the other's partition.
"""

from __future__ import annotations

from collections.abc import Sequence

import pyarrow as pa

from streamdash.kafka.merge import ViewMerger
from streamdash.results import PartialState, ViewSchema, ViewUpdate
from streamdash.store.progress import Cursor
from streamdash.store.upsert import write_update

DDL = """
CREATE TABLE IF NOT EXISTS streamdash_partials (
    view text NOT NULL,
    gkey text NOT NULL,
    source text NOT NULL,
    ws bigint,
    we bigint,
    state text NOT NULL,
    PRIMARY KEY (view, gkey, source)
);
CREATE INDEX IF NOT EXISTS streamdash_partials_due ON streamdash_partials (view, we);
CREATE TABLE IF NOT EXISTS streamdash_partial_views (
    view text PRIMARY KEY,
    structure text NOT NULL
);
"""
_PARTIAL_SCHEMA = pa.schema(
    [("gkey", pa.string()), ("ws", pa.int64()), ("we", pa.int64()), ("state", pa.string())]
)


def topic_watermark(cur: Cursor, prefix: str, stream: str, partitions: int) -> int | None:
    """The smallest committed watermark of the topic's partitions (consumers named
    `prefix<partition>`); None unless every one of the `partitions` has one."""
    cur.execute(
        """SELECT count(watermark_us), min(watermark_us) FROM streamdash_offsets
           WHERE consumer LIKE %s AND stream = %s AND watermark_us IS NOT NULL""",
        (prefix.replace("_", r"\_") + "%", stream),
    )
    row = cur.fetchone()
    assert row is not None
    count, low = row
    if low is None or int(str(count)) < partitions:
        return None
    return int(str(low))


def _upsert(cur: Cursor, source: str, partial: PartialState) -> None:
    rows = partial.rows.select(_PARTIAL_SCHEMA.names).cast(_PARTIAL_SCHEMA)
    cur.execute(
        "CREATE TEMP TABLE IF NOT EXISTS _sd_partials "
        "(gkey text, ws bigint, we bigint, state text) ON COMMIT DELETE ROWS"
    )
    with cur.copy("COPY _sd_partials (gkey, ws, we, state) FROM STDIN") as copy:
        for gkey, ws, we, state in zip(
            *(rows.column(i).to_pylist() for i in range(4)), strict=True
        ):
            copy.write_row((gkey, ws, we, state))
    cur.execute(
        """INSERT INTO streamdash_partials (view, gkey, source, ws, we, state)
           SELECT %s, gkey, %s, ws, we, state FROM _sd_partials
           ON CONFLICT (view, gkey, source) DO UPDATE SET
             ws = EXCLUDED.ws, we = EXCLUDED.we, state = EXCLUDED.state""",
        (partial.view, source),
    )
    cur.execute("TRUNCATE _sd_partials")
    cur.execute(
        """INSERT INTO streamdash_partial_views (view, structure) VALUES (%s, %s)
           ON CONFLICT (view) DO UPDATE SET structure = EXCLUDED.structure
           WHERE streamdash_partial_views.structure <> EXCLUDED.structure""",
        (partial.view, partial.structure),
    )


def merge_partials(
    cur: Cursor,
    *,
    source: str,
    views: Sequence[tuple[ViewSchema, ViewMerger]],
    partials: Sequence[PartialState],
    watermark: int | None,
) -> int:
    """Steps 1-4 of the module docstring for the merged `views` of one stream (call in
    the partition's commit, after `watermark` was read with `topic_watermark`); returns
    the number of merged rows written."""
    by_view = {p.view: p for p in partials}
    written = 0
    for schema, merger in sorted(views, key=lambda v: v[0].view):
        view = schema.view
        cur.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"streamdash_merge:{view}",))
        partial = by_view.get(view)
        touched: list[str] = []
        if partial is not None:
            _upsert(cur, source, partial)
            touched = [str(k) for k in partial.rows.column("gkey").to_pylist()]
        due: list[str] = []
        if watermark is not None and schema.windowed:
            cur.execute(
                "SELECT DISTINCT gkey FROM streamdash_partials WHERE view = %s AND we <= %s",
                (view, watermark),
            )
            due = [str(r[0]) for r in cur.fetchall()]
        groups = sorted(set(touched) | set(due))
        if not groups:
            continue
        cur.execute("SELECT structure FROM streamdash_partial_views WHERE view = %s", (view,))
        found = cur.fetchone()
        if found is None:
            continue
        cur.execute(
            "SELECT gkey, ws, we, state FROM streamdash_partials "
            "WHERE view = %s AND gkey = ANY(%s)",
            (view, groups),
        )
        fetched = cur.fetchall()
        table = pa.table(
            {name: [r[i] for r in fetched] for i, name in enumerate(_PARTIAL_SCHEMA.names)},
            schema=_PARTIAL_SCHEMA,
        )
        rows, finals = merger.merge(table, str(found[0]), watermark)
        write_update(cur, schema, ViewUpdate(view, rows))
        written += rows.num_rows
        if finals:
            cur.execute(
                "DELETE FROM streamdash_partials WHERE view = %s AND gkey = ANY(%s)",
                (view, finals),
            )
    return written
