"""user_demographics rows: ranges, id convention, and deterministic refreshes."""

from __future__ import annotations

import re

import pytest

from streamdash.sources.generators import GeneratorError, table_rows
from streamdash.sources.generators.demographics import demographics_rows

KEYS = [
    "id",
    "age",
    "gender",
    "state",
    "country",
    "registration_date",
    "income_bracket",
    "last_login",
]
US_STATE = re.compile(r"^[A-Z]{2}$")


def test_rows_have_the_table_columns_and_ranges() -> None:
    rows = demographics_rows(500, seed=1)
    assert [row["id"] for row in rows] == [f"user_{i}" for i in range(1, 501)]
    countries = set()
    for row in rows:
        assert list(row) == KEYS
        assert 18 <= row["age"] <= 80
        assert row["registration_date"] < row["last_login"][:10] or (
            row["registration_date"] == row["last_login"][:10]
        )
        assert re.match(r"^\d{4}-\d{2}-\d{2}$", row["registration_date"])
        assert re.match(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$", row["last_login"])
        if row["country"] == "US":
            assert US_STATE.match(row["state"])
        countries.add(row["country"])
    assert countries == {"US", "GB", "DE", "FR", "IN", "BR"}


def test_same_arguments_same_rows_and_seed_matters() -> None:
    assert demographics_rows(100, seed=3, version=2) == demographics_rows(100, seed=3, version=2)
    assert demographics_rows(100, seed=3) != demographics_rows(100, seed=4)


def test_a_refresh_changes_a_few_rows_deterministically() -> None:
    base = demographics_rows(200, seed=0)
    first = demographics_rows(200, seed=0, version=1)
    changed = [i for i, (a, b) in enumerate(zip(base, first, strict=True)) if a != b]
    assert len(changed) == 10  # 5 %
    for index in changed:
        assert first[index]["last_login"] > base[index]["last_login"]
        assert first[index]["id"] == base[index]["id"]
        assert first[index]["age"] == base[index]["age"]
    assert changed == [
        i for i, (a, b) in enumerate(zip(base, demographics_rows(200, 0, 1), strict=True)) if a != b
    ]


def test_versions_build_on_each_other() -> None:
    first = demographics_rows(200, seed=0, version=1)
    second = demographics_rows(200, seed=0, version=2)
    changed = [i for i, (a, b) in enumerate(zip(first, second, strict=True)) if a != b]
    assert 1 <= len(changed) <= 10
    # Rows the second refresh did not touch keep the first refresh's values.
    untouched = set(range(200)) - set(changed)
    assert all(first[i] == second[i] for i in untouched)


def test_table_registry_and_errors() -> None:
    assert table_rows("user_demographics", count=5, seed=1) == demographics_rows(5, 1)
    with pytest.raises(GeneratorError, match="no generator for table 'customers'"):
        table_rows("customers", count=5, seed=1)
    with pytest.raises(GeneratorError, match="version must be an integer >= 0"):
        demographics_rows(5, 1, -1)
    assert demographics_rows(0, 1, 3) == []
