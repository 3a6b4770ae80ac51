"""`streamdash run` and `streamdash demo`: everything on one machine.

The database runs embedded (or is external), the ingest API and the engine each get a
process, and this process shows the live status line until Ctrl-C or `--duration`.
Stopping is orderly: feeders first, then the API (no new acks) and the readers, then the
engine (which processes what the log holds, for up to `engine_main.DRAIN_S`, and
checkpoints), then the database. Running again on the same data dir resumes.
"""

from __future__ import annotations

import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

from streamdash.config import ENV_KAFKA, Settings, mask_url
from streamdash.runtime.services import LocalDatabase, Supervisor, child_env, wait_healthy

if TYPE_CHECKING:
    from rich.console import Console

    from streamdash.kafka.settings import KafkaSettings
    from streamdash.spec.models import Pipeline

# The status board, the feeders and rich's Live display are imported only once the children
# are spawned: every import before that delays the first acknowledged event and first row.

READERS_WAIT_S = 10.0
"""How long the dashboard and alert evaluator wait for the engine to start, at most."""


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
    logs = settings.data_dir / "logs"
    database = LocalDatabase(settings)
    supervisor = Supervisor(logs)
    try:
        # The API and the engine start while the database initialises and starts: ingest
        # needs only the log (events posted meanwhile are durable and processed once the
        # database answers), and the engine retries until it does. On two cores this
        # overlaps their ~1 s of imports with initdb instead of adding them up.
        env = _env(settings, options, database.url)
        kafka_args = ["--kafka", options.kafka.bootstrap] if options.kafka else []
        api_args = ["serve", *spec_args, "--host", settings.host, "--port", str(settings.port)]
        supervisor.spawn("api", [*api_args, *kafka_args], env)
        engines = ["engine"] if options.kafka is None else []
        engines += [f"worker-{i + 1}" for i in range(options.workers if options.kafka else 0)]
        for name in engines:
            args = ["engine", *spec_args] if name == "engine" else ["worker", *spec_args]
            supervisor.spawn(
                name, [*args, *kafka_args], env, notifies=name == "engine", stop_last=True
            )
        if database.start():
            # the reserved port was taken in between: restart them with the real URL
            env = _env(settings, options, database.url)
            supervisor.respawn(["api", *engines], env)
        if not wait_healthy(api_url):
            console.print(f"[red]the ingest API did not start; see {logs / 'api.log'}")
            return 1
        _print_banner(console, settings, database.url, api_url, logs)
        # The readers start once ingest is up and the engine has started (or could not,
        # within READERS_WAIT_S): on two cores their ~2 s of imports would otherwise slow
        # the engine's start, and with it the first acknowledged event's result row.
        if options.kafka is None:
            supervisor.wait_ready("engine", READERS_WAIT_S, stop)
        supervisor.spawn("alerts", ["alerts", *spec_args], env)
        dashboard_args = ["--host", settings.host, "--port", str(settings.dashboard_port)]
        supervisor.spawn("dashboard", ["dashboard", *spec_args, *dashboard_args], env)
        _show_status(pipeline, settings, options, api_url, database.url, supervisor, console, stop)
        if supervisor.dead():
            return 1
    finally:
        supervisor.stop()
        database.stop()
    console.print("stopped cleanly; run the same command again to resume")
    return 0


def _show_status(
    pipeline: Pipeline,
    settings: Settings,
    options: LocalOptions,
    api_url: str,
    database_url: str,
    supervisor: Supervisor,
    console: Console,
    stop: threading.Event,
) -> None:
    """The live status line until Ctrl-C, `--duration`, or a child dies (reported)."""
    from rich.live import Live

    from streamdash.log.sqlite import SqliteLog
    from streamdash.runtime.status import StatusBoard

    feeders = _start_feeders(pipeline, settings, options, api_url, stop)
    board: StatusBoard
    if options.kafka is None:
        board = StatusBoard(pipeline, SqliteLog(settings.log_dir), database_url)
    else:
        from streamdash.kafka.progress import KafkaStatusBoard

        log = SqliteLog(settings.log_dir)  # not read: the board reads the workers' progress
        board = KafkaStatusBoard(pipeline, log, database_url, group=options.kafka.group)
    deadline = time.monotonic() + options.duration if options.duration else None
    with Live(board.render(), console=console, refresh_per_second=2, transient=False) as live:
        while not stop.is_set():
            board.refresh()
            live.update(board.render())
            dead = supervisor.dead()
            if dead:
                console.print(
                    f"[red]{', '.join(dead)} stopped unexpectedly; see {supervisor.log_dir}"
                )
                break
            if deadline is not None and time.monotonic() >= deadline:
                break
            stop.wait(1.0)
    stop.set()
    for thread in feeders:
        thread.join(timeout=5)


def _env(settings: Settings, options: LocalOptions, database_url: str) -> dict[str, str]:
    env = child_env(settings, database_url)
    if options.kafka is not None:  # every child (the dashboard too) knows the log
        env[ENV_KAFKA] = options.kafka.bootstrap
    return env


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
    from streamdash.runtime.feeder import Feeder

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
