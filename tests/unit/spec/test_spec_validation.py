"""Cross-reference rules of `validate`, one spec mistake at a time."""

from __future__ import annotations

from typing import Any

import pytest

from streamdash.spec.models import Pipeline
from streamdash.spec.validation import validate


def pipeline(**changes: Any) -> Pipeline:
    """A small valid pipeline; `changes` replace whole top-level sections."""
    spec: dict[str, Any] = {
        "streams": {
            "clicks": {
                "time": {"field": "ts", "unit": "ms"},
                "key": "user",
                "schema": {
                    "ts": "int64",
                    "user": "string",
                    "page": "string",
                    "dBFS": "float64?",
                    "who": {"type": "struct", "fields": {"age": "int32", "name": "string"}},
                },
                "joins": [{"table": "users", "on": "user"}],
                "derived": {"adult": "who.age >= 18", "loud": "dbfs > -10 AND adult"},
            }
        },
        "tables": {
            "users": {
                "key": "id",
                "schema": {"id": "string", "country": "string"},
                "source": {"generator": "users"},
            }
        },
        "views": {
            "per_page": {
                "from": "clicks",
                "window": {"tumbling": "10s"},
                "group_by": ["page", "country"],
                "where": "NOT loud",
                "metrics": {
                    "n": "count()",
                    "adults": "count_if(adult)",
                    "share": "adults / NULLIF(n, 0)",
                    "last_seen": "max(_event_time)",
                },
            }
        },
    }
    spec.update(changes)
    return Pipeline.model_validate(spec)


def only(problems: list[tuple[str, str]]) -> tuple[str, str]:
    assert len(problems) == 1, problems
    return problems[0]


def test_the_base_pipeline_is_valid() -> None:
    assert validate(pipeline()) == []


def edit(section: str, name: str, **fields: Any) -> Pipeline:
    base = pipeline().model_dump(by_alias=True, exclude_defaults=True)
    base[section][name].update(fields)
    return Pipeline.model_validate(base)


@pytest.mark.parametrize(
    ("fields", "path", "fragment"),
    [
        (
            {"time": {"field": "ts", "unit": "iso8601"}},
            "streams.clicks.time.field",
            "has type int64, which cannot hold unit 'iso8601'",
        ),
        (
            {"time": {"field": "when", "unit": "ms"}},
            "streams.clicks.time.field",
            "time field 'when' is not in the schema",
        ),
        ({"key": "usr"}, "streams.clicks.key", "did you mean 'user'?"),
        (
            {"joins": [{"table": "userz", "on": "user"}]},
            "streams.clicks.joins[0].table",
            "unknown reference table 'userz'",
        ),
        (
            {"joins": [{"table": "users", "on": "uid"}]},
            "streams.clicks.joins[0].on",
            "join column 'uid' is not a field",
        ),
        (
            {"joins": [{"table": "users", "on": "user", "fields": ["page"]}]},
            "streams.clicks.joins[0].fields",
            "table 'users' has no column 'page'",
        ),
        (
            {"derived": {"adult": "who.height > 1", "loud": "adult"}},
            "streams.clicks.derived.adult",
            "unknown member 'height' of struct 'who'",
        ),
        (
            {"derived": {"adult": "page.x = 1", "loud": "adult"}},
            "streams.clicks.derived.adult",
            "'page' is a string, not a struct",
        ),
        (
            {"derived": {"adult": "count(*) > 1", "loud": "adult"}},
            "streams.clicks.derived.adult",
            "aggregates are not allowed here",
        ),
        (
            {"derived": {"adult": "who.age >=", "loud": "adult"}},
            "streams.clicks.derived.adult",
            "cannot parse SQL expression",
        ),
        (
            {"derived": {"Adult": "true", "loud": "dbfs > 0"}},
            "streams.clicks.derived.Adult",
            "invalid derived field name 'Adult'",
        ),
        (
            {"derived": {"page": "true"}},
            "streams.clicks.derived.page",
            "would replace an existing column",
        ),
        ({"topic": "bad topic!"}, None, None),
    ],
)
def test_stream_rules(fields: dict[str, Any], path: str | None, fragment: str | None) -> None:
    problems = validate(edit("streams", "clicks", **fields))
    if path is None:
        assert problems == []  # topic names are not validated beyond uniqueness
        return
    assert any(p == path and fragment is not None and fragment in m for p, m in problems), problems


