"""Rules of a spec that only matter when Kafka is the log (`log: kafka`, or a worker
started with `--kafka`), and the one fact the Kafka runtime derives from a spec: which views
a partition can write alone and which need the partitions' states merged."""

from __future__ import annotations

from streamdash.spec.models import Pipeline
from streamdash.spec.validation import Problem, yaml_path


def topic_of(pipeline: Pipeline, stream: str) -> str:
    """The Kafka topic of a stream: its `topic`, or the stream's name."""
    return pipeline.streams[stream].topic or stream


def writes_alone(pipeline: Pipeline, view: str) -> bool:
    """Whether each partition can write the view's rows on its own: the view is grouped by
    its stream's partition key, so all events of one row are in one partition (when the
    topic is keyed by that field, as streamdash's producers key it). Every other view gets
    contributions from several partitions for the same row, and its rows are merged from
    the partitions' partial states."""
    spec = pipeline.views[view]
    key = pipeline.streams[spec.from_].key
    return key is not None and key in spec.group_by


def kafka_problems(pipeline: Pipeline) -> list[Problem]:
    """What stops the pipeline from running on Kafka; [] if nothing."""
    problems: list[Problem] = []
    topics = {topic_of(pipeline, name): name for name in pipeline.streams}
    for setting in ("dead_letter_topic", "dlq_topic"):
        topic = getattr(pipeline.kafka, setting)
        if topic is not None and topic in topics:
            problems.append(
                (
                    yaml_path("kafka", setting),
                    f"topic '{topic}' is the topic of stream '{topics[topic]}'; "
                    "dead letters need a topic of their own",
                )
            )
    for name, view in pipeline.views.items():
        if view.window is None or view.window.kind != "session" or writes_alone(pipeline, name):
            continue
        key = pipeline.streams[view.from_].key if view.from_ in pipeline.streams else None
        problems.append(
            (
                yaml_path("views", name, "group_by"),
                f"a session view on Kafka must be grouped by its stream's partition key "
                f"({'key: ' + key if key else 'the stream has no key'}): sessions of one key "
                "are merged within one partition",
            )
        )
    kafka = pipeline.kafka
    for name, stream in pipeline.streams.items():
        if stream.format == "avro" and kafka.schema_registry is None and kafka.schema_dir is None:
            problems.append(
                (
                    yaml_path("streams", name, "format"),
                    "format avro needs kafka.schema_registry (a URL) or kafka.schema_dir "
                    "(a directory of <schema id>.avsc files) to resolve the schema ids",
                )
            )
    for name in pipeline.sinks:
        # A merged view's rows exist only inside the workers' PostgreSQL transactions, so
        # the write-before-commit rule of extra sinks (docs/sinks.md) cannot hold there yet.
        problems.append(
            (
                yaml_path("sinks", name),
                "extra sinks (sinks:) run with the embedded log only, not with Kafka workers; "
                "remove the section, or run without --kafka / log: kafka",
            )
        )
    return problems
