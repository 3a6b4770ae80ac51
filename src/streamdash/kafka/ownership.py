"""Who owns a partition, in PostgreSQL: an epoch per partition that a worker bumps when the
group assigns the partition to it, checked (and the partition's high watermark recorded)
inside every commit of that partition.

Kafka's group protocol alone cannot stop a worker that lost a partition without noticing
(paused, partitioned from the broker: a "zombie") from committing results for it after the
new owner has taken over — which would count its events twice. With the epoch, the new
owner's claim makes every later commit of the old owner fail (`PartitionFenced`), and a
commit of the old owner that is in progress holds the row, so the claim (and the new
owner's reading of the offsets after it) waits for it: one of the two always sees the
other's effect.
"""

from __future__ import annotations

import psycopg

from streamdash.errors import StreamdashError
from streamdash.store.connection import connect
from streamdash.store.progress import Cursor

DDL = """
CREATE TABLE IF NOT EXISTS streamdash_kafka_partitions (
    consumer text PRIMARY KEY,
    grp text NOT NULL,
    topic text NOT NULL,
    part integer NOT NULL,
    stream text NOT NULL,
    epoch bigint NOT NULL,
    owner text NOT NULL,
    high_watermark bigint,
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS streamdash_kafka_partitions_topic
    ON streamdash_kafka_partitions (grp, topic);
"""


class PartitionFenced(StreamdashError):
    """Another worker claimed the partition since this one did: drop it, commit nothing."""


def consumer_name(group: str, topic: str, partition: int) -> str:
    """The name a partition's offsets and checkpoint are stored under."""
    return f"kafka:{group}:{topic}:{partition}"


class Ownership:
    """Claims partitions on a connection of its own (a claim commits on its own)."""

    def __init__(self, url: str, owner: str) -> None:
        self.url = url
        self.owner = owner
        self._conn: psycopg.Connection[tuple[object, ...]] | None = None

    def _connection(self) -> psycopg.Connection[tuple[object, ...]]:
        if self._conn is None or self._conn.closed or self._conn.broken:
            self._conn = connect(self.url)
        return self._conn

    def create(self) -> None:
        with self._connection().transaction() as tx:
            tx.connection.execute("SELECT pg_advisory_xact_lock(hashtext('streamdash_ddl'))")
            tx.connection.execute(DDL)

    def claim(self, group: str, topic: str, partition: int, stream: str) -> int:
        """Take the partition over; returns the new epoch."""
        row = (
            self._connection()
            .execute(
                """INSERT INTO streamdash_kafka_partitions AS p
                     (consumer, grp, topic, part, stream, epoch, owner)
                   VALUES (%s, %s, %s, %s, %s, 1, %s)
                   ON CONFLICT (consumer) DO UPDATE SET
                     epoch = p.epoch + 1, owner = EXCLUDED.owner, stream = EXCLUDED.stream,
                     updated_at = now()
                   RETURNING epoch""",
                (
                    consumer_name(group, topic, partition),
                    group,
                    topic,
                    partition,
                    stream,
                    self.owner,
                ),
            )
            .fetchone()
        )
        assert row is not None
        return int(str(row[0]))

    def min_watermark(self, prefix: str, stream: str, exclude: str) -> int | None:
        """The smallest committed watermark of the other partitions of a topic."""
        row = (
            self._connection()
            .execute(
                """SELECT min(watermark_us) FROM streamdash_offsets
                   WHERE consumer LIKE %s AND consumer <> %s AND stream = %s""",
                (prefix.replace("_", r"\_") + "%", exclude, stream),
            )
            .fetchone()
        )
        return None if row is None or row[0] is None else int(str(row[0]))

    def report_high_watermarks(self, marks: dict[str, tuple[int, int]]) -> None:
        """consumer -> (epoch, high watermark), for partitions with nothing to commit."""
        if not marks:
            return
        names = sorted(marks)
        self._connection().execute(
            """UPDATE streamdash_kafka_partitions AS p SET high_watermark = m.hw, updated_at = now()
               FROM unnest(%s::text[], %s::bigint[], %s::bigint[]) AS m(consumer, epoch, hw)
               WHERE p.consumer = m.consumer AND p.epoch = m.epoch""",
            (names, [marks[n][0] for n in names], [marks[n][1] for n in names]),
        )

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def check_owner(cur: Cursor, consumer: str, epoch: int, high_watermark: int | None) -> None:
    """Inside a partition's commit: raise PartitionFenced unless `epoch` is still current;
    records the high watermark seen by the consumer (the lag's reference)."""
    cur.execute(
        """UPDATE streamdash_kafka_partitions
           SET high_watermark = COALESCE(%s, high_watermark), updated_at = now()
           WHERE consumer = %s AND epoch = %s RETURNING 1""",
        (high_watermark, consumer, epoch),
    )
    if cur.fetchone() is None:
        raise PartitionFenced(
            f"partition {consumer} was claimed by another worker (epoch {epoch} is stale); "
            "nothing of this batch was committed"
        )