@pytest.mark.parametrize(
    ("fields", "path", "fragment"),
    [
        ({"from": "click"}, "views.per_page.from", "unknown stream 'click'"),
        (
            {"group_by": ["page", "region"]},
            "views.per_page.group_by[1]",
            "'region' is not a column of stream 'clicks'",
        ),
        ({"group_by": ["page", "page"]}, "views.per_page.group_by[1]", "listed twice"),
        ({"group_by": ["dBFS"]}, "views.per_page.group_by[0]", "invalid group_by column name"),
        ({"where": "pagee = 'x'"}, "views.per_page.where", "unknown column 'pagee'"),
        ({"where": 'page = "home"'}, "views.per_page.where", "write 'home' for a string"),
        ({"table": "Per_Page"}, "views.per_page.table", "invalid result table name"),
        ({"table": "users"}, "views.per_page.table", "has the name of a reference table"),
        ({"metrics": {}}, "views.per_page.metrics", "at least one metric"),
        ({"metrics": {"n": "sum(nope)"}}, "views.per_page.metrics.n", "unknown column 'nope'"),
        ({"metrics": {"n": "count_if(who.name = 'a')"}}, None, None),
        ({"metrics": {"page": "count()"}}, "views.per_page.metrics.page", "also a group_by key"),
        (
            {"metrics": {"window_end": "count()"}},
            "views.per_page.metrics.window_end",
            "is reserved",
        ),
        ({"metrics": {"n": "median(ts)"}}, "views.per_page.metrics.n", "unsupported aggregate"),
        ({"metrics": {"n": "quantile(ts, 2)"}}, "views.per_page.metrics.n", "must be in (0, 1)"),
        ({"metrics": {"n": "42"}}, "views.per_page.metrics.n", "is a constant"),
        (
            {"metrics": {"n": "count()", "r": "n / total"}},
            "views.per_page.metrics.r",
            "reads 'total', which is not another metric",
        ),
        ({"metrics": {"n": "count()", "r": "ts"}}, "views.per_page.metrics.r", "e.g. avg(ts)"),
        (
            {"metrics": {"a": "b + 1", "b": "a + count_x", "count_x": "count()"}},
            "views.per_page.metrics.a",
            "depends on itself",
        ),
        ({"metrics": {"rate": "count()", "per_s": "rate / 10", "k": "country"}}, None, None),
    ],
)
def test_view_rules(fields: dict[str, Any], path: str | None, fragment: str | None) -> None:
    problems = validate(edit("views", "per_page", **fields))
    if path is None:
        assert problems == []
        return
    assert any(p == path and fragment is not None and fragment in m for p, m in problems), problems


def test_metric_cycles_report_each_metric_in_the_cycle() -> None:
    problems = validate(edit("views", "per_page", metrics={"a": "b + 1", "b": "a + 1"}))
    assert sorted(path for path, _ in problems) == [
        "views.per_page.metrics.a",
        "views.per_page.metrics.b",
    ]


def test_running_views_cannot_read_window_columns() -> None:
    problems = validate(
        edit("views", "per_page", window=None, metrics={"n": "count()", "s": "window_end - n"})
    )
    assert only(problems)[0] == "views.per_page.metrics.s"


def test_pseudo_columns_are_readable_but_not_definable() -> None:
    assert validate(edit("views", "per_page", group_by=["_ingest_time"])) == []
    schema = dict(pipeline().streams["clicks"].model_dump(by_alias=True)["schema"])
    schema["_event_time"] = {"type": "int64"}
    path, message = only(validate(edit("streams", "clicks", schema=schema)))
    assert path == "streams.clicks.schema._event_time" and "reserved" in message


def test_field_names_differing_only_in_case_clash() -> None:
    schema = dict(pipeline().streams["clicks"].model_dump(by_alias=True)["schema"])
    schema["Page"] = {"type": "string"}
    path, message = only(validate(edit("streams", "clicks", schema=schema)))
    assert path == "streams.clicks.schema.Page" and "only in case" in message


def test_optional_time_field_is_rejected() -> None:
    schema = dict(pipeline().streams["clicks"].model_dump(by_alias=True)["schema"])
    schema["ts"] = {"type": "int64", "optional": True}
    path, message = only(validate(edit("streams", "clicks", schema=schema)))
    assert path == "streams.clicks.time.field" and "must be required" in message


def test_table_key_must_be_in_its_schema() -> None:
    path, message = only(validate(edit("tables", "users", key="uid")))
    assert path == "tables.users.key" and "key 'uid' is not in the schema" in message


def test_two_views_writing_one_table_and_two_streams_on_one_topic() -> None:
    base = pipeline().model_dump(by_alias=True, exclude_defaults=True)
    base["views"]["again"] = dict(base["views"]["per_page"], table="per_page")
    base["streams"]["copy"] = dict(base["streams"]["clicks"], topic="clicks")
    problems = dict(validate(Pipeline.model_validate(base)))
    assert "already written by view 'per_page'" in problems["views.again.table"]
    assert "already used by stream 'clicks'" in problems["streams.copy.topic"]


def test_dashboards_and_alerts_are_checked_against_the_views() -> None:
    # the panel and rule models have their own tests; here: validate() reports their problems
    assert (
        validate(
            pipeline(
                dashboards={"clicks": [{"panel": "line", "view": "per_page", "y": "n"}]},
                alerts={"busy": {"view": "per_page", "when": "n > 5"}},
            )
        )
        == []
    )
    problems = validate(
        pipeline(
            dashboards={"clicks": [{"panel": "line", "view": "nope", "y": "n"}]},
            alerts={"busy": {"view": "per_pag", "when": "n > 5"}},
        )
    )
    assert [path for path, _ in problems] == ["dashboards.clicks[0].view", "alerts.busy.view"]
    assert "per_page" in problems[1][1]


def test_invalid_names_of_streams_and_views() -> None:
    base = pipeline().model_dump(by_alias=True, exclude_defaults=True)
    base["streams"]["Clicks-2"] = base["streams"].pop("clicks")
    base["streams"]["Clicks-2"]["topic"] = "clicks2"
    base["views"]["per_page"]["from"] = "Clicks-2"
    paths = [path for path, _ in validate(Pipeline.model_validate(base))]
    assert paths == ["streams.Clicks-2"]


def test_case_insensitive_column_resolution_matches_sql() -> None:
    # `dbfs` in the derived field reads the schema's `dBFS`, as DuckDB and Spark would.
    assert "dBFS" in pipeline().streams["clicks"].schema_
    assert validate(pipeline()) == []


def test_unknown_join_table_does_not_cascade_into_unknown_columns() -> None:
    # `country` would come from the join; only the join itself is reported.
    problems = validate(edit("streams", "clicks", joins=[{"table": "userz", "on": "user"}]))
    assert only(problems)[0] == "streams.clicks.joins[0].table"
