"""`streamdash run` and `streamdash demo`: everything on one machine.

The database runs embedded (or is external), the ingest API and the engine each get a
process, and this process shows the live status line until Ctrl-C or `--duration`.
Stopping is orderly: feeders first, then the API (no new acks), then the engine (which
checkpoints), then the database. Running again on the same data dir resumes.
"""

from __future__ import annotations

import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from rich.console import Console
from rich.live import Live

from streamdash.config import ENV_KAFKA, Settings, mask_url
from streamdash.kafka.settings import KafkaSettings
from streamdash.log.sqlite import SqliteLog
from streamdash.runtime.feeder import Feeder
from streamdash.runtime.services import Supervisor, child_env, database, wait_healthy
from streamdash.runtime.status import StatusBoard
from streamdash.spec.models import Pipeline


@dataclass(frozen=True)
class LocalOptions:
    spec_path: Path | None
    demo: bool
    rate: float = 200.0
    duration: float | None = None
    seed: int = 42
    late_fraction: float = 0.01
    bad_fraction: float = 0.005
    kafka: KafkaSettings | None = None
    """Kafka is the log: the API produces, `workers` workers consume (no engine process)."""
    workers: int = 1


def run_local(
    pipeline: Pipeline, settings: Settings, options: LocalOptions, console: Console
) -> int:
    stop = threading.Event()

    def _on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    api_url = f"http://{settings.host}:{settings.port}"
    spec_args = [str(options.spec_path)] if options.spec_path else []
    with database(settings) as database_url:
        env = child_env(settings, database_url)
        if options.kafka is not None:  # every child (the dashboard too) knows the log
            env[ENV_KAFKA] = options.kafka.bootstrap
        supervisor = Supervisor()
        logs = settings.data_dir / "logs"
        kafka_args = ["--kafka", options.kafka.bootstrap] if options.kafka else []
        supervisor.spawn(
            "api",
            [
                *("serve", *spec_args, "--host", settings.host, "--port", str(settings.port)),
                *kafka_args,
            ],
            env,
            logs,
        )
        if options.kafka is None:
            supervisor.spawn("engine", ["engine", *spec_args], env, logs)
        for i in range(options.workers if options.kafka else 0):
            supervisor.spawn(f"worker-{i + 1}", ["worker", *spec_args, *kafka_args], env, logs)
        try:
            if not wait_healthy(api_url):
                console.print(f"[red]the ingest API did not start; see {logs / 'api.log'}")
                return 1
            # the readers start once ingest is up: on two cores their imports would
            # otherwise delay the first acknowledged event and the first result row
            supervisor.spawn("alerts", ["alerts", *spec_args], env, logs)
            dashboard_args = ["--host", settings.host, "--port", str(settings.dashboard_port)]
            supervisor.spawn("dashboard", ["dashboard", *spec_args, *dashboard_args], env, logs)
            _print_banner(console, settings, database_url, api_url, logs)
            feeders = _start_feeders(pipeline, settings, options, api_url, stop)
            board = _status_board(pipeline, settings, options, database_url)
            deadline = time.monotonic() + options.duration if options.duration else None
            with Live(
                board.render(), console=console, refresh_per_second=2, transient=False
            ) as live:
                while not stop.is_set():
                    board.refresh()
                    live.update(board.render())
                    dead = supervisor.dead()
                    if dead:
                        console.print(f"[red]{', '.join(dead)} stopped unexpectedly; see {logs}")
                        return 1
                    if deadline is not None and time.monotonic() >= deadline:
                        break
                    stop.wait(1.0)
            stop.set()
            for thread in feeders:
                thread.join(timeout=5)
        finally:
            supervisor.stop()
    console.print("stopped cleanly; run the same command again to resume")
    return 0


def _status_board(
    pipeline: Pipeline, settings: Settings, options: LocalOptions, database_url: str
) -> StatusBoard:
    if options.kafka is None:
        return StatusBoard(pipeline, SqliteLog(settings.log_dir), database_url)
    from streamdash.kafka.progress import KafkaStatusBoard

    log = SqliteLog(settings.log_dir)  # not read: the board reads the workers' progress
    return KafkaStatusBoard(pipeline, log, database_url, group=options.kafka.group)


def _print_banner(
    console: Console, settings: Settings, database_url: str, api_url: str, logs: Path
) -> None:
    console.print(
        f"[bold]streamdash[/] is running  (Ctrl-C stops)\n"
        f"  ingest API   {api_url}   (POST /v1/streams/<stream>/events, "
        f"/v1/sensorlogger)\n"
        f"  results      {api_url}/v1/views\n"
        f"  dashboard    http://{settings.host}:{settings.dashboard_port}\n"
        f"  database     {mask_url(database_url)}\n"
        f"  data dir     {settings.data_dir.resolve()}\n"
        f"  process logs {logs.resolve()}"
    )


def demo_run_number(data_dir: Path) -> int:
    """How many demos ran on this data dir before, counting this one in (1, 2, ...).

    Each run's generators get a seed of their own: with the same seed a resumed demo would
    post the first run's events again (the same user ids, so `created_users` would not
    grow until it had caught up with the first run)."""
    path = data_dir / "demo-runs"
    try:
        previous = int(path.read_text().strip() or 0)
    except (FileNotFoundError, ValueError):
        previous = 0
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"{previous + 1}\n")
    return previous + 1


def _start_feeders(
    pipeline: Pipeline,
    settings: Settings,
    options: LocalOptions,
    api_url: str,
    stop: threading.Event,
) -> list[threading.Thread]:
    if not options.demo:
        return []
    threads = []
    run = demo_run_number(settings.data_dir)
    for i, (name, spec) in enumerate(pipeline.streams.items()):
        feeder = Feeder(
            api_url,
            name,
            options.rate,
            options.seed + i + 1000 * (run - 1),
            token=settings.token,
            late_fraction=options.late_fraction,
            bad_fraction=options.bad_fraction,
            sensorlogger=spec.adapter == "sensorlogger",
        )
        thread = threading.Thread(target=feeder.run, args=(stop,), name=f"feed-{name}", daemon=True)
        thread.start()
        threads.append(thread)
    return threads
