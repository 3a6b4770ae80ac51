"""Kafka as a Spark 4 Python data source (`format("streamdash_kafka")`), on confluent-kafka.

Used where Spark's own Kafka connector is not on the classpath (it is a Maven package, and
Maven cannot be reached everywhere); it gives the columns of `format("kafka")` that
streamdash reads: `value` (binary), `topic`, `partition`, `offset`, `timestamp` (message
keys only place events in partitions; nothing reads them, so they are not transferred).

- Offsets are `{"topic": T, "partitions": {"0": next offset, ...}}`, kept by Spark in the
  query's checkpoint (its offset log), so a restarted query re-reads exactly the ranges of
  the batch it had not committed, and nothing else. Kafka's consumer-group offsets are
  never used.
- A micro-batch has one Spark task per Kafka partition that has new messages, as with
  Spark's connector, or with `maxTasksPerBatch` at most that many: the partitions' ranges
  are then grouped, whole, into tasks holding about equal numbers of messages
  (`group_ranges`). Each task reads its offset ranges `[start, end)` one after the other,
  each with its own consumer, and yields Arrow record batches (no Python object per row
  reaches Spark).
- The end of a partition is found by reading: the broker's reported high watermark is
  taken as a lower bound, and a consumer positioned there reads on until the partition's
  end-of-file event. With Kafka the two agree at once; brokers whose ListOffsets answers
  lag behind their data (tansu) are still read completely.
- Options (names are case-insensitive, as Spark hands them over in lower case):
  `bootstrap`, `topic`, `maxEventsPerBatch` (admission control, like the connector's
  `maxOffsetsPerTrigger`), `maxTasksPerBatch` (see above), `timeoutMs` (how long a broker
  may stay silent before the batch fails), and `kafka.<setting>` passed to librdkafka
  (e.g. `kafka.security.protocol`).
  With `decode` (`events`), `stream`, `spec` (the stream's spec as JSON) and
  `dedupeWindowUs`, the tasks decode the messages themselves and give the columns of
  `source_decode.py` instead of the raw ones; with `ledgerUrl` (a database URL; Spark
  redacts options named *url* in its plans and UI) they also store the dead letters and
  counters of the messages no other task stored yet (`range_ledger.py`).
  `Trigger.AvailableNow` reads up to the ends seen when the query starts.
"""

from __future__ import annotations

import bisect
import itertools
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
from pyspark.sql.datasource import DataSource, DataSourceStreamReader, InputPartition
from pyspark.sql.streaming.datasource import (
    ReadAllAvailable,
    ReadLimit,
    ReadMaxRows,
    SupportsTriggerAvailableNow,
)
from pyspark.sql.types import StructType
from typing_extensions import override

if TYPE_CHECKING:
    from streamdash.spark.source_decode import SourceDecoder

SOURCE_NAME = "streamdash_kafka"
SCHEMA = "value binary, topic string, partition int, offset bigint, timestamp timestamp"
ARROW_SCHEMA = pa.schema(
    [
        ("value", pa.binary()),
        ("topic", pa.string()),
        ("partition", pa.int32()),
        ("offset", pa.int64()),
        ("timestamp", pa.timestamp("us", tz="UTC")),
    ]
)
ROWS_PER_ARROW_BATCH = 20_000
"""Messages asked for per `consume` call, and so at most per record batch."""
Offsets = dict[int, int]


class KafkaReadError(RuntimeError):
    """Kafka did not deliver what a batch needs (broker unreachable, data deleted)."""


@dataclass(frozen=True)
class KafkaRange:
    """Messages `[start, end)` of one partition."""

    topic: str
    partition: int
    start: int
    end: int

    @property
    def size(self) -> int:
        return self.end - self.start


class KafkaTask(InputPartition):
    """The work of one Spark task: whole offset ranges, read in this order."""

    def __init__(self, ranges: list[KafkaRange]) -> None:
        super().__init__(tuple(ranges))
        self.ranges = ranges


def group_ranges(ranges: list[KafkaRange], tasks: int) -> list[KafkaTask]:
    """`ranges` in at most `tasks` tasks of about equal numbers of messages (one task per
    range when `tasks` < 1): largest range first, each into the task with the fewest so
    far.

    Why group: in a live query each task costs ~110 ms besides its reading here (handing
    it to a Python worker, returning its rows), more than the ~45 ms it reads for, and 3
    partitions on 2 cores ran as two rounds of tasks per batch. Ranges are never split:
    the dead letters and counters of a range are stored in one piece after it was read
    from its start (`range_ledger.py`)."""
    if tasks < 1 or tasks >= len(ranges):
        return [KafkaTask([part]) for part in ranges]
    groups: list[list[KafkaRange]] = [[] for _ in range(tasks)]
    for part in sorted(ranges, key=lambda r: (-r.size, r.partition)):
        min(groups, key=lambda g: sum(r.size for r in g)).append(part)
    return [KafkaTask(sorted(g, key=lambda r: r.partition)) for g in groups]


