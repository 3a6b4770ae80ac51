"""The `streamdash` command line. Each command is a thin shell over a library function."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer
from rich.console import Console
from rich.markup import escape

from streamdash.cli_args import SpecArg
from streamdash.config import Settings
from streamdash.errors import SpecError, StreamdashError

if TYPE_CHECKING:
    from streamdash.sources.sender import SendResult
    from streamdash.spec.models import Pipeline

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    help="Event streams in, live analytics dashboards out.",
)
dead_letters_app = typer.Typer(no_args_is_help=True, help="Inspect and replay rejected events.")
app.add_typer(dead_letters_app, name="dead-letters")
grafana_app = typer.Typer(no_args_is_help=True, help="Grafana provisioning files.")
app.add_typer(grafana_app, name="grafana")
spark_app = typer.Typer(
    no_args_is_help=True, help="The same spec on Spark Structured Streaming (docs/spark.md)."
)
app.add_typer(spark_app, name="spark")
console = Console()
# soft_wrap: an error message stays one line (greppable, copyable) whatever the terminal width
err_console = Console(stderr=True, soft_wrap=True)

KafkaOption = Annotated[
    str | None,
    typer.Option(
        "--kafka",
        help="Kafka bootstrap servers HOST:PORT[,...] \\[env STREAMDASH_KAFKA_BOOTSTRAP, "
        "or kafka.bootstrap in the spec].",
    ),
]


DataDir = Annotated[
    Path | None,
    typer.Option(
        help="Where the log and database live \\[env STREAMDASH_DATA_DIR, default .streamdash]."
    ),
]


def _pipeline(spec: Path | None) -> Pipeline:
    from streamdash.spec.loader import load_builtin, load_pipeline

    return load_pipeline(spec) if spec else load_builtin()


def _settings(data_dir: Path | None = None, **overrides: object) -> Settings:
    from dataclasses import replace

    try:
        settings = Settings.from_env()
    except ValueError as err:  # e.g. STREAMDASH_PORT=abc: a user error, not a traceback
        raise _fail(str(err)) from None
    if data_dir is not None:
        settings = replace(settings, data_dir=data_dir)
    given = {k: v for k, v in overrides.items() if v is not None}
    return replace(settings, **given)  # type: ignore[arg-type]


def _fail(message: str, code: int = 2) -> typer.Exit:
    # escape: messages quote user input (paths, YAML keys) that may contain [rich] markup
    err_console.print(f"[red]error:[/] {escape(message)}")
    return typer.Exit(code=code)


_DEAD_LETTER_REASONS = ("malformed", "invalid", "too_large", "late", "unknown_stream")


def _check_reason(reason: str | None) -> None:
    if reason is not None and reason not in _DEAD_LETTER_REASONS:
        raise _fail(
            f"--reason {reason!r} is unknown; expected one of {', '.join(_DEAD_LETTER_REASONS)}"
        )


@app.command()
def check(
    spec: Annotated[Path, typer.Argument(help="Pipeline spec to validate.")],
    engine: Annotated[
        str,
        typer.Option(
            help="duckdb (the embedded engine) or spark: also report what Spark cannot run."
        ),
    ] = "duckdb",
) -> None:
    """Validate a spec and report every error with its YAML path (no I/O beyond reading it)."""
    from streamdash.spec.loader import load_pipeline

    if engine not in ("duckdb", "spark"):
        raise _fail(f"--engine {engine!r} is unknown; expected duckdb or spark")

    if spec.is_dir():
        raise _fail(f"{spec}: is a directory; expected a pipeline spec (YAML file)")
    if not spec.is_file():
        raise _fail(f"{spec}: no such file")
    try:
        pipeline = load_pipeline(spec)
    except SpecError as err:
        err_console.print(f"[red]{escape(str(spec))}: {len(err.problems)} error(s)[/]")
        for path, message in err.problems:
            err_console.print(f"  [bold]{escape(path)}[/]: {escape(message)}")
        raise typer.Exit(code=1) from None
    except OSError as err:
        raise _fail(f"{spec}: cannot read: {err.strerror or err}") from None
    if engine == "spark":
        _check_spark(spec, pipeline)
    console.print(
        f"[green]{escape(str(spec))}: OK[/] — {len(pipeline.streams)} stream(s), "
        f"{len(pipeline.views)} view(s), {len(pipeline.tables)} table(s)",
        soft_wrap=True,
    )


def _check_spark(spec: Path, pipeline: Pipeline) -> None:
    """Print what Spark cannot run (exit 1) and what it runs differently (notes)."""
    from streamdash.spark.check import spark_notes, spark_problems

    problems = spark_problems(pipeline)
    if problems:
        err_console.print(
            f"[red]{escape(str(spec))}: {len(problems)} part(s) cannot run on Spark[/]"
        )
        for path, message in problems:
            err_console.print(f"  [bold]{escape(path)}[/]: {escape(message)}")
        raise typer.Exit(code=1)
    for path, message in spark_notes(pipeline):
        console.print(f"  note: [bold]{escape(path)}[/]: {escape(message)}", soft_wrap=True)


@app.command()
def demo(
    data_dir: DataDir = None,
    port: Annotated[int, typer.Option(help="Ingest API port.")] = 8000,
    dashboard_port: Annotated[int, typer.Option(help="Dashboard port.")] = 8050,
    rate: Annotated[float, typer.Option(help="Events/s per stream.")] = 200.0,
    duration: Annotated[float | None, typer.Option(help="Stop after this many seconds.")] = None,
    seed: Annotated[int, typer.Option(help="Generator seed.")] = 42,
) -> None:
    """Everything at once: database, ingest API, engine and generators for all five streams."""
    from streamdash.runtime.local import LocalOptions, run_local

    settings = _settings(data_dir, port=port, dashboard_port=dashboard_port)
    code = run_local(
        _pipeline(None),
        settings,
        LocalOptions(None, demo=True, rate=rate, duration=duration, seed=seed),
        console,
    )
    raise typer.Exit(code)


@app.command()
def run(
    spec: SpecArg = None,
    data_dir: DataDir = None,
    port: Annotated[int | None, typer.Option(help="Ingest API port [8000].")] = None,
    host: Annotated[str | None, typer.Option(help="Bind address [127.0.0.1].")] = None,
    duration: Annotated[float | None, typer.Option(help="Stop after this many seconds.")] = None,
    kafka: KafkaOption = None,
    workers: Annotated[
        int, typer.Option(help="With Kafka as the log: how many workers to start.", min=1)
    ] = 1,
) -> None:
    """Run the pipeline for real traffic: database, ingest API and engine, no generators.
    With Kafka as the log (--kafka), the API produces to Kafka and workers consume."""
    from streamdash.kafka.settings import kafka_log
    from streamdash.runtime.local import LocalOptions, run_local

    settings = _settings(data_dir, port=port, host=host)
    pipeline = _pipeline(spec)
    options = LocalOptions(
        spec, demo=False, duration=duration, kafka=kafka_log(pipeline, kafka), workers=workers
    )
    raise typer.Exit(run_local(pipeline, settings, options, console))


@app.command()
def alerts(spec: SpecArg = None, data_dir: DataDir = None) -> None:
    """Only the alert evaluator (the `run` command starts it for you)."""
    from streamdash.alerts import run_alerts

    settings = _settings(data_dir)
    if not settings.database_url:
        raise _fail("the alert evaluator needs STREAMDASH_DATABASE_URL (run/demo set it)")
    run_alerts(_pipeline(spec), settings)


@app.command()
def dashboard(
    spec: SpecArg = None,
    data_dir: DataDir = None,
    host: Annotated[str | None, typer.Option(help="Bind address [127.0.0.1].")] = None,
    port: Annotated[int, typer.Option(help="Port.")] = 8050,
) -> None:
    """Only the live dashboard (the `run` command starts it for you)."""
    from streamdash.dashboard import serve_dashboard

    serve_dashboard(_pipeline(spec), _settings(data_dir, host=host, dashboard_port=port))


@app.command()
def serve(
    spec: SpecArg = None,
    data_dir: DataDir = None,
    host: Annotated[str | None, typer.Option(help="Bind address [127.0.0.1].")] = None,
    port: Annotated[int | None, typer.Option(help="Port [8000].")] = None,
    kafka: KafkaOption = None,
) -> None:
    """Only the ingest/query API (the `run` command starts it for you); with Kafka as the
    log it produces to the streams' topics and answers 202 after the broker's ack."""
    from streamdash.runtime.serve_main import serve_api

    serve_api(_pipeline(spec), _settings(data_dir, host=host, port=port), kafka)


@app.command()
def engine(spec: SpecArg = None, data_dir: DataDir = None) -> None:
    """Only the engine: log -> windows -> PostgreSQL (the `run` command starts it for you)."""
    from streamdash.runtime.engine_main import run_engine

    settings = _settings(data_dir)
    if not settings.database_url:
        raise _fail("the engine alone needs STREAMDASH_DATABASE_URL (run/demo start a database)")
    run_engine(_pipeline(spec), settings, settings.database_url)


@app.command()
def worker(
    spec: SpecArg = None,
    kafka: KafkaOption = None,
    data_dir: DataDir = None,
    batch: Annotated[
        int, typer.Option(help="At most this many messages per consumer poll.", min=1)
    ] = 100_000,
) -> None:
    """One engine worker of a consumer group on Kafka: workers share the partitions, and
    each commits its partitions' results and offsets to the shared PostgreSQL."""
    from streamdash.kafka.settings import KafkaSettings
    from streamdash.kafka.worker import run_worker

    settings = _settings(data_dir)
    if not settings.database_url:
        raise _fail("a worker needs STREAMDASH_DATABASE_URL (the PostgreSQL all workers share)")
    pipeline = _pipeline(spec)
    kafka_settings = KafkaSettings.for_pipeline(pipeline, kafka)
    run_worker(pipeline, kafka_settings, settings.database_url, batch_messages=batch)


