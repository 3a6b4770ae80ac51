"""`streamdash spark run` and `streamdash spark submit-cmd`: typer commands, thin shells
over `runner.run_spark` and `submit.submit_command`. Importing this module is cheap:
pyspark loads when a job starts."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

import typer

from streamdash.cli_args import SpecArg
from streamdash.config import ENV_KAFKA
from streamdash.errors import SpecError, StreamdashError

if TYPE_CHECKING:
    from streamdash.spec.models import Pipeline

KafkaOption = Annotated[
    str | None,
    typer.Option(
        help=f"Kafka bootstrap servers, HOST:PORT[,...] \\[env {ENV_KAFKA}].",
        envvar=ENV_KAFKA,
        show_envvar=False,
    ),
]
CheckpointOption = Annotated[
    str | None,
    typer.Option(
        help="Checkpoint directory: a local path or a Hadoop URI (hdfs://, s3a://) "
        "[DATA_DIR/spark-checkpoints]."
    ),
]
MaxEventsOption = Annotated[
    int | None,
    typer.Option(min=1, help="At most this many Kafka messages per micro-batch and query."),
]
IntervalOption = Annotated[
    float | None,
    typer.Option(min=0.0, help="Seconds between micro-batch starts \\[as soon as possible]."),
]
OnceOption = Annotated[
    bool,
    typer.Option("--once", help="Process what Kafka holds now, then stop (Trigger.AvailableNow)."),
]


def _fail(message: str, code: int = 2) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def _load(spec: Path | None) -> Pipeline:
    from streamdash.spec.loader import load_builtin, load_pipeline

    try:
        return load_pipeline(spec) if spec else load_builtin()
    except SpecError as err:
        typer.echo(str(err), err=True)
        raise typer.Exit(1) from None


def _runnable(spec: Path | None) -> Pipeline:
    """The spec, loaded and checked for Spark; exit 1 with the problems if it cannot run."""
    from streamdash.spark.check import SparkUnsupported, ensure_runnable

    pipeline = _load(spec)
    try:
        ensure_runnable(pipeline)
    except SparkUnsupported as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(1) from None
    return pipeline


def spark_run(
    spec: SpecArg = None,
    kafka: KafkaOption = None,
    master: Annotated[
        str | None,
        typer.Option(help="Spark master URL [what spark-submit gives, else local[2]]."),
    ] = None,
    checkpoint: CheckpointOption = None,
    once: OnceOption = False,
    data_dir: Annotated[
        Path | None,
        typer.Option(
            help="Data dir of the embedded database (when STREAMDASH_DATABASE_URL is not "
            "set) and of the default checkpoint \\[env STREAMDASH_DATA_DIR, .streamdash]."
        ),
    ] = None,
    max_events_per_batch: MaxEventsOption = None,
    trigger_interval: IntervalOption = None,
    dead_letter_interval: Annotated[
        float,
        typer.Option(
            min=0.0,
            help="With --decode spark: seconds between the dead-letter queries' micro-batches "
            "(bad events and event counters; at least --trigger-interval). Decoding in the "
            "Python source, the views' own tasks store them.",
        ),
    ] = 5.0,
    kafka_reader: Annotated[
        str,
        typer.Option(
            help="auto: Spark's Kafka connector if its jar is on the classpath, else "
            "streamdash's Python data source; or force connector / python."
        ),
    ] = "auto",
    decode: Annotated[
        str,
        typer.Option(
            help="Where events are decoded and validated. source: in the Python Kafka "
            "source's tasks, by the embedded engine's own decoder; spark: Spark SQL "
            "(from_json; the only way with Spark's connector); auto: source if the Python "
            "source reads Kafka."
        ),
    ] = "auto",
    ui: Annotated[bool, typer.Option(help="Serve the Spark UI.")] = True,
) -> None:
    """Run the spec as Spark Structured Streaming queries: Kafka in, the same PostgreSQL
    tables as the embedded engine out (exactly once, across restarts)."""
    from dataclasses import replace

    from streamdash.spark.session import abandon_launch, launch_session

    if not kafka:
        raise _fail(f"give --kafka HOST:PORT (or set {ENV_KAFKA})")
    if kafka_reader not in ("auto", "connector", "python"):
        raise _fail(f"--kafka-reader {kafka_reader!r}: expected auto, connector or python")
    reader: Literal["auto", "connector", "python"] = kafka_reader  # type: ignore[assignment]
    if decode not in ("auto", "source", "spark"):
        raise _fail(f"--decode {decode!r}: expected auto, source or spark")
    where: Literal["auto", "source", "spark"] = decode  # type: ignore[assignment]
    # the JVM starts first: while it boots (seconds), the spec is loaded and checked (0.4 s
    # of imports and validation, that used to come first), the runner's modules load, and
    # the database and tables are made; a refused spec ends the JVM before anything else
    session = launch_session(master, ui)
    try:
        pipeline = _runnable(spec)
    except BaseException:
        abandon_launch(session)
        raise
    from streamdash.config import Settings
    from streamdash.runtime.services import database
    from streamdash.spark.check import SparkUnsupported
    from streamdash.spark.runner import SparkRunOptions, run_spark

    settings = Settings.from_env()
    if data_dir is not None:
        settings = replace(settings, data_dir=data_dir)
    options = SparkRunOptions(
        kafka=kafka,
        checkpoint=checkpoint or str((settings.data_dir / "spark-checkpoints").resolve()),
        master=master,
        once=once,
        max_events_per_batch=max_events_per_batch,
        trigger_interval_s=trigger_interval,
        dead_letter_interval_s=dead_letter_interval,
        kafka_reader=reader,
        decode=where,
        ui=ui,
        base_dir=spec.parent if spec else Path(),
    )
    try:
        with database(settings) as url:
            run_spark(pipeline, url, options, session)
    except SparkUnsupported as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(1) from None
    except StreamdashError as err:
        raise _fail(str(err)) from None


def spark_submit_cmd(
    spec: Annotated[
        Path, typer.Argument(help="Pipeline spec (YAML).", exists=True, dir_okay=False)
    ],
    kafka: KafkaOption = None,
    master: Annotated[str, typer.Option(help="The cluster's master URL.")] = "yarn",
    checkpoint: Annotated[
        str, typer.Option(help="Checkpoint directory the driver can reach (hdfs://, s3a://).")
    ] = "hdfs:///streamdash/checkpoints",
    deploy_mode: Annotated[str, typer.Option(help="client or cluster.")] = "client",
    env_archive: Annotated[
        str | None,
        typer.Option(help="Packed virtualenv with streamdash (venv-pack), for the executors."),
    ] = None,
    kafka_package: Annotated[
        bool,
        typer.Option(
            help="Ship Spark's Kafka connector (--packages); without it the job "
            "reads Kafka with streamdash's Python data source."
        ),
    ] = True,
    spark_version: Annotated[
        str | None, typer.Option(help="The cluster's Spark version \\[the installed pyspark's].")
    ] = None,
    once: OnceOption = False,
    max_events_per_batch: MaxEventsOption = None,
    trigger_interval: IntervalOption = None,
) -> None:
    """Print the spark-submit command that runs SPEC on a cluster (see docs/spark.md)."""
    from streamdash.spark.check import spark_problems
    from streamdash.spark.submit import SubmitOptions, shell_text, submit_command

    pipeline = _load(spec)
    problems = spark_problems(pipeline)
    if problems:
        for path, reason in problems:
            typer.echo(f"  {path}: {reason}", err=True)
        raise _fail(f"{spec}: {len(problems)} part(s) cannot run on Spark", code=1)
    if not kafka:
        raise _fail(f"give --kafka HOST:PORT (or set {ENV_KAFKA})")
    if deploy_mode not in ("client", "cluster"):
        raise _fail(f"--deploy-mode {deploy_mode!r}: expected client or cluster")
    options = SubmitOptions(
        spec=spec.resolve(),
        kafka=kafka,
        master=master,
        checkpoint=checkpoint,
        deploy_mode="cluster" if deploy_mode == "cluster" else "client",
        env_archive=env_archive,
        kafka_package=kafka_package,
        spark_version=spark_version,
        once=once,
        max_events_per_batch=max_events_per_batch,
        trigger_interval_s=trigger_interval,
    )
    typer.echo(shell_text(submit_command(options)))


def spark_prepare(
    force: Annotated[bool, typer.Option("--force", help="Make it again.")] = False,
) -> None:
    """Make the class archive that a local Spark JVM starts from in about half the time
    (Java's AppCDS; one archive per JDK and pyspark, in the user's cache directory or
    $STREAMDASH_SPARK_CLASS_ARCHIVE). Takes a minute, once."""
    from streamdash.spark.class_archive import prepare
    from streamdash.spark.session import require_pyspark

    try:
        require_pyspark()
        done = prepare(force=force)
    except StreamdashError as err:
        raise _fail(str(err), code=1) from None
    if done.made:
        typer.echo(f"made {done.path} ({done.size_mb:.0f} MB) in {done.seconds:.0f} s")
    else:
        typer.echo(f"{done.path} is there already ({done.size_mb:.0f} MB; --force to remake)")


def register(spark_app: typer.Typer) -> None:
    spark_app.command("run")(spark_run)
    spark_app.command("submit-cmd")(spark_submit_cmd)
    spark_app.command("prepare")(spark_prepare)