def consumer_config(options: dict[str, str]) -> dict[str, Any]:
    """librdkafka settings: the bootstrap servers, `kafka.*` options, and what every
    streamdash consumer needs (no group commits ever, errors instead of silent resets)."""
    config: dict[str, Any] = {
        "bootstrap.servers": options["bootstrap"],
        "group.id": "streamdash-spark",  # required by the client; never joined or committed
        "enable.auto.commit": False,
        "enable.partition.eof": True,
        "auto.offset.reset": "error",
        "fetch.wait.max.ms": 50,
    }
    for key, value in options.items():
        if key.startswith("kafka."):
            config[key.removeprefix("kafka.")] = value
    return config


def _timeout_s(options: dict[str, str]) -> float:
    return int(options.get("timeoutms", "30000")) / 1000


def _new_consumer(options: dict[str, str]) -> Any:
    from confluent_kafka import Consumer

    return Consumer(consumer_config(options))


def _check(message: Any, topic: str) -> bool:
    """True for a data message, False for a partition's end; raise for an error."""
    from confluent_kafka import KafkaError

    error = message.error()
    if error is None:
        return True
    if error.code() == KafkaError._PARTITION_EOF:
        return False
    raise KafkaReadError(f"reading Kafka topic {topic!r} failed: {error.str()}")


BuildBatch = Callable[[KafkaRange, list[Any], list[int]], pa.RecordBatch]
"""(range, messages, their offsets) -> the record batch the source gives for them."""


def read_range(
    options: dict[str, str], part: KafkaRange, build: BuildBatch | None = None
) -> Iterator[pa.RecordBatch]:
    """The messages of one range as Arrow record batches, in offset order: one batch per
    `consume` call, built column by column (no Python object per row survives it) by
    `build` (default: the raw messages, `SCHEMA`)."""
    build = build or _record_batch
    from confluent_kafka import TopicPartition

    consumer = _new_consumer(options)
    try:
        consumer.assign([TopicPartition(part.topic, part.partition, part.start)])
        position = part.start
        deadline = time.monotonic() + _timeout_s(options)
        while position < part.end:
            # asking for no more than the range holds returns as soon as it has arrived
            wanted = min(ROWS_PER_ARROW_BATCH, part.end - position)
            messages = consumer.consume(wanted, timeout=0.5)
            if messages:
                deadline = time.monotonic() + _timeout_s(options)
            elif time.monotonic() > deadline:
                raise KafkaReadError(
                    f"Kafka sent nothing for {_timeout_s(options):.0f} s while reading "
                    f"{part.topic}[{part.partition}] offsets {position}..{part.end}"
                )
            data = [m for m in messages if m.error() is None]
            if len(data) < len(messages):
                for message in messages:
                    if message.error() is not None and not _check(message, part.topic):
                        # the partition's end: done if it is ours (offsets without a message,
                        # such as transaction markers, are never delivered)
                        position = max(position, min(message.offset(), part.end))
            offsets = [m.offset() for m in data]
            keep = bisect.bisect_left(offsets, part.end)  # offsets only grow in a partition
            if keep:
                yield build(part, data[:keep], offsets[:keep])
                position = max(position, offsets[keep - 1] + 1)
            if keep < len(offsets):
                position = part.end
    finally:
        consumer.close()


def _record_batch(part: KafkaRange, messages: list[Any], offsets: list[int]) -> pa.RecordBatch:
    count = len(messages)
    stamps = [m.timestamp() for m in messages]
    millis = pa.array([ms if kind else None for kind, ms in stamps], pa.int64())
    arrays = [
        pa.array([m.value() for m in messages], pa.binary()),
        pa.array([part.topic] * count, pa.string()),
        pa.array(np.full(count, part.partition, dtype=np.int32)),
        pa.array(offsets, pa.int64()),
        millis.cast(pa.timestamp("ms", tz="UTC")).cast(pa.timestamp("us", tz="UTC")),
    ]
    return pa.RecordBatch.from_arrays(arrays, schema=ARROW_SCHEMA)


