"""What a worker runs for each topic it consumes: the stream's part of the spec (a
pipeline of that stream alone, for one engine per partition), how its messages are decoded
and validated, and which of its views are merged across partitions. The dead-letter topic
has a plan too, whose "engine" turns ingest's dead-letter records into dead-letter rows."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import pyarrow as pa

from streamdash.engine import Processor
from streamdash.ingest.validate import EventValidator
from streamdash.kafka.avro import ConfluentAvro, directory_lookup, registry_lookup
from streamdash.kafka.decode import ValueDecoder
from streamdash.kafka.merge import ViewMerger
from streamdash.kafka.settings import KafkaSettings
from streamdash.log.base import DEAD_LETTER_STREAM, Chunk
from streamdash.results import CommitBatch, ViewSchema
from streamdash.runtime.runner import Processor as EngineProtocol
from streamdash.runtime.runner import decode_dead_letters
from streamdash.spec.kafka import topic_of, writes_alone
from streamdash.spec.models import Pipeline

MAX_DEAD_LETTER_BYTES = 64 << 20


def stream_pipeline(pipeline: Pipeline, stream: str) -> Pipeline:
    """The part of `pipeline` one stream's engine needs: the stream, the tables it joins,
    its views (no dashboards or alerts)."""
    spec = pipeline.streams[stream]
    joined = {j.table for j in spec.joins}
    return Pipeline.model_validate(
        {
            "streams": {stream: spec},
            "tables": {n: t for n, t in pipeline.tables.items() if n in joined},
            "views": {n: v for n, v in pipeline.views.items() if v.from_ == stream},
        }
    )


class DeadLetterRecords:
    """The engine of the dead-letter topic: ingest's records -> dead-letter rows, counted as
    rejected per stream (what the embedded engine does with the `_dead_letters` log)."""

    def schemas(self) -> list[ViewSchema]:
        return []

    def process(self, stream: str, chunks: list[Chunk], now_us: int) -> CommitBatch:
        letters = decode_dead_letters(chunks)
        counters: dict[tuple[str, str], int] = {}
        for letter in letters:
            counters[(letter.stream, "rejected")] = counters.get((letter.stream, "rejected"), 0) + 1
        return CommitBatch(dead_letters=letters, counters=counters)

    def advance_idle(self, now_us: int) -> CommitBatch:
        return CommitBatch()

    def snapshot(self) -> bytes:
        return b""

    def restore(self, state: bytes) -> frozenset[str]:
        return frozenset()

    def resume_tables(self) -> bool:
        return False


@dataclass
class TopicPlan:
    stream: str
    """The stream (DEAD_LETTER_STREAM for the dead-letter topic)."""
    topic: str
    decoder: ValueDecoder
    validator: EventValidator | None
    new_engine: Callable[[], EngineProtocol]
    merged: dict[str, tuple[ViewSchema, ViewMerger]] = field(default_factory=dict)
    """Views merged across partitions: their schema and a merge-only engine's state."""
    lateness_us: int = 0
    idle_timeout_us: int = 0


def _avro(settings: KafkaSettings) -> ConfluentAvro:
    if settings.schema_registry:
        return ConfluentAvro(registry_lookup(settings.schema_registry))
    assert settings.schema_dir is not None, "spec validation requires a schema source"
    return ConfluentAvro(directory_lookup(settings.schema_dir))


def topic_plans(
    pipeline: Pipeline, settings: KafkaSettings, tables: dict[str, pa.Table]
) -> dict[str, TopicPlan]:
    """topic -> its plan, for every stream of `pipeline` and the dead-letter topic;
    `tables`: the reference tables by name (kept up to date by the caller)."""
    plans: dict[str, TopicPlan] = {}
    for stream, spec in pipeline.streams.items():
        sub = stream_pipeline(pipeline, stream)
        own = {name: tables[name] for name in sub.tables}

        # `tables` is read when an engine is made: a refresh replaces its entries, and a
        # partition assigned after it starts from the new rows
        def new_engine(sub: Pipeline = sub) -> Processor:
            engine = Processor(sub, {name: tables[name] for name in sub.tables})
            for view, state in engine.states.items():
                state.export_partials = not writes_alone(sub, view)
            return engine

        merged: dict[str, tuple[ViewSchema, ViewMerger]] = {}
        needs_merge = [v for v in sub.views if not writes_alone(sub, v)]
        if needs_merge:
            merging = Processor(sub, own)
            for view in needs_merge:
                state = merging.states[view]
                merged[view] = (state.plan.schema, ViewMerger(state))
        avro = _avro(settings) if spec.format == "avro" else None
        plans[topic_of(pipeline, stream)] = TopicPlan(
            stream,
            topic_of(pipeline, stream),
            ValueDecoder(max_event_bytes=spec.max_event_bytes, avro=avro),
            EventValidator(stream, spec, max_rejections=1 << 62),
            new_engine,
            merged,
            spec.lateness,
            spec.idle_timeout,
        )
    plans[settings.dead_letter_topic] = TopicPlan(
        DEAD_LETTER_STREAM,
        settings.dead_letter_topic,
        ValueDecoder(max_event_bytes=MAX_DEAD_LETTER_BYTES),
        None,
        DeadLetterRecords,
    )
    return plans