def _epoch_us(option: str, text: str) -> int:
    from datetime import UTC, datetime

    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise _fail(
            f"{option} {text!r} is not a time; expected ISO-8601, e.g. 2024-05-01T12:00:00Z"
        ) from None
    if moment.tzinfo is None:  # like event times: no offset means UTC
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1_000_000)


@app.command()
def generate(
    stream: Annotated[str, typer.Argument(help="A built-in stream.")],
    count: Annotated[int, typer.Option(help="How many events (bodies for sensor).")] = 1000,
    seed: Annotated[int, typer.Option(help="Same seed, same events.")] = 0,
    rate: Annotated[
        float | None,
        typer.Option(help="Events/s: event-time spacing, and real pacing when sending with --to."),
    ] = None,
    out: Annotated[Path | None, typer.Option(help="Write NDJSON here (default stdout).")] = None,
    to: Annotated[
        str | None,
        typer.Option(
            help="POST to this API base URL instead, or produce to Kafka: "
            "kafka://HOST:PORT/TOPIC (topic default: the stream's)."
        ),
    ] = None,
    late_fraction: Annotated[float, typer.Option(help="Share of late events.")] = 0.0,
    bad_fraction: Annotated[float, typer.Option(help="Share of malformed events.")] = 0.0,
    start: Annotated[
        str | None,
        typer.Option(
            help="Event time of the first event (ISO-8601, e.g. 2024-05-01T12:00:00Z). "
            "Default: now, so events are fresh; give it for byte-identical output."
        ),
    ] = None,
) -> None:
    """Deterministic synthetic events for a built-in stream (NDJSON): the same seed and
    --start give the same bytes."""
    from streamdash.sources.files import write_ndjson
    from streamdash.sources.generators import GENERATORS
    from streamdash.sources.generators import generate as gen

    if stream not in GENERATORS:
        raise _fail(f"no generator for {stream!r}; choose one of {', '.join(sorted(GENERATORS))}")
    for name, value in (("late-fraction", late_fraction), ("bad-fraction", bad_fraction)):
        if not 0.0 <= value <= 1.0:
            raise _fail(f"--{name} must be between 0 and 1, got {value}")
    start_us = None if start is None else _epoch_us("--start", start)
    items = gen(
        stream,
        count=count,
        seed=seed,
        start_us=start_us,
        rate=rate,
        late_fraction=late_fraction,
        bad_fraction=bad_fraction,
    )
    if to is not None and to.startswith("kafka:"):
        from streamdash.kafka.generate import produce_generated

        produced = produce_generated(
            items, stream=stream, pipeline=_pipeline(None), url=to, rate=rate
        )
        console.print(produced.summary(), soft_wrap=True)
        raise typer.Exit(0)
    if to is not None:
        from streamdash.sources.sender import send_lines

        result = send_lines(
            items,
            stream=stream,
            url=to,
            token=Settings.from_env().token,
            rate=rate,
            sensorlogger=stream == "sensor",
        )
        _report_send(result)
    if out is None:
        write_ndjson(items, sys.stdout.buffer)
        return
    try:
        n = write_ndjson(items, out)
    except OSError as err:
        raise _fail(f"cannot write {out}: {err.strerror or err}") from None
    err_console.print(f"wrote {n} events to {escape(str(out))}")