def _decode_options(options: dict[str, str]) -> tuple[str, str, int]:
    from streamdash.spark.source_decode import check_decoded

    lower = {key.lower(): value for key, value in options.items()}
    missing = [key for key in ("stream", "spec") if key not in lower]
    if missing:
        raise ValueError(f"{SOURCE_NAME} with option decode needs the option(s) {missing}")
    check_decoded(lower["decode"])
    return lower["stream"], lower["spec"], int(lower.get("dedupewindowus", "0"))


def source_decoder(options: dict[str, str]) -> SourceDecoder:
    """The decoder the options ask for (`stream`, `spec`: the stream's spec as JSON,
    `dedupeWindowUs`), one per Python worker process. Imported only then: a source of raw
    messages does not load DuckDB and the validator."""
    from streamdash.spark.source_decode import decoder_for

    return decoder_for(*_decode_options(options))


def read_decoded(options: dict[str, str], part: KafkaRange) -> Iterator[pa.RecordBatch]:
    """The range's events, decoded; with the `ledgerUrl` option, its dead letters and
    counters are stored once the whole range is read (a task that fails before stores
    nothing, and its retry all)."""
    from streamdash.spark.source_decode import RangeTally

    decoder = source_decoder(options)
    dedupe = decoder.new_dedupe()  # a pure function of the range: a replay drops the same
    tally = RangeTally()

    def build(part: KafkaRange, messages: list[Any], offsets: list[int]) -> pa.RecordBatch:
        return decoder.batch(part.topic, part.partition, messages, offsets, dedupe, tally)

    yield from read_range(options, part, build)
    if "ledgerurl" in options:
        from streamdash.spark.range_ledger import OffsetRange, ledger_for

        where = OffsetRange(decoder.stream, part.topic, part.partition, part.start, part.end)
        ledger_for(options["ledgerurl"]).record(where, tally)


