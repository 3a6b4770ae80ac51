"""The local session's Python workers: this interpreter, and pyspark from site-packages
(with cached bytecode) rather than from pip's `python/lib/pyspark.zip`, which every
worker process would compile again (streamdash.spark.home)."""

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
