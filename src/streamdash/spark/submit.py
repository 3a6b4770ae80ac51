"""`streamdash spark submit-cmd`: the spark-submit command line that runs a spec on a cluster.

The driver runs `streamdash/spark/submit_main.py` (the same job as `streamdash spark run`).
What the command ships or names:

- `--packages`: Spark's Kafka connector matching the cluster's Spark and Scala versions
  (so the job reads Kafka with `format("kafka")`), and the PostgreSQL JDBC driver for the
  reference-table joins — unless a local JDBC jar is known, which then goes in `--jars`;
- `--archives ENV#environment`: a packed virtualenv with streamdash[spark,kafka] (made with
  `venv-pack`), used as the Python of driver (cluster mode) and executors;
- `--files SPEC`: the spec, so a driver in cluster mode finds it in its working directory;
- the session settings that are semantics, not tuning (`session.session_conf`).

The database URL is never written into the command: the driver reads
STREAMDASH_DATABASE_URL from its environment (in cluster mode the command forwards the
variable by name through the resource manager's driver-environment setting).
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Literal

from streamdash.config import ENV_DATABASE_URL
from streamdash.spark.session import session_conf

POSTGRES_JDBC_PACKAGE = "org.postgresql:postgresql:42.7.4"
DEFAULT_SPARK_VERSION = "4.0.0"
DEFAULT_SCALA_VERSION = "2.13"
ENV_ALIAS = "environment"


@dataclass(frozen=True)
class SubmitOptions:
    spec: Path
    kafka: str
    master: str
    checkpoint: str
    deploy_mode: Literal["client", "cluster"] = "client"
    env_archive: str | None = None
    kafka_package: bool = True
    spark_version: str | None = None
    once: bool = False
    max_events_per_batch: int | None = None
    trigger_interval_s: float | None = None


def installed_versions() -> tuple[str, str]:
    """(Spark version, Scala binary version) of the installed pyspark, or the defaults."""
    try:
        import pyspark
    except ImportError:
        return DEFAULT_SPARK_VERSION, DEFAULT_SCALA_VERSION
    jars = Path(pyspark.__file__).parent / "jars"
    scala = DEFAULT_SCALA_VERSION
    for jar in jars.glob("scala-library-*.jar"):
        match = re.match(r"scala-library-(\d+\.\d+)\.", jar.name)
        if match:
            scala = match.group(1)
    return pyspark.__version__, scala


def kafka_package(spark_version: str, scala_version: str) -> str:
    return f"org.apache.spark:spark-sql-kafka-0-10_{scala_version}:{spark_version}"


def entry_script() -> str:
    """The Python file spark-submit runs on the driver."""
    return str(resources.files("streamdash.spark").joinpath("submit_main.py"))


def _driver_env(master: str) -> list[str]:
    """Forward the database URL to a driver that runs on the cluster (by variable name; the
    shell expands it when the command runs)."""
    reference = f"{ENV_DATABASE_URL}=${ENV_DATABASE_URL}"
    if master.startswith("yarn"):
        return ["--conf", f"spark.yarn.appMasterEnv.{reference}"]
    if master.startswith("k8s://"):
        return ["--conf", f"spark.kubernetes.driverEnv.{reference}"]
    return ["--conf", f"spark.driverEnv.{reference}"]


def submit_command(options: SubmitOptions) -> list[str]:
    """The spark-submit arguments (argv) for `options`."""
    spark_version, scala = installed_versions()
    version = options.spark_version or spark_version
    command = ["spark-submit", "--master", options.master, "--deploy-mode", options.deploy_mode]
    command += ["--name", f"streamdash {options.spec.stem}"]
    packages = [kafka_package(version, scala)] if options.kafka_package else []
    conf = session_conf(options.master)
    jar = conf.pop("spark.jars", None)
    if jar is None:
        packages.append(POSTGRES_JDBC_PACKAGE)
    else:
        command += ["--jars", jar]
    if packages:
        command += ["--packages", ",".join(packages)]
    command += ["--files", str(options.spec)]
    if options.env_archive:
        python = f"./{ENV_ALIAS}/bin/python"
        command += ["--archives", f"{options.env_archive}#{ENV_ALIAS}"]
        command += ["--conf", f"spark.pyspark.python={python}"]
        if options.deploy_mode == "cluster":
            command += ["--conf", f"spark.pyspark.driver.python={python}"]
    for key, value in conf.items():
        command += ["--conf", f"{key}={value}"]
    if options.deploy_mode == "cluster":
        command += _driver_env(options.master)
    spec = options.spec.name if options.deploy_mode == "cluster" else str(options.spec)
    command += [entry_script(), spec, "--kafka", options.kafka, "--checkpoint", options.checkpoint]
    if options.once:
        command.append("--once")
    if options.max_events_per_batch:
        command += ["--max-events-per-batch", str(options.max_events_per_batch)]
    if options.trigger_interval_s:
        command += ["--trigger-interval", str(options.trigger_interval_s)]
    return command


def shell_text(command: list[str]) -> str:
    """The command as shell text, one option per line; `$VAR` references stay unquoted so
    the shell expands them."""
    parts: list[str] = []
    i = 0
    while i < len(command):
        word = command[i]
        if word.startswith("--") and i + 1 < len(command) and not command[i + 1].startswith("--"):
            parts.append(f"{word} {_quote(command[i + 1])}")
            i += 2
        else:
            parts.append(_quote(word))
            i += 1
    return " \\\n  ".join(parts)


def _quote(word: str) -> str:
    if f"${ENV_DATABASE_URL}" in word:
        return '"' + word.replace('"', '\\"') + '"'
    return shlex.quote(word)
