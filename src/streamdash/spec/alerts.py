"""Typed alert rules (the spec's `alerts:` section) and their cross-checks.

A rule watches one view: its `when` is a SQL boolean over the view's result-table columns,
evaluated per alert key (`by`, default the view's keys) on the newest *final* windows.
With `by` coarser than the view's keys, the rows of one window and key are grouped, and
`when` aggregates them (`sum(interaction_count) > 20000`): plain SQL GROUP BY semantics.

Like `spec.dashboards`, this module keeps `models.py` free of alert details: the Pipeline
holds raw mappings, `parse_alerts` types them, and `alert_problems` returns every problem
as (yaml path, message) so that `streamdash check` shows them with the rest.
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from sqlglot import exp

from streamdash.spec.dashboards import view_columns
from streamdash.spec.durations import parse_duration_us
from streamdash.spec.metrics import DIALECT, MetricError, parse_expression

Severity = Literal["info", "warning", "critical"]
ALERTS_TABLE = "alerts"
"""The PostgreSQL table the evaluator keeps alerts in: no view may write a table of that name."""

MESSAGE_FIELDS = frozenset({"rule", "severity", "value", "key"})
"""Placeholders every alert message may use besides the view's columns."""

_WINDOWS = re.compile(r"^\s*(\d+)\s*windows?\s*$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
ENV_PREFIX = "env:"
"""`webhook: env:NAME` reads the URL from the environment, so a secret URL (Slack, Teams
...) never has to be written in the spec file."""


class ForSpec(BaseModel):
    """How long the condition must hold before an alert opens: a number of consecutive
    final windows (windowed views) or a wall-clock duration (running views)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    windows: int | None = Field(default=None, ge=1)
    duration_us: int | None = Field(default=None, ge=0)

    @model_validator(mode="before")
    @classmethod
    def _text(cls, value: Any) -> Any:
        if isinstance(value, bool):
            raise ValueError("expected '2 windows' or a duration like '30s', got a boolean")
        if isinstance(value, int):
            return {"windows": value}
        if isinstance(value, str):
            match = _WINDOWS.match(value)
            if match:
                return {"windows": int(match.group(1))}
            try:
                return {"duration_us": parse_duration_us(value)}
            except ValueError:
                raise ValueError(
                    f"expected a number of windows like '2 windows' or a duration like "
                    f"'30s', got {value!r}"
                ) from None
        return value

    @model_validator(mode="after")
    def _one(self) -> ForSpec:
        if (self.windows is None) == (self.duration_us is None):
            raise ValueError("give either a number of windows or a duration")
        return self


class AlertRule(BaseModel):
    """One rule of the `alerts:` section; fields are described in docs/alerts.md."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    view: str
    when: str
    for_: ForSpec | None = Field(default=None, alias="for")
    by: list[str] | None = None
    """Alert key columns (default: the view's group_by keys); a subset of them."""
    severity: Severity = "warning"
    message: str | None = None
    webhook: str | None = None
    description: str = ""

    @field_validator("by", mode="before")
    @classmethod
    def _one_or_list(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @field_validator("webhook")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        # The URL itself is never echoed in an error: it may carry a secret.
        if value is None:
            return None
        if value.startswith(ENV_PREFIX):
            if not _ENV_NAME.match(value.removeprefix(ENV_PREFIX)):
                raise ValueError("`env:NAME` needs an environment variable name after 'env:'")
            return value
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("expected an http:// or https:// URL, or env:NAME")
        return value

    def keys(self, view: Any) -> list[str]:
        """The alert key columns for `view` (a `models.ViewSpec`)."""
        return list(view.group_by) if self.by is None else list(self.by)

    def window_count(self) -> int:
        """Consecutive final windows needed (windowed views; default 1)."""
        return 1 if self.for_ is None or self.for_.windows is None else self.for_.windows

    def duration_us(self) -> int:
        """How long the condition must hold (running views; default 0: at once)."""
        return 0 if self.for_ is None or self.for_.duration_us is None else self.for_.duration_us


def parse_rule(raw: object) -> AlertRule:
    return raw if isinstance(raw, AlertRule) else AlertRule.model_validate(raw)


def parse_alerts(pipeline: Any) -> dict[str, AlertRule]:
    """The typed rules of a pipeline; raises `ValidationError` on a malformed one
    (`streamdash check` reports those first, so a running evaluator never sees one)."""
    return {name: parse_rule(raw) for name, raw in pipeline.alerts.items()}


def aggregates(tree: exp.Expression) -> list[exp.AggFunc]:
    """The aggregate calls of `when`, outermost first (nested ones are not allowed)."""
    return [node for node in tree.find_all(exp.AggFunc) if node.find_ancestor(exp.AggFunc) is None]


def value_expression(tree: exp.Expression) -> exp.Expression:
    """What an alert reports as its `value`: the left side of the first comparison in
    `when` (`error_rate` in `error_rate > 0.05`), else the condition itself."""
    for node in tree.walk():
        if isinstance(node, exp.GT | exp.GTE | exp.LT | exp.LTE | exp.EQ | exp.NEQ):
            side: exp.Expression = node.this
            return side
    return tree


def _path(*parts: str | int) -> str:
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


def _placeholders(message: str) -> list[str]:
    """Field names of a `str.format` template (`{error_rate:.1%}` -> error_rate)."""
    names = []
    for _, field, _, _ in string.Formatter().parse(message):
        if field is not None:
            names.append(re.split(r"[.\[]", field, maxsplit=1)[0])
    return names


def _when_problems(
    base: str, rule: AlertRule, columns: list[str], keys: list[str]
) -> tuple[list[tuple[str, str]], list[str]]:
    """Problems of `when`, and the columns a message may show (all, or only keys when
    `when` aggregates)."""
    path = _path(base, "when")
    try:
        tree = parse_expression(rule.when)
    except MetricError as err:
        return [(path, str(err))], columns
    problems: list[tuple[str, str]] = []
    if any(isinstance(node, exp.Window) for node in tree.walk()):
        problems.append((path, "window functions are not allowed in `when`"))
    for agg in tree.find_all(exp.AggFunc):
        if agg.find_ancestor(exp.AggFunc) is not None:
            problems.append((path, f"aggregates cannot be nested: {agg.sql(DIALECT)!r}"))
    grouped = bool(aggregates(tree))
    time_columns = [c for c in columns if c in ("window_start", "window_end")]
    for column in tree.find_all(exp.Column):
        name = column.name
        free = column.find_ancestor(exp.AggFunc) is None
        if name not in columns:
            known = ", ".join(columns)
            problems.append(
                (path, f"`when` reads unknown column {name!r}; expected one of: {known}")
            )
        elif grouped and free and name not in keys and name not in time_columns:
            problems.append(
                (
                    path,
                    f"`when` aggregates the rows of a key, so {name!r} must be inside an "
                    f"aggregate such as sum({name}) or max({name}), or be one of `by`",
                )
            )
    return problems, (keys + time_columns) if grouped else columns


def _rule_problems(base: str, rule: AlertRule, pipeline: Any) -> list[tuple[str, str]]:
    view = pipeline.views.get(rule.view)
    if view is None:
        names = ", ".join(sorted(pipeline.views)) or "there are none"
        return [(_path(base, "view"), f"unknown view {rule.view!r}; expected one of: {names}")]
    problems: list[tuple[str, str]] = []
    columns = view_columns(view)
    keys = rule.keys(view)
    for index, key in enumerate(keys):
        if key not in view.group_by:
            where = _path(base, "by", index)
            known = ", ".join(view.group_by) or "none (the view has no keys)"
            problems.append(
                (where, f"{key!r} is not a key of view {rule.view!r}; expected one of: {known}")
            )
    when_problems, shown = _when_problems(base, rule, columns, keys)
    problems += when_problems
    if not when_problems and sorted(set(keys)) != sorted(set(view.group_by)):
        tree = parse_expression(rule.when)
        column = tree.find(exp.Column)
        if not aggregates(tree) and column is not None:
            problems.append(
                (
                    _path(base, "when"),
                    "with `by` coarser than the view's keys, several rows share a key: "
                    f"`when` must aggregate them, e.g. sum({column.name}) or max({column.name})",
                )
            )
    if rule.for_ is not None:
        if view.window is None and rule.for_.windows is not None:
            problems.append(
                (
                    _path(base, "for"),
                    f"view {rule.view!r} is a running aggregate (no windows): give a "
                    "duration such as 30s",
                )
            )
        if view.window is not None and rule.for_.duration_us is not None:
            problems.append(
                (
                    _path(base, "for"),
                    f"view {rule.view!r} is windowed: give a number of final windows, "
                    "e.g. '2 windows'",
                )
            )
    if rule.message is not None:
        try:
            placeholders = _placeholders(rule.message)
        except ValueError as err:
            problems.append((_path(base, "message"), f"not a valid message template: {err}"))
            placeholders = []
        allowed = [*shown, *sorted(MESSAGE_FIELDS)]
        for name in placeholders:
            if name not in allowed:
                problems.append(
                    (
                        _path(base, "message"),
                        f"placeholder {{{name}}} is not available; expected one of: "
                        + ", ".join(allowed),
                    )
                )
    return problems


def alert_problems(pipeline: Any) -> list[tuple[str, str]]:
    """Every problem of `pipeline.alerts` as (yaml path, message); [] if none. `pipeline`
    is a `models.Pipeline` whose alerts are raw mappings or `AlertRule`s."""
    problems: list[tuple[str, str]] = []
    rules: Mapping[str, object] = pipeline.alerts
    if rules:
        for name in pipeline.views:
            if pipeline.table_of(name) == ALERTS_TABLE:
                problems.append(
                    (
                        _path("views", name),
                        f"result table {ALERTS_TABLE!r} is where alerts are kept; give "
                        "this view another `table:`",
                    )
                )
    for name, raw in rules.items():
        base = _path("alerts", name)
        try:
            rule = parse_rule(raw)
        except ValidationError as err:
            for error in err.errors():
                loc = tuple(part for part in error["loc"] if isinstance(part, str | int))
                problems.append((_path(base, *loc), error["msg"]))
            continue
        problems += _rule_problems(base, rule, pipeline)
    return problems


__all__ = [
    "ALERTS_TABLE",
    "AlertRule",
    "ForSpec",
    "Severity",
    "aggregates",
    "alert_problems",
    "parse_alerts",
    "parse_rule",
    "value_expression",
]
