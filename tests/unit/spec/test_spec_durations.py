"""Durations as written in specs, and how they reach the models."""

from __future__ import annotations

import pytest

from streamdash.errors import SpecError
from streamdash.spec.durations import format_duration_us, parse_duration_us
from streamdash.spec.loader import parse_pipeline

SPEC = """\
streams:
  s:
    time: {field: t, unit: s}
    lateness: LATENESS
    schema: {t: int64}
views:
  v:
    from: s
    window: {hopping: {size: SIZE, every: EVERY}}
    metrics: {n: count()}
"""


@pytest.mark.parametrize(
    ("text", "micros"),
    [
        ("500us", 500),
        ("250ms", 250_000),
        ("10s", 10_000_000),
        ("10 sec", 10_000_000),
        ("1.5s", 1_500_000),
        ("1m", 60_000_000),
        ("5min", 300_000_000),
        ("2h", 7_200_000_000),
        ("1d", 86_400_000_000),
        (30, 30_000_000),
        (0.25, 250_000),
    ],
)
def test_parse_duration(text: str | float, micros: int) -> None:
    assert parse_duration_us(text) == micros


@pytest.mark.parametrize("bad", ["10 parsecs", "-5s", "s", "", True, -1, [10]])
def test_bad_durations_name_the_accepted_forms(bad: object) -> None:
    with pytest.raises(ValueError, match=r"duration|negative"):
        parse_duration_us(bad)


@pytest.mark.parametrize("micros", [500, 250_000, 10_000_000, 300_000_000, 86_400_000_000])
def test_format_round_trips(micros: int) -> None:
    assert parse_duration_us(format_duration_us(micros)) == micros


def spec(lateness: str = "10s", size: str = "60s", every: str = "10s") -> str:
    return SPEC.replace("LATENESS", lateness).replace("SIZE", size).replace("EVERY", every)


def test_durations_in_a_spec_become_microseconds() -> None:
    pipeline = parse_pipeline(spec(lateness="1500ms", size="1h", every="5min"))
    assert pipeline.streams["s"].lateness == 1_500_000
    window = pipeline.views["v"].window
    assert window is not None and (window.size_us, window.step_us) == (3_600_000_000, 300_000_000)


@pytest.mark.parametrize(
    ("kwargs", "path", "fragment"),
    [
        ({"lateness": "soon"}, "streams.s.lateness", "expected a duration like '10s'"),
        ({"size": "60s", "every": "7s"}, "views.v.window.hopping", "whole multiple of every"),
        ({"size": "0s", "every": "0s"}, "views.v.window.hopping", "must be positive"),
    ],
)
def test_bad_durations_in_a_spec(kwargs: dict[str, str], path: str, fragment: str) -> None:
    with pytest.raises(SpecError) as caught:
        parse_pipeline(spec(**kwargs))
    problems = dict(caught.value.problems)
    assert fragment in problems[path], problems


def test_session_gap_and_tumbling_size_must_be_positive() -> None:
    text = spec().replace("{hopping: {size: 60s, every: 10s}}", "{session: {gap: 0s}}")
    with pytest.raises(SpecError) as caught:
        parse_pipeline(text)
    assert "views.v.window.session.gap" in dict(caught.value.problems)
    text = spec().replace("{hopping: {size: 60s, every: 10s}}", "{tumbling: 0s}")
    with pytest.raises(SpecError) as caught:
        parse_pipeline(text)
    assert "greater than 0" in dict(caught.value.problems)["views.v.window.tumbling"]
