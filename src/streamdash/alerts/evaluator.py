"""The alert evaluator: every tick, one query per rule over its view's newest final
windows, then the state changes written to the `alerts` table and sent to webhooks.

All state that matters is in the table (which alerts are open, which notifications were
delivered), so the evaluator can be stopped and restarted at any moment. Only the `for`
period of running views is kept in memory: a restart starts it again.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import psycopg

from streamdash.alerts import table
from streamdash.alerts.decide import Changes, decide_running, decide_windowed
from streamdash.alerts.observe import Key, key_text, observe
from streamdash.alerts.rules import CompiledRule, compile_rules
from streamdash.alerts.table import AlertRecord
from streamdash.alerts.webhook import RetryPolicy, WebhookWorker
from streamdash.errors import StoreUnavailable
from streamdash.spec.models import Pipeline
from streamdash.store.connection import connect, describe, first_line, is_transient

log = logging.getLogger(__name__)

TICK_S = 1.0


@dataclass
class TickStats:
    opened: int = 0
    resolved: int = 0
    failed_rules: int = 0


def payload(record: AlertRecord) -> dict[str, Any]:
    """The JSON body a webhook receives."""
    return {
        "id": record.id,
        "rule": record.rule,
        "key": record.key,
        "state": record.state,
        "severity": record.severity,
        "message": record.message,
        "value": record.value,
        "opened_at": record.opened_at.isoformat(),
        "resolved_at": record.resolved_at.isoformat() if record.resolved_at else None,
    }


class AlertEvaluator:
    """Not thread-safe: one loop owns an evaluator (its connection and webhook worker)."""

    def __init__(
        self,
        pipeline: Pipeline,
        database_url: str,
        *,
        policy: RetryPolicy | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.url = database_url
        self.rules = compile_rules(pipeline)
        self._clock = clock
        self._conn: psycopg.Connection[Any] | None = None
        self._pending: dict[str, dict[Key, float]] = {rule.name: {} for rule in self.rules}
        self._delivered: queue.SimpleQueue[tuple[int, str]] = queue.SimpleQueue()
        self._webhooks = WebhookWorker(
            lambda alert_id, state: self._delivered.put((alert_id, state)), policy
        )
        self._resent = False
        self._rule_errors: dict[str, str] = {}

    def close(self) -> None:
        self._webhooks.close()
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _connection(self) -> psycopg.Connection[Any]:
        if self._conn is None or self._conn.closed or self._conn.broken:
            conn = connect(self.url)
            try:
                table.create_table(conn)
            except psycopg.Error as err:
                conn.close()
                raise StoreUnavailable(
                    f"{describe(self.url)}: cannot create the alerts table: {first_line(err)}"
                ) from err
            self._conn = conn
        return self._conn

    def _notify(self, rule: CompiledRule, record: AlertRecord | None) -> None:
        if record is None:
            return
        url = rule.webhook_url()
        if url is not None:
            self._webhooks.submit(url, payload(record))

    def _resend_undelivered(self, conn: psycopg.Connection[Any]) -> None:
        """Once per process: notifications a previous run decided but did not deliver."""
        with_hooks = {rule.name: rule for rule in self.rules if rule.webhook_url()}
        for record in table.unnotified(conn, sorted(with_hooks)):
            self._notify(with_hooks[record.rule], record)
        self._resent = True

    def _apply(self, conn: psycopg.Connection[Any], rule: CompiledRule, changes: Changes,
               stats: TickStats) -> None:  # fmt: skip
        for obs in changes.opened:
            record = table.open_alert(conn, rule, obs)
            if record is not None:
                stats.opened += 1
                log.warning("alert %s opened for %s: %s", rule.name, obs.key, record.message)
            self._notify(rule, record)
        for alert, obs in changes.resolved:
            record = table.resolve_alert(conn, rule, alert, obs)
            if record is not None:
                stats.resolved += 1
                log.info("alert %s resolved for %s", rule.name, obs.key)
            self._notify(rule, record)
        for alert, obs in changes.updated:
            table.refresh_alert(conn, rule, alert, obs)

    def _evaluate(self, conn: psycopg.Connection[Any], rule: CompiledRule,
                  open_alerts: dict[Key, Any], stats: TickStats) -> None:  # fmt: skip
        observations = observe(conn, rule)
        if rule.windowed:
            changes = decide_windowed(rule, observations, open_alerts)
        else:
            pending = self._pending[rule.name]
            changes = decide_running(rule, observations, open_alerts, pending, self._clock())
        self._apply(conn, rule, changes, stats)

    def tick(self) -> TickStats:
        """Evaluate every rule once. Raises `StoreUnavailable` when the database is down;
        a rule whose query fails (its table does not exist yet, SQL PostgreSQL rejects) is
        logged once and skipped, the others are still evaluated."""
        stats = TickStats()
        try:
            conn = self._connection()
            while not self._delivered.empty():
                table.mark_notified(conn, *self._delivered.get_nowait())
            if not self._resent:
                self._resend_undelivered(conn)
            open_by_rule: dict[str, dict[Key, Any]] = {}
            for record in table.load_open(conn):
                open_by_rule.setdefault(record.rule, {})[key_text(record.key)] = record.as_open()
            for rule in self.rules:
                try:
                    self._evaluate(conn, rule, open_by_rule.get(rule.name, {}), stats)
                except psycopg.Error as err:
                    if is_transient(err):
                        raise
                    stats.failed_rules += 1
                    self._report(rule, err)
                else:
                    self._rule_errors.pop(rule.name, None)
        except psycopg.Error as err:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
            raise StoreUnavailable(f"{describe(self.url)}: {first_line(err)}") from err
        return stats

    def _report(self, rule: CompiledRule, err: psycopg.Error) -> None:
        text = first_line(err)
        if self._rule_errors.get(rule.name) == text:
            return  # the same problem every second would drown the log
        self._rule_errors[rule.name] = text
        if isinstance(err, psycopg.errors.UndefinedTable):
            log.info("alert %s: table %s does not exist yet", rule.name, rule.table)
        else:
            log.warning("alert %s cannot be evaluated: %s", rule.name, text)

    def run(self, stop: threading.Event, interval_s: float = TICK_S) -> None:
        """Tick every `interval_s` until `stop` is set; database outages are logged and
        waited out, never fatal."""
        down = False
        next_at = self._clock()
        while not stop.is_set():
            try:
                self.tick()
                if down:
                    log.info("alerts: database reachable again")
                down = False
            except StoreUnavailable as err:
                if not down:
                    log.warning("alerts: %s; retrying every %.0f s", err, interval_s)
                down = True
            except Exception:  # a bug must not stop alerting for good
                log.exception("alerts: evaluation failed")
            # A fixed rhythm, not "sleep after work"; a slow tick is not caught up on.
            next_at = max(next_at + interval_s, self._clock())
            stop.wait(next_at - self._clock())
