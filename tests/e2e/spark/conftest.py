"""Spark end-to-end tests share one local SparkSession (see streamdash.testing.spark)."""

from streamdash.testing.spark import spark_session

__all__ = ["spark_session"]
