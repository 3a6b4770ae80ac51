"""The local session's Python workers: this interpreter, and pyspark from site-packages
(with cached bytecode) rather than from pip's `python/lib/pyspark.zip`, which every
worker process would compile again (streamdash.spark.home); its checkpoint files renamed
without a child process per rename (streamdash.spark.session.checkpoint_manager_class)."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


def test_workers_import_pyspark_from_site_packages(spark_session: SparkSession) -> None:
    import pyspark

    rdd = spark_session.sparkContext.parallelize([0, 1], 2)
    # a lambda travels by value (a function of this module would be imported by name, and
    # the workers do not have the tests on their path)
    where = rdd.map(lambda _: (sys.executable, __import__("pyspark").__file__ or ""))
    for executable, module in where.collect():
        assert executable == sys.executable
        assert ".zip" not in module, module
        assert module == pyspark.__file__


def test_checkpoint_files_are_renamed_through_the_file_system_api(
    spark_session: SparkSession,
) -> None:
    from streamdash.spark.session import checkpoint_manager_class, session_conf

    name = checkpoint_manager_class()
    assert name is not None and name.endswith(".FileSystemBasedCheckpointFileManager")
    assert spark_session.conf.get("spark.sql.streaming.checkpointFileManagerClass") == name
    jvm = spark_session._jvm
    assert jvm is not None
    loader = jvm.java.lang.Thread.currentThread().getContextClassLoader()
    assert loader.loadClass(name).getName() == name  # the name is the JVM's, not a guess
    assert "spark.sql.streaming.checkpointFileManagerClass" not in session_conf("yarn")


def test_a_launched_session_is_the_one_jobs_run_in(spark_session: SparkSession) -> None:
    from streamdash.spark.session import abandon_launch, launch_session

    launched = launch_session()
    assert launched.result(timeout=60) is spark_session  # joined, as getOrCreate does
    assert not launched.spawns_jvm
    abandon_launch(launched)  # leaves the JVM it joined alone
    assert spark_session.range(3).count() == 3
