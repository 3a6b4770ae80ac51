"""What the workers have done, read from PostgreSQL only, for the status line and /metrics.

Lag per partition = the partition's high watermark minus its committed offset. The high
watermark is the one the owning worker's consumer last saw in fetch responses
(`get_watermark_offsets(cached=True)`), stored with every commit of the partition and
every couple of seconds while it is idle — never a ListOffsets answer (tansu's end
offsets are unreliable). It is as fresh as the owner's last report: a partition whose
worker died shows its lag as of then.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import psycopg
from prometheus_client.core import GaugeMetricFamily, Metric

from streamdash.runtime.status import PipelineCollector, Progress, StatusBoard
from streamdash.spec.models import Pipeline


@dataclass(frozen=True)
class PartitionProgress:
    topic: str
    partition: int
    stream: str
    high_watermark: int | None
    committed: int | None
    watermark_us: int | None
    owner: str

    @property
    def lag(self) -> int:
        return max((self.high_watermark or 0) - (self.committed or 0), 0)


def read_partitions(database_url: str, group: str) -> list[PartitionProgress]:
    with psycopg.connect(database_url, connect_timeout=2, autocommit=True) as conn:
        try:
            rows = conn.execute(
                """SELECT p.topic, p.part, p.stream, p.high_watermark, o.next_offset,
                          o.watermark_us, p.owner
                   FROM streamdash_kafka_partitions p
                   LEFT JOIN streamdash_offsets o
                     ON o.consumer = p.consumer AND o.stream = p.stream
                   WHERE p.grp = %s ORDER BY p.topic, p.part""",
                (group,),
            ).fetchall()
        except psycopg.errors.UndefinedTable:
            return []
    return [PartitionProgress(*row) for row in rows]


def kafka_progress(
    database_url: str, group: str, pipeline: Pipeline
) -> tuple[dict[str, int], Progress, list[PartitionProgress]]:
    """Per stream: messages in its topic (sum of high watermarks), committed (sum of
    offsets), watermark (the smallest of its partitions'); and the counters."""
    from streamdash.runtime.status import read_progress

    parts = [p for p in read_partitions(database_url, group) if p.stream in pipeline.streams]
    counters = read_progress(database_url, "").counters
    ends: dict[str, int] = {}
    offsets: dict[str, int] = {}
    marks: dict[str, int] = {}
    for p in parts:
        ends[p.stream] = ends.get(p.stream, 0) + max(p.high_watermark or 0, p.committed or 0)
        offsets[p.stream] = offsets.get(p.stream, 0) + (p.committed or 0)
        if p.watermark_us is not None:
            marks[p.stream] = min(marks.get(p.stream, p.watermark_us), p.watermark_us)
    return ends, Progress(offsets, marks, counters), parts


def stream_offsets(
    database_url: str, group: str, pipeline: Pipeline
) -> tuple[dict[str, int], dict[str, dict[str, int | None]]]:
    """For the dashboard: events per stream and, per stream, `next_offset` (committed, summed
    over partitions) and `watermark_us` (the smallest); raises StoreUnavailable like the
    dashboard's reader does when the database is down."""
    from streamdash.errors import StoreUnavailable

    try:
        ends, progress, _ = kafka_progress(database_url, group, pipeline)
    except psycopg.Error as err:
        raise StoreUnavailable(f"cannot read the workers' progress: {err}") from err
    rows: dict[str, dict[str, int | None]] = {
        s: {"next_offset": progress.offsets.get(s), "watermark_us": progress.watermarks.get(s)}
        for s in pipeline.streams
    }
    return ends, rows


@dataclass
class KafkaStatusBoard(StatusBoard):
    """The status line of `run --kafka`: the same columns, summed over partitions."""

    group: str = "streamdash"

    def read(self) -> tuple[dict[str, int], Progress]:
        ends, progress, _ = kafka_progress(self.database_url, self.group, self.pipeline)
        return ends, progress


class KafkaPipelineCollector(PipelineCollector):
    """/metrics of an API whose log is Kafka: the per-stream families of the embedded log
    (summed over partitions) plus lag, committed offset and high watermark per partition."""

    def __init__(self, pipeline: Pipeline, database_url: str | None, group: str) -> None:
        super().__init__(pipeline, None, database_url)
        self.group = group
        self._partitions: list[PartitionProgress] = []

    def sample(self) -> tuple[dict[str, int], Progress | None]:
        if self.database_url is None:
            return {}, None
        try:
            ends, progress, self._partitions = kafka_progress(
                self.database_url, self.group, self.pipeline
            )
        except psycopg.Error:
            return {}, None
        return ends, progress

    def describe(self) -> Iterable[Metric]:
        return [*super().describe(), *self._partition_families([])]

    def _read(self) -> list[Metric]:
        families = super()._read()
        return [*families, *self._partition_families(self._partitions)]

    def _partition_families(self, parts: list[PartitionProgress]) -> list[Metric]:
        labels = ["topic", "partition", "stream"]
        lag = GaugeMetricFamily(
            "streamdash_kafka_partition_lag_messages",
            "Messages of the partition not yet committed (high watermark seen by its "
            "worker's consumer - committed offset).",
            labels=labels,
        )
        committed = GaugeMetricFamily(
            "streamdash_kafka_partition_committed_offset",
            "Next offset to process, as committed to PostgreSQL with the results.",
            labels=labels,
        )
        high = GaugeMetricFamily(
            "streamdash_kafka_partition_high_watermark",
            "The partition's high watermark as last seen by its worker's consumer.",
            labels=labels,
        )
        for p in parts:
            key = [p.topic, str(p.partition), p.stream]
            lag.add_metric(key, p.lag)
            committed.add_metric(key, p.committed or 0)
            if p.high_watermark is not None:
                high.add_metric(key, p.high_watermark)
        return [lag, committed, high]
