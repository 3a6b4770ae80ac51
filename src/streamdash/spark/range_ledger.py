"""Dead letters and stream counters from the Python Kafka source's tasks, exactly once per
Kafka message.

The rows of a view's query carry only good events into Spark's aggregation, so what else
its offset ranges held (rejected messages, counts of events and duplicates: `RangeTally`)
is stored by the task that read them, straight into the database — instead of one more
query reading every stream from Kafka again only to find its bad messages (which cost as
much as the views' own read: the Python client spends 3-4 us of CPU per message here).

Every view of a stream reads all of its messages, so whichever query reads a message first
stores its part. The store remembers, per stream and Kafka partition, the offset up to
which that is done (`streamdash_spark_stored.stored_until`, like a consumer's committed
offset). A task locks that row, stores what its range holds from there on, and moves it to
the range's end, in one transaction: a retried task, a batch Spark replays after a crash,
the other views' queries and a view recomputed from a new checkpoint find the range stored
and add nothing. (A range always starts at or before `stored_until`: each query reads its
partitions from the start without gaps, and the first query to get anywhere stored it.)

The database must be reachable from the executors, as it already is for the reference
tables' JDBC reads.
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

STORED_TABLE = """CREATE TABLE IF NOT EXISTS streamdash_spark_stored (
    stream text NOT NULL,
    topic text NOT NULL,
    kafka_partition integer NOT NULL,
    stored_until bigint NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (stream, topic, kafka_partition)
)"""


@dataclass(frozen=True)
class OffsetRange:
    """Messages `[start, end)` of a stream's topic partition, as one task read them."""

    stream: str
    topic: str
    partition: int
    start: int
    end: int


def create_stored_table(conn: psycopg.Connection[tuple[object, ...]]) -> None:
    conn.execute(STORED_TABLE)


class RangeLedger:
    """One database connection of a Python worker process, kept across its tasks."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._conn: psycopg.Connection[tuple[object, ...]] | None = None

    def _connection(self) -> psycopg.Connection[tuple[object, ...]]:
        if self._conn is None or self._conn.closed or self._conn.broken:
            self._conn = psycopg.connect(self.url)
        return self._conn

    def record(self, where: OffsetRange, tally: RangeTally) -> int:
        """Store the dead letters and counters of the range's messages not stored yet;
        return how many messages that was. Retries a lost or unreachable database for
        `RETRY_FOR_S`."""
        deadline = time.monotonic() + RETRY_FOR_S
        delay = 0.2
        while True:
            try:
                return self._record(where, tally)
            except psycopg.OperationalError as err:
                self.close()
                if time.monotonic() > deadline:
                    raise StoreUnavailable(
                        f"the dead letters of Kafka {where.topic}[{where.partition}] offsets "
                        f"{where.start}..{where.end} could not be stored: {err}"
                    ) from err
                time.sleep(delay)
                delay = min(delay * 2, 5.0)

    def _record(self, where: OffsetRange, tally: RangeTally) -> int:
        key = (where.stream, where.topic, where.partition)
        conn = self._connection()
        with conn.transaction(), conn.cursor() as cur:
            # one statement creates the row or locks it (until the commit) and reads it
            cur.execute(
                """INSERT INTO streamdash_spark_stored AS s
                     (stream, topic, kafka_partition, stored_until) VALUES (%s, %s, %s, %s)
                   ON CONFLICT (stream, topic, kafka_partition)
                   DO UPDATE SET stored_until = s.stored_until RETURNING stored_until""",
                (*key, where.start),
            )
            row = cur.fetchone()
            assert row is not None and isinstance(row[0], int)
            first = max(row[0], where.start)
            if first >= where.end:
                return 0
            progress.write_dead_letters(cur, tally.letters_from(first))
            progress.add_counters(cur, tally.counters(where.stream, first))
            cur.execute(
                """UPDATE streamdash_spark_stored SET stored_until = %s, updated_at = now()
                   WHERE stream = %s AND topic = %s AND kafka_partition = %s""",
                (where.end, *key),
            )
        return where.end - first

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


@functools.lru_cache(maxsize=4)
def ledger_for(url: str) -> RangeLedger:
    return RangeLedger(url)
