"""The engine process: wires the embedded log, the processor, reference tables and the
PostgreSQL sink, and runs the loop until asked to stop (SIGTERM / Ctrl-C)."""

from __future__ import annotations

import logging
import signal
import threading
import time
from types import FrameType

import pyarrow as pa

from streamdash.config import Settings
from streamdash.errors import Retryable
from streamdash.log.sqlite import SqliteLog
from streamdash.runtime.backoff import Backoff
from streamdash.runtime.readiness import notify_ready
from streamdash.runtime.runner import EngineRunner
from streamdash.runtime.tables import load_table
from streamdash.spec.models import Pipeline

_log = logging.getLogger(__name__)


class TableRefresher:
    """Reloads reference tables whose spec has `refresh`, between engine steps."""

    def __init__(self, pipeline: Pipeline, runner: EngineRunner, database_url: str) -> None:
        self.pipeline = pipeline
        self.runner = runner
        self.database_url = database_url
        self.versions = dict.fromkeys(pipeline.tables, 0)
        self.due = {
            name: time.monotonic() + (spec.refresh or 0) / 1e6
            for name, spec in pipeline.tables.items()
            if spec.refresh
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
                self.runner.processor.set_table(name, table)  # type: ignore[attr-defined]
                # a refresh is not in the log: checkpoint so replays never cross it
                self.runner.request_checkpoint()
            assert spec.refresh is not None
            self.due[name] = now + spec.refresh / 1e6


def initial_tables(pipeline: Pipeline, database_url: str) -> dict[str, pa.Table]:
    """Every reference table, loaded once (StoreUnavailable if one reads a database that
    does not answer yet)."""
    return {
        name: load_table(name, spec, database_url=database_url)
        for name, spec in pipeline.tables.items()
    }


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
    sink = PostgresSink(database_url)
    processor: Processor | None = None
    used = False
    """`processor` went through a start(): its state is of unknown validity after a failure."""
    runner: EngineRunner | None = None
    refresher: TableRefresher | None = None
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
                    processor = Processor(pipeline, initial_tables(pipeline, database_url))
                sink.connect()
                if used:  # rebuild from nothing, now that the database answers again
                    processor.close()
                    processor = Processor(pipeline, initial_tables(pipeline, database_url))
                    used = False
                if runner is None:
                    runner = EngineRunner(processor, log, sink, list(pipeline.streams))
                    refresher = TableRefresher(pipeline, runner, database_url)
                runner.processor = processor
                used = True
                runner.start()
                started = True
                notify_ready()  # `streamdash run` starts the readers now
            assert runner is not None and refresher is not None
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
            runner.checkpoint_now()
        except Retryable as err:
            _log.warning(
                "final checkpoint failed (%s); the next start replays more of the log", err
            )
    log.close()
