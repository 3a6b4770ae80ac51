"""Loading specs: every problem reported at once, with its YAML path and line."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from streamdash.errors import SpecError
from streamdash.spec.loader import load_builtin, load_pipeline, merge_pipelines, parse_pipeline

SPECS = Path(__file__).parents[2] / "fixtures" / "specs"

MINIMAL = """\
streams:
  clicks:
    time: {field: ts, unit: ms}
    schema: {ts: int64, page: string}
views:
  per_page:
    from: clicks
    window: {tumbling: 10s}
    group_by: [page]
    metrics: {n: count()}
"""


def problems_of(text: str) -> dict[str, str]:
    with pytest.raises(SpecError) as caught:
        parse_pipeline(textwrap.dedent(text))
    return dict(caught.value.problems)


def test_broken_spec_reports_every_mistake_with_path_and_line() -> None:
    with pytest.raises(SpecError) as caught:
        load_pipeline(SPECS / "broken.yaml")
    found = dict(caught.value.problems)
    expected = {
        "streams.shop.time.field": ("cannot hold unit 'iso8601'", 4),
        "streams.shop.schema.colour.type": ("got 'strin'", 9),
        "streams.shop.derived.big": ("'later', which is defined later", 11),
        "views.Sales": ("invalid view name 'Sales'", 14),
        "views.Sales.window.tumbling": ("got '10 parsecs'", 16),
        "views.by_customer.from": ("unknown stream 'shopp'; did you mean 'shop'?", 21),
        "views.totals.group_by[1]": ("'region' is not a column of stream 'shop'", 28),
        "views.totals.metrics.customer": ("also a group_by key", 31),
        "views.totals.metrics.ratio": ("reads 'missing'", 32),
        "views.totals.metrics.bad": ("unsupported aggregate in 'median(amount)'", 33),
        "views.totals.colour": ("unknown key 'colour'; expected one of: description, from", 34),
        "alerts.too_many.view": ("unknown view 'nowhere'", 36),
    }
    assert set(found) == set(expected)
    for path, (fragment, line) in expected.items():
        assert fragment in found[path], (path, found[path])
        assert found[path].endswith(f"(line {line})"), (path, found[path])
    assert str(caught.value).startswith(f"{SPECS / 'broken.yaml'}: 12 error(s)")


def test_problems_are_ordered_as_they_appear_in_the_file() -> None:
    with pytest.raises(SpecError) as caught:
        load_pipeline(SPECS / "broken.yaml")
    lines = [int(msg.rsplit("line ", 1)[1].rstrip(")")) for _, msg in caught.value.problems]
    assert lines == sorted(lines)


def test_user_defined_orders_spec_validates() -> None:
    pipeline = load_pipeline(SPECS / "orders.yaml")
    assert pipeline.views["sales_last_hour"].window is not None
    assert pipeline.views["sales_last_hour"].window.kind == "hopping"
    assert pipeline.views["shopping_sessions"].window is not None
    assert pipeline.views["shopping_sessions"].window.kind == "session"
    assert pipeline.table_of("shopping_sessions") == "customer_sessions"
    assert pipeline.streams["orders"].joins[0].on == "sku"


def test_a_user_spec_merges_with_the_builtins() -> None:
    merged = merge_pipelines(load_builtin(), load_pipeline(SPECS / "orders.yaml"))
    assert {"orders", "app_logs"} <= set(merged.streams)
    assert {"user_demographics", "products"} == set(merged.tables)


def test_duplicate_keys_are_errors_with_both_lines() -> None:
    found = problems_of("""\
        streams:
          clicks:
            time: {field: ts, unit: ms}
            schema: {ts: int64}
            schema: {ts: int32}
        views: {}
        views: {}
        """)
    assert set(found) == {"streams.clicks.schema", "views"}
    assert (
        "duplicate key 'schema' (line 5; first defined on line 4)" in found["streams.clicks.schema"]
    )
    assert "line 7; first defined on line 6" in found["views"]


def test_yaml_syntax_error_names_line_and_column() -> None:
    found = problems_of("streams:\n  a: [1, 2\n  b: 3\n")
    (message,) = found.values()
    assert message.startswith("YAML syntax error at line 3, column")


def test_unquoted_optional_type_in_flow_mapping_gets_a_hint() -> None:
    found = problems_of("streams:\n  a: {schema: {x: string?, y: int64}}\n")
    assert "quote an optional type" in next(iter(found.values()))


@pytest.mark.parametrize(
    ("text", "fragment"),
    [("", "got an empty document"), ("- a\n- b\n", "got list"), ("42\n", "got int 42")],
)
def test_document_must_be_a_mapping(text: str, fragment: str) -> None:
    found = problems_of(text)
    assert fragment in found["<document>"]


def test_yaml_1_1_booleans_stay_strings() -> None:
    # `on:` is YAML 1.1 for True; it must stay the join key's name.
    text = (
        MINIMAL.replace(
            "    schema: {ts: int64, page: string}",
            "    schema: {ts: int64, page: string, answer: {type: string, enum: [yes, no]}}\n"
            "    joins:\n      - table: pages\n        on: page",
        )
        + "tables:\n  pages:\n    key: page\n    schema: {page: string, title: string}\n"
        "    source: {csv: pages.csv}\n"
    )
    pipeline = parse_pipeline(text)
    assert pipeline.streams["clicks"].joins[0].on == "page"
    assert pipeline.streams["clicks"].schema_["answer"].enum == ["yes", "no"]


def test_unknown_top_level_key_and_missing_streams() -> None:
    found = problems_of("view: {}\n")
    assert found["view"].startswith("unknown top-level key 'view'; expected one of: streams")
    assert "missing required key 'streams'" in found["streams"]


def test_missing_required_key_points_at_its_parent_line() -> None:
    found = problems_of(MINIMAL.replace("    from: clicks\n", ""))
    assert found["views.per_page.from"] == "missing required key 'from' (line 6)"


def test_a_section_that_is_not_a_mapping() -> None:
    found = problems_of(MINIMAL + "tables: [a, b]\n")
    assert found["tables"].startswith("expected a mapping of name -> definition, got list")


def test_text_and_path_arguments(tmp_path: Path) -> None:
    spec = tmp_path / "p.yaml"
    spec.write_text(MINIMAL, encoding="utf-8")
    assert load_pipeline(str(spec)) == load_pipeline(spec) == load_pipeline(MINIMAL)


def test_missing_file_is_a_spec_error(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="cannot read the spec file"):
        load_pipeline(tmp_path / "nope.yaml")


def test_merge_reports_each_duplicate_name_with_its_sources() -> None:
    first = parse_pipeline(MINIMAL)
    second = parse_pipeline(MINIMAL)
    with pytest.raises(SpecError) as caught:
        merge_pipelines(first, second, sources=["a.yaml", "b.yaml"])
    assert dict(caught.value.problems) == {
        "streams.clicks": "'clicks' is defined in both a.yaml and b.yaml; names must be unique "
        "across merged specs",
        "views.per_page": "'per_page' is defined in both a.yaml and b.yaml; names must be "
        "unique across merged specs",
    }


def test_merge_rejects_two_views_writing_one_table() -> None:
    other = parse_pipeline(
        MINIMAL.replace("clicks", "taps").replace(
            "per_page:", "taps_per_page:\n    table: per_page"
        )
    )
    with pytest.raises(SpecError, match="result table 'per_page' is already written by view"):
        merge_pipelines(parse_pipeline(MINIMAL), other)
