"""Spec SQL (DuckDB's dialect) as Spark SQL: the rewrites that keep both engines' numbers
equal, dialect translation, and refusals with the reason."""

from __future__ import annotations

import pytest

from streamdash.spark.translate import Untranslatable, function_names, to_spark


@pytest.mark.parametrize(
    ("spec_sql", "spark_sql"),
    [
        # a division by zero is NULL, as the spec promises (ANSI Spark would fail the batch)
        ("purchases / clicks", "`purchases` / NULLIF(`clicks`, 0)"),
        ("a // 2", "`a` DIV NULLIF(2, 0)"),
        # DuckDB computes with decimal literals in floating point; Spark would round
        (
            "CASE WHEN status_code >= 500 THEN 1.0 ELSE 0.0 END",
            "CASE WHEN `status_code` >= 500 THEN CAST(1.0 AS DOUBLE) ELSE CAST(0.0 AS DOUBLE) END",
        ),
        ("x + 1", "`x` + 1"),  # integer literals stay integers
        # a struct path, and names that are keywords elsewhere
        ("name.first", "`name`.`first`"),
        ("time > 5", "`time` > 5"),
        # dialect differences sqlglot knows
        ("x::INT", "CAST(`x` AS INT)"),
        ("regexp_matches(a, 'x')", "`a` RLIKE 'x'"),
        ("strftime(t, '%Y')", "DATE_FORMAT(`t`, 'yyyy')"),
        ("COALESCE(total_amount > 100, false)", "COALESCE(`total_amount` > 100, FALSE)"),
    ],
)
def test_translation(spec_sql: str, spark_sql: str) -> None:
    assert to_spark(spec_sql) == spark_sql


@pytest.mark.parametrize(
    ("spec_sql", "reason"),
    [
        ("x::UBIGINT", "type UBIGINT has no Spark SQL equivalent"),
        ("x::HUGEINT + 1", "type INT128 has no Spark SQL equivalent"),
        ("a GLOB 'x*'", "Spark SQL has no GLOB"),
        ("a SIMILAR TO 'x'", "Spark SQL has no SIMILAR TO"),
    ],
)
def test_what_has_no_spark_equivalent_is_refused_with_the_reason(
    spec_sql: str, reason: str
) -> None:
    with pytest.raises(Untranslatable, match=reason):
        to_spark(spec_sql)


def test_unknown_functions_are_reported_by_name() -> None:
    assert function_names("list_aggregate(l, 'max') + upper(x) + my_udf(y)") == {
        "list_aggregate",
        "my_udf",
    }
    assert function_names("CASE WHEN a LIKE 'x%' THEN 1 END") == set()
