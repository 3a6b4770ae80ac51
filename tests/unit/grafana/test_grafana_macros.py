"""Expansion of Grafana macros and template variables to plain PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from streamdash.grafana.macros import expand, selection
from streamdash.grafana.sqltext import ident, literal

START = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)
END = datetime(2024, 6, 1, 13, 0, 30, tzinfo=UTC)


def test_time_filter_becomes_between_in_utc() -> None:
    sql = 'SELECT 1 FROM t WHERE $__timeFilter("window_start") AND x = 1'
    assert expand(sql, START, END, {}) == (
        "SELECT 1 FROM t WHERE \"window_start\" BETWEEN '2024-06-01T12:00:00Z' "
        "AND '2024-06-01T13:00:30Z' AND x = 1"
    )


def test_other_time_zones_are_converted_to_utc() -> None:
    plus2 = START.astimezone(timezone(timedelta(hours=2)))
    assert "'2024-06-01T12:00:00Z'" in expand("$__timeFrom()", plus2, END, {})
    assert expand("$__timeTo()", START, END, {}) == "'2024-06-01T13:00:30Z'"


def test_naive_times_are_refused() -> None:
    with pytest.raises(ValueError, match="time zone"):
        expand("$__timeFrom()", START.replace(tzinfo=None), END, {})


def test_variables_both_spellings() -> None:
    sql = "a IN ($dev) AND b IN (${dev})"
    assert expand(sql, START, END, {"dev": "'d1','d2'"}) == "a IN ('d1','d2') AND b IN ('d1','d2')"


def test_unknown_variable_or_macro_raises() -> None:
    with pytest.raises(ValueError, match=r"\$other"):
        expand("a IN ($other)", START, END, {"dev": "'x'"})
    with pytest.raises(ValueError, match="unsupported"):
        expand("$__timeGroup(window_start, '1m')", START, END, {})


def test_selection_quotes_values_like_grafana() -> None:
    assert selection(["app-1", "o'brien", 7]) == "'app-1','o''brien','7'"
    with pytest.raises(ValueError):
        selection([])


def test_quoting() -> None:
    assert ident('we"ird') == '"we""ird"'
    assert ident("dBFS") == '"dBFS"'
    assert literal("it's") == "'it''s'"
    assert literal(True) == "TRUE"
    assert literal(3) == "3"
    assert literal(2.5) == "2.5"
