"""A local SparkSession for tests: `spark_session` is a session-scoped pytest fixture
(import it into a conftest). One JVM for the whole test session — starting one costs
seconds — with the Spark UI off."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


@pytest.fixture(scope="session")
def spark_session() -> Iterator[SparkSession]:
    from streamdash.spark.session import build_session

    session = build_session("local[2]", app_name="streamdash-tests", ui=False)
    yield session
    session.stop()