def share_limit(start: Offsets, ends: Offsets, max_rows: int) -> Offsets:
    """End offsets holding about `max_rows` messages in all, each partition's share in
    proportion to its backlog (as Spark's Kafka connector splits maxOffsetsPerTrigger).

    Proportional, not equal: partitions hold different numbers of events per second of
    event time (keys are not spread evenly), and equal shares would let the partition with
    the fewest events run ahead in event time, move the query's watermark past the others'
    next events, and make those late. Every partition with a backlog gets at least one
    message, so every batch makes progress."""
    waiting = {p: e - start.get(p, e) for p, e in ends.items() if e > start.get(p, e)}
    total = sum(waiting.values())
    if total <= max_rows:
        return dict(ends)
    out = dict(ends)
    for partition, backlog in waiting.items():
        share = max(1, max_rows * backlog // total)
        out[partition] = start.get(partition, ends[partition]) + min(backlog, share)
    return out


class KafkaStreamReader(DataSourceStreamReader, SupportsTriggerAvailableNow):
    """Runs on the driver (planning) and, pickled without its consumer, in the tasks."""

    def __init__(self, options: dict[str, str]) -> None:
        self.options = {key.lower(): value for key, value in options.items()}
        self.topic = self.options["topic"]
        self.max_rows = int(self.options.get("maxeventsperbatch", "0"))
        self.max_tasks = int(self.options.get("maxtasksperbatch", "0"))
        self.target: Offsets | None = None
        self._consumer: Any = None

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_consumer"] = None  # a live client cannot travel to the tasks
        return state

    def _probe(self) -> Any:
        if self._consumer is None:
            # a short fetch wait: at a partition's end the broker answers (and the client
            # reports the end) after this long, and every micro-batch waits for it
            self._consumer = _new_consumer({**self.options, "kafka.fetch.wait.max.ms": "5"})
        return self._consumer

    def _partitions(self) -> list[int]:
        metadata = self._probe().list_topics(self.topic, timeout=_timeout_s(self.options))
        topic = metadata.topics.get(self.topic)
        if topic is None or topic.error is not None:
            return []  # not created yet: no data yet
        return sorted(topic.partitions)

    def _watermarks(self, partition: int) -> tuple[int, int]:
        from confluent_kafka import TopicPartition

        low, high = self._probe().get_watermark_offsets(
            TopicPartition(self.topic, partition), timeout=_timeout_s(self.options), cached=False
        )
        return int(low), int(high)

    def _ends(self, known: Offsets) -> Offsets:
        """The current end offset of every partition (see the module docstring)."""
        from confluent_kafka import TopicPartition

        starts = {}
        for partition in self._partitions():
            low, high = self._watermarks(partition)
            starts[partition] = max(known.get(partition, low), high, low)
        if not starts:
            return {}
        consumer = self._probe()
        consumer.assign([TopicPartition(self.topic, p, o) for p, o in starts.items()])
        ends = dict(starts)
        pending = set(starts)
        deadline = time.monotonic() + _timeout_s(self.options)
        while pending:
            for message in consumer.consume(10_000, timeout=0.01):
                partition = message.partition()
                if _check(message, self.topic):
                    ends[partition] = max(ends[partition], message.offset() + 1)
                else:
                    ends[partition] = max(ends[partition], message.offset())
                    pending.discard(partition)
            if pending and time.monotonic() > deadline:
                raise KafkaReadError(
                    f"Kafka did not report the end of topic {self.topic!r} partitions "
                    f"{sorted(pending)} within {_timeout_s(self.options):.0f} s"
                )
        consumer.unassign()
        return ends

    @override
    def initialOffset(self) -> dict[str, Any]:
        starts = {p: self._watermarks(p)[0] for p in self._partitions()}
        return _encode(self.topic, starts)

    @override
    def latestOffset(self, start: dict[str, Any], limit: ReadLimit) -> dict[str, Any]:
        begin = _decode(start)
        ends = self.target if self.target is not None else self._ends(begin)
        ends = {p: max(e, begin.get(p, 0)) for p, e in ends.items()}
        if isinstance(limit, ReadMaxRows):
            ends = share_limit(begin, ends, limit.max_rows)
        elif self.target is not None and self.max_rows > 0:
            # Trigger.AvailableNow: Spark 4.3 passes ReadAllAvailable to Python sources, but
            # the trigger means "all, in batches as the options say" (as Spark's own Kafka
            # connector applies maxOffsetsPerTrigger), so the option still cuts batches
            ends = share_limit(begin, ends, self.max_rows)
        return _encode(self.topic, {**begin, **ends})

    @override
    def getDefaultReadLimit(self) -> ReadLimit:
        return ReadMaxRows(self.max_rows) if self.max_rows > 0 else ReadAllAvailable()

    @override
    def prepareForTriggerAvailableNow(self) -> None:
        self.target = self._ends({})

    @override
    def partitions(self, start: dict[str, Any], end: dict[str, Any]) -> list[InputPartition]:
        begin, finish = _decode(start), _decode(end)
        ranges: list[KafkaRange] = []
        for partition, stop in sorted(finish.items()):
            first = begin.get(partition, self._watermarks(partition)[0])
            if stop > first:
                ranges.append(KafkaRange(self.topic, partition, first, stop))
        tasks: list[InputPartition] = [*group_ranges(ranges, self.max_tasks)]
        return tasks

    @override
    def read(self, partition: InputPartition) -> Iterator[pa.RecordBatch]:
        assert isinstance(partition, KafkaTask)
        read = read_decoded if "decode" in self.options else read_range
        return itertools.chain.from_iterable(read(self.options, part) for part in partition.ranges)

    @override
    def commit(self, end: dict[str, Any]) -> None:
        """Nothing to do: the offsets live in Spark's checkpoint, not in Kafka."""

    @override
    def stop(self) -> None:
        if self._consumer is not None:
            self._consumer.close()
            self._consumer = None


def _encode(topic: str, offsets: Offsets) -> dict[str, Any]:
    return {"topic": topic, "partitions": {str(p): offsets[p] for p in sorted(offsets)}}


def _decode(offset: dict[str, Any]) -> Offsets:
    return {int(p): int(o) for p, o in dict(offset.get("partitions", {})).items()}


class KafkaDataSource(DataSource):
    @override
    @classmethod
    def name(cls) -> str:
        return SOURCE_NAME

    @override
    def schema(self) -> str | StructType:
        if "decode" not in self.options:
            return SCHEMA
        from pyspark.sql.pandas.types import from_arrow_schema

        from streamdash.spark.source_decode import arrow_schema, parse_spec

        _, spec, _ = _decode_options(dict(self.options))
        return from_arrow_schema(arrow_schema(parse_spec(spec)))

    @override
    def streamReader(self, schema: StructType) -> DataSourceStreamReader:
        missing = [key for key in ("bootstrap", "topic") if key not in self.options]
        if missing:
            raise ValueError(f"{SOURCE_NAME} needs the option(s) {missing}")
        return KafkaStreamReader(dict(self.options))
