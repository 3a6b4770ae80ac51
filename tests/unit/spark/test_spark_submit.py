"""`streamdash spark submit-cmd`: a spark-submit command for a real cluster that ships what
the job needs (connector, JDBC driver, spec, Python environment) and never a secret."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest
from typer.testing import CliRunner

from streamdash.cli import app
from streamdash.spark.submit import (
    POSTGRES_JDBC_PACKAGE,
    SubmitOptions,
    entry_script,
    installed_versions,
    kafka_package,
    shell_text,
    submit_command,
)

SPECS = Path(__file__).parents[2] / "fixtures" / "specs"
SPEC = SPECS / "thermostats.yaml"


def _option(command: list[str], name: str) -> list[str]:
    return [command[i + 1] for i, word in enumerate(command) if word == name]


def test_client_mode_command() -> None:
    options = SubmitOptions(SPEC, "kafka:9092", "spark://master:7077", "hdfs:///ck")
    command = submit_command(options)
    assert command[0] == "spark-submit"
    assert _option(command, "--master") == ["spark://master:7077"]
    spark_version, scala = installed_versions()
    assert kafka_package(spark_version, scala) in _option(command, "--packages")[0]
    jars = _option(command, "--jars")
    if jars:  # a local JDBC jar is shipped; otherwise the driver comes as a package
        assert jars[0].endswith(".jar")
    else:
        assert POSTGRES_JDBC_PACKAGE in _option(command, "--packages")[0]
    assert _option(command, "--files") == [str(SPEC)]
    conf = _option(command, "--conf")
    assert "spark.sql.session.timeZone=UTC" in conf
    assert "spark.sql.ansi.enabled=false" in conf
    tail = command[command.index(entry_script()) :]
    assert tail == [
        entry_script(),
        str(SPEC),
        "--kafka",
        "kafka:9092",
        "--checkpoint",
        "hdfs:///ck",
    ]
    assert Path(entry_script()).is_file()


def test_cluster_mode_ships_the_environment_and_forwards_the_database_by_name() -> None:
    options = SubmitOptions(
        SPEC,
        "kafka:9092",
        "yarn",
        "hdfs:///ck",
        deploy_mode="cluster",
        env_archive="hdfs:///envs/streamdash.tar.gz",
        kafka_package=False,
        once=True,
    )
    command = submit_command(options)
    assert _option(command, "--archives") == ["hdfs:///envs/streamdash.tar.gz#environment"]
    conf = _option(command, "--conf")
    assert "spark.pyspark.python=./environment/bin/python" in conf
    assert "spark.pyspark.driver.python=./environment/bin/python" in conf
    assert "spark.yarn.appMasterEnv.STREAMDASH_DATABASE_URL=$STREAMDASH_DATABASE_URL" in conf
    assert not any("spark-sql-kafka" in p for p in _option(command, "--packages"))
    # the driver runs on the cluster: the spec is the shipped file in its working directory
    assert command[command.index(entry_script()) + 1] == SPEC.name
    assert command[-1] == "--once"
    text = shell_text(command)
    assert '"spark.yarn.appMasterEnv.STREAMDASH_DATABASE_URL=$STREAMDASH_DATABASE_URL"' in text
    assert shlex.split(text.replace("\\\n", " "))[0] == "spark-submit"


def test_the_command_never_contains_the_database_password(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("STREAMDASH_DATABASE_URL", "postgresql://u:s3cret@db:5432/x")
    result = CliRunner().invoke(
        app, ["spark", "submit-cmd", str(SPEC), "--kafka", "k:9092", "--deploy-mode", "cluster"]
    )
    assert result.exit_code == 0, result.output
    assert "s3cret" not in result.output
    assert "spark-submit" in result.output


def test_submit_cmd_refuses_a_spec_spark_cannot_run() -> None:
    result = CliRunner().invoke(
        app, ["spark", "submit-cmd", str(SPECS / "duckdb_only.yaml"), "--kafka", "k:9092"]
    )
    assert result.exit_code == 1
    assert "cannot run on Spark" in result.output
