"""A rule compiled against its view: the SQL the evaluator runs and how to read the result.

`when` is written in the spec's SQL dialect (DuckDB, like metrics) and transpiled for
PostgreSQL, where the result tables live. Validation (`spec.alerts.alert_problems`) has
already checked that it reads only the view's columns.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from streamdash.spec.alerts import ENV_PREFIX, AlertRule, aggregates, parse_alerts, value_expression
from streamdash.spec.metrics import parse_expression
from streamdash.spec.models import Pipeline

TARGET_DIALECT = "postgres"


@dataclass(frozen=True)
class CompiledRule:
    name: str
    spec: AlertRule
    table: str
    keys: tuple[str, ...]
    """Alert key columns: one alert per distinct value tuple."""
    windowed: bool
    step_us: int | None
    """Distance between window starts (tumbling/hopping); None for sessions and running views."""
    condition_sql: str
    value_sql: str
    grouped: bool
    """`when` aggregates the rows of (window, key): the query groups instead of reading rows."""

    @property
    def windows(self) -> int:
        return self.spec.window_count()

    @property
    def duration_us(self) -> int:
        return self.spec.duration_us()

    @property
    def severity(self) -> str:
        return self.spec.severity

    def webhook_url(self) -> str | None:
        """The URL to POST to, resolved now (`env:NAME` reads the environment, so a rotated
        secret is picked up without editing the spec). None: no webhook, or the variable is
        unset."""
        url = self.spec.webhook
        if url is not None and url.startswith(ENV_PREFIX):
            return os.environ.get(url.removeprefix(ENV_PREFIX)) or None
        return url


def compile_rule(name: str, rule: AlertRule, pipeline: Pipeline) -> CompiledRule:
    view = pipeline.views[rule.view]
    tree = parse_expression(rule.when)
    keys = tuple(rule.keys(view))
    window = view.window
    step = None
    if window is not None and window.kind != "session":
        step = window.step_us
    return CompiledRule(
        name=name,
        spec=rule,
        table=pipeline.table_of(rule.view),
        keys=keys,
        windowed=window is not None,
        step_us=step,
        condition_sql=tree.sql(TARGET_DIALECT),
        value_sql=value_expression(tree).sql(TARGET_DIALECT),
        grouped=bool(aggregates(tree)) or sorted(set(keys)) != sorted(set(view.group_by)),
    )


def compile_rules(pipeline: Pipeline) -> list[CompiledRule]:
    """Every rule of a validated pipeline, compiled."""
    return [compile_rule(name, rule, pipeline) for name, rule in parse_alerts(pipeline).items()]
