"""The Kafka data source's planning: a batch limit spreads over the partitions that have
messages, never stalls, and never goes past the end; ranges grouped into fewer tasks stay
whole and are spread evenly."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from streamdash.spark.kafka_source import KafkaRange, consumer_config, group_ranges, share_limit


def test_a_limit_is_shared_in_proportion_to_the_backlogs() -> None:
    start = {0: 100, 1: 0, 2: 500}
    ends = {0: 100, 1: 1000, 2: 1000}
    # backlogs 0, 1000, 500: two thirds of the batch from partition 1, one third from 2
    assert share_limit(start, ends, 300) == {0: 100, 1: 200, 2: 600}
    assert share_limit(start, ends, 5000) == ends  # all of it fits


def test_new_partitions_count_from_their_end_when_unknown() -> None:
    assert share_limit({}, {0: 10}, 5) == {0: 10}


@given(
    st.lists(st.tuples(st.integers(0, 1000), st.integers(0, 1000)), min_size=1, max_size=6),
    st.integers(1, 5000),
)
def test_limited_ends_lie_between_start_and_end(ranges: list[tuple[int, int]], limit: int) -> None:
    start = {p: min(a, b) for p, (a, b) in enumerate(ranges)}
    ends = {p: max(a, b) for p, (a, b) in enumerate(ranges)}
    got = share_limit(start, ends, limit)
    assert all(start[p] <= got[p] <= ends[p] for p in ends)
    waiting = sum(ends[p] - start[p] for p in ends)
    taken = sum(got[p] - start[p] for p in ends)
    if waiting:
        # progress, and no more than the limit (plus one each for tiny backlogs)
        assert 1 <= taken <= limit + len(ends)


def test_kafka_options_reach_librdkafka_and_group_commits_stay_off() -> None:
    config = consumer_config(
        {"bootstrap": "h:9092", "topic": "t", "kafka.security.protocol": "SASL_SSL"}
    )
    assert config["bootstrap.servers"] == "h:9092"
    assert config["security.protocol"] == "SASL_SSL"
    assert config["enable.auto.commit"] is False
    assert config["auto.offset.reset"] == "error"
    assert "topic" not in config


def test_ranges_go_whole_into_tasks_of_about_equal_size() -> None:
    ranges = [KafkaRange("t", p, 0, size) for p, size in enumerate([500, 400, 300, 200])]
    tasks = group_ranges(ranges, 2)
    assert [[r.partition for r in task.ranges] for task in tasks] == [[0, 3], [1, 2]]
    # no grouping asked for, or fewer ranges than tasks: one task per range, as the connector
    for asked in (0, 4, 9):
        assert [task.ranges for task in group_ranges(ranges, asked)] == [[r] for r in ranges]


@given(st.lists(st.integers(1, 10_000), min_size=1, max_size=12), st.integers(1, 6))
def test_every_range_is_in_one_task_and_no_task_is_much_larger(
    sizes: list[int], tasks: int
) -> None:
    ranges = [KafkaRange("t", p, 7, 7 + size) for p, size in enumerate(sizes)]
    grouped = group_ranges(ranges, tasks)
    assert len(grouped) == min(tasks, len(ranges))
    assert sorted((r for task in grouped for r in task.ranges), key=lambda r: r.partition) == ranges
    loads = [sum(r.size for r in task.ranges) for task in grouped]
    # greedy, largest first: no task exceeds an even share by more than one range
    assert max(loads) <= sum(sizes) / len(grouped) + max(sizes)