@app.command()
def ingest(
    file: Annotated[Path, typer.Argument(help="NDJSON file to send.", exists=True, dir_okay=False)],
    stream: Annotated[str, typer.Option(help="Target stream.")],
    url: Annotated[str, typer.Option(help="API base URL.")] = "http://127.0.0.1:8000",
) -> None:
    """Send an NDJSON file to the ingest API in batches; report accepted/rejected."""
    from streamdash.sources.files import read_ndjson_batches
    from streamdash.sources.sender import send_batches

    result = send_batches(
        read_ndjson_batches(file),
        stream=stream,
        url=url,
        token=Settings.from_env().token,
        sensorlogger=False,
    )
    _report_send(result)


def _report_send(result: SendResult) -> NoReturn:
    """The tally on stdout; when a batch failed, why on stderr and exit code 1."""
    if result.ok:
        console.print(result.summary(), soft_wrap=True)
        raise typer.Exit(0)
    err_console.print(f"[red]error:[/] {escape(result.summary())}")
    raise typer.Exit(1)


@dead_letters_app.command("list")
def dead_letters_list(
    stream: Annotated[str | None, typer.Option(help="Only this stream.")] = None,
    reason: Annotated[str | None, typer.Option(help="Only this reason.")] = None,
    limit: Annotated[int, typer.Option(help="At most this many, newest first.")] = 20,
) -> None:
    """Show rejected and late events with their reason and raw payload."""
    from streamdash.runtime.dead_letters import list_dead_letters

    _check_reason(reason)
    if limit < 1:
        raise _fail(f"--limit must be at least 1, got {limit}")
    settings = _settings()
    if not settings.database_url:
        raise _fail("set STREAMDASH_DATABASE_URL (printed by `streamdash run`)")
    list_dead_letters(settings.database_url, stream, reason, limit, console)


