"""The engine process: wires the embedded log, the processor, reference tables and the
PostgreSQL sink, and runs the loop until asked to stop (SIGTERM / Ctrl-C)."""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable
from types import FrameType

import pyarrow as pa

from streamdash.config import Settings
from streamdash.errors import Retryable
from streamdash.log.sqlite import SqliteLog
from streamdash.runtime.backoff import Backoff
from streamdash.runtime.readiness import notify_ready
from streamdash.runtime.runner import EngineRunner, Sink
from streamdash.runtime.tables import load_table
from streamdash.sinks.outputs import WithExtraSinks, extra_sinks
from streamdash.spec.models import Pipeline

_log = logging.getLogger(__name__)

DRAIN_S = 5.0
"""On a stop, how long the engine goes on processing what is already in the log."""


class TableRefresher:
    """Reloads reference tables whose spec has `refresh`, between engine steps, and hands
    each new version to `apply(name, rows)`."""

    def __init__(
        self, pipeline: Pipeline, apply: Callable[[str, pa.Table], None], database_url: str
    ) -> None:
        self.pipeline = pipeline
        self.apply = apply
        self.database_url = database_url
        self.versions = dict.fromkeys(pipeline.tables, 0)
        self.due = {
            name: time.monotonic() + (spec.refresh or 0) / 1e6
            for name, spec in pipeline.tables.items()
            if spec.refresh
        }

    def initial(self) -> dict[str, pa.Table]:
        return {
            name: load_table(name, spec, database_url=self.database_url)
            for name, spec in self.pipeline.tables.items()
        }

    def refresh_due(self) -> None:
        now = time.monotonic()
        for name, due in list(self.due.items()):
            if now < due:
                continue
            spec = self.pipeline.tables[name]
            self.versions[name] += 1
            try:
                table = load_table(
                    name, spec, version=self.versions[name], database_url=self.database_url
                )
            except Exception as err:  # a failed refresh keeps the previous table
                _log.warning("refresh of table %s failed, keeping the old rows: %s", name, err)
            else:
                self.apply(name, table)
            assert spec.refresh is not None
            self.due[name] = now + spec.refresh / 1e6


def run_engine(
    pipeline: Pipeline, settings: Settings, database_url: str, stop: threading.Event | None = None
) -> None:
    from streamdash.engine import Processor
    from streamdash.store.postgres import PostgresSink

    stop = stop or threading.Event()

    def _on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _on_signal)
        signal.signal(signal.SIGINT, _on_signal)

    log = SqliteLog(settings.log_dir, synchronous=settings.log_sync)
    store = PostgresSink(database_url)
    extras = extra_sinks(pipeline)
    sink: Sink = WithExtraSinks(store, extras) if extras else store
    processor: Processor | None = None
    used = False
    """`processor` went through a start(): its state is of unknown validity after a failure."""
    runner: EngineRunner | None = None

    def apply(name: str, table: pa.Table) -> None:
        assert runner is not None  # refreshes run between the runner's steps
        runner.processor.set_table(name, table)  # type: ignore[attr-defined]
        # a refresh is not in the log: checkpoint so replays never cross it
        runner.request_checkpoint()

    refresher = TableRefresher(pipeline, apply, database_url)
    # `started`: the processor holds exactly the state of the committed offsets. Only then
    # may it process or checkpoint: a step on a processor whose start() failed half-way
    # (not restored, or partly replayed) would commit rows and a checkpoint built on wrong
    # window state as soon as the database answers again.
    started = False
    backoff = Backoff()
    while not stop.is_set():
        try:
            if not started:
                # The processor is built before the database is needed: `streamdash run`
                # starts this process while PostgreSQL is still starting, and compiling the
                # views meanwhile takes that work off the path to the first result row.
                if processor is None:
                    processor = Processor(pipeline, refresher.initial())
                store.connect()
                if used:  # rebuild from nothing, now that the database answers again
                    processor.close()
                    processor = Processor(pipeline, refresher.initial())
                    used = False
                if runner is None:
                    runner = EngineRunner(processor, log, sink, list(pipeline.streams))
                runner.processor = processor
                used = True
                runner.start()
                started = True
                notify_ready()  # `streamdash run` starts the readers now
            assert runner is not None
            refresher.refresh_due()
            processed = runner.step()
            backoff.succeeded()
            if processed == 0:
                stop.wait(0.02)
        except Retryable as err:
            # nothing of the failed batch was committed: recover from the last checkpoint
            what = "step" if started else "start"
            if runner is None and not backoff.at_ceiling:
                # not started yet: the database is most likely still starting up
                _log.info("waiting for the database: %s", err)
            else:
                _log.warning(
                    "engine %s failed (%s); recovering from the last checkpoint", what, err
                )
            started = False
            stop.wait(backoff.next_delay())
    if started and runner is not None:
        try:
            runner.drain(DRAIN_S)
        except Retryable as err:
            _log.warning(
                "final drain or checkpoint failed (%s); the next start goes on from the last "
                "commit",
                err,
            )
    for extra in extras:
        extra.close()
    log.close()
