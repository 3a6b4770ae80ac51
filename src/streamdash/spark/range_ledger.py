"""Dead letters and stream counters from the Python Kafka source's tasks, exactly once per
Kafka offset range.

The rows of a view's query carry only good events into Spark's aggregation, so what else
its offset ranges held (rejected messages, counts of events and duplicates: `RangeTally`)
is written by the task that read them, straight into the store — instead of a second query
reading every stream from Kafka again only to find its bad messages (which cost as much as
the views' own read: the Python client spends 3-4 us of CPU per message here).

Exactly once rests on the offset ranges: Spark's offset log fixes each micro-batch's range
per partition, and a replayed batch (a retried task, a restart after a crash) reads the very
same range. Each range's writes go in one transaction together with its row in
`streamdash_spark_ranges`, keyed by the query's checkpoint, topic, partition and first
offset; a range whose row exists was written already and is skipped whole. A range's
predecessors in the partition are deleted once a later one is written — Spark starts a
batch only after the one before has committed, so no range but the last two can be read
again — which keeps two rows per partition.

Only one query per stream writes them (the first view's; `ledger` options). The database
must be reachable from the executors, as it already is for the reference tables' JDBC reads.
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import psycopg

from streamdash.errors import StoreUnavailable
from streamdash.store import progress

if TYPE_CHECKING:
    from streamdash.spark.source_decode import RangeTally

RETRY_FOR_S = 30.0
"""How long a task waits for an unreachable database before it fails (Spark retries it)."""

LEDGER_TABLE = """CREATE TABLE IF NOT EXISTS streamdash_spark_ranges (
    query text NOT NULL,
    topic text NOT NULL,
    kafka_partition integer NOT NULL,
    start_offset bigint NOT NULL,
    end_offset bigint NOT NULL,
    written_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (query, topic, kafka_partition, start_offset)
)"""


@dataclass(frozen=True)
class OffsetRange:
    """Messages `[start, end)` of a topic's partition, as one of a query's tasks read them."""

    query: str
    """The query's checkpoint location: a new checkpoint starts a new ledger."""
    topic: str
    partition: int
    start: int
    end: int


def create_ledger(conn: psycopg.Connection[tuple[object, ...]]) -> None:
    conn.execute(LEDGER_TABLE)


def forget_ranges(database_url: str, query: str) -> None:
    """Drop the ranges of a query whose checkpoint has no batch yet: they are a former
    checkpoint's, and the new one reads its ranges anew."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("DELETE FROM streamdash_spark_ranges WHERE query = %s", (query,))


class RangeLedger:
    """One database connection of a Python worker process, kept across its tasks."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._conn: psycopg.Connection[tuple[object, ...]] | None = None

    def _connection(self) -> psycopg.Connection[tuple[object, ...]]:
        if self._conn is None or self._conn.closed or self._conn.broken:
            self._conn = psycopg.connect(self.url)
        return self._conn

    def record(self, stream: str, where: OffsetRange, tally: RangeTally) -> bool:
        """Write the range's dead letters and counters unless they were; True if written
        now. Retries a lost or unreachable database for `RETRY_FOR_S`."""
        deadline = time.monotonic() + RETRY_FOR_S
        delay = 0.2
        while True:
            try:
                return self._record(stream, where, tally)
            except psycopg.OperationalError as err:
                if self._conn is not None:
                    self._conn.close()
                if time.monotonic() > deadline:
                    raise StoreUnavailable(
                        f"the dead letters of Kafka {where.topic}[{where.partition}] offsets "
                        f"{where.start}..{where.end} could not be written: {err}"
                    ) from err
                time.sleep(delay)
                delay = min(delay * 2, 5.0)

    def _record(self, stream: str, where: OffsetRange, tally: RangeTally) -> bool:
        conn = self._connection()
        with conn.transaction(), conn.cursor() as cur:
            cur.execute(
                """INSERT INTO streamdash_spark_ranges
                     (query, topic, kafka_partition, start_offset, end_offset)
                   VALUES (%s, %s, %s, %s, %s)
                   ON CONFLICT DO NOTHING RETURNING end_offset""",
                (where.query, where.topic, where.partition, where.start, where.end),
            )
            if cur.fetchone() is None:
                return False
            cur.execute(
                """DELETE FROM streamdash_spark_ranges
                   WHERE query = %s AND topic = %s AND kafka_partition = %s
                     AND end_offset < %s""",
                (where.query, where.topic, where.partition, where.start),
            )
            progress.write_dead_letters(cur, tally.dead_letters)
            progress.add_counters(cur, tally.counters(stream))
        return True

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


@functools.lru_cache(maxsize=4)
def ledger_for(url: str) -> RangeLedger:
    return RangeLedger(url)