@dead_letters_app.command("replay")
def dead_letters_replay(
    stream: Annotated[str | None, typer.Option(help="Only this stream.")] = None,
    reason: Annotated[
        str | None, typer.Option(help="Only this reason (malformed, invalid, too_large).")
    ] = None,
    url: Annotated[str, typer.Option(help="API base URL.")] = "http://127.0.0.1:8000",
) -> None:
    """Send rejected events through ingest again (after fixing the spec or the producer); the
    API validates them against its current spec. Each one is marked replayed once sent."""
    from streamdash.runtime.dead_letters import replay_dead_letters

    _check_reason(reason)
    if reason == "late":
        # a late event was accepted and counted by the views whose windows were still open;
        # sending it again would count it twice there
        raise _fail(
            "late events cannot be replayed: they are already in the log and counted by every "
            "view whose window was open; replay covers malformed, invalid and too_large events"
        )
    settings = _settings()
    if not settings.database_url:
        raise _fail("set STREAMDASH_DATABASE_URL (printed by `streamdash run`)")
    result = replay_dead_letters(settings.database_url, url, stream, reason, settings.token)
    if result.failed:
        err_console.print(f"[red]error:[/] {escape(str(result))}")
        raise typer.Exit(1)
    console.print(str(result), soft_wrap=True)


@app.command()
def bench(
    events: Annotated[int, typer.Option(help="Events in the engine benchmark.")] = 1_000_000,
    only: Annotated[
        str | None,
        typer.Option(
            help="Comma-separated: engine, ingest, freshness, startup, dashboard, memory, "
            "kafka (the default: all seven), spark (Spark local[2] against the embedded engine)."
        ),
    ] = None,
    minutes: Annotated[float, typer.Option(help="Duration of the memory benchmark.")] = 10.0,
    json: Annotated[Path | None, typer.Option(help="Also write the results here (JSON).")] = None,
) -> None:
    """Run the benchmarks against a same-run baseline and print the table."""
    from streamdash.bench import run_benchmarks, select

    try:
        select(only)
    except ValueError as err:
        raise _fail(str(err)) from None
    run_benchmarks(events=events, only=only, console=console, json_path=json, minutes=minutes)


def _register_grafana() -> None:
    from streamdash.grafana.command import grafana_export

    grafana_app.command("export")(grafana_export)


_register_grafana()


def _register_report() -> None:
    from streamdash.reports.command import report

    app.command("report")(report)


_register_report()


def _register_spark() -> None:
    from streamdash.spark.command import register

    register(spark_app)


_register_spark()


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    for chatty in ("httpx", "httpcore"):  # one line per request would drown the status line
        logging.getLogger(chatty).setLevel(logging.WARNING)
    try:
        app()
    except SpecError as err:
        err_console.print(f"[red]{escape(str(err))}")
        sys.exit(1)
    except StreamdashError as err:
        err_console.print(f"[red]error:[/] {escape(str(err))}")
        sys.exit(2)
