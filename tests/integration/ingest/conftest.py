"""Fixtures of the ingest API tests: a real SQLite log and real uvicorn servers."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from ingest_support import PIPELINE, MemoryResults, Served

from streamdash.ingest.app import create_app
from streamdash.log.sqlite import SqliteLog
from streamdash.spec.models import Pipeline


@pytest.fixture
def pipeline() -> Pipeline:
    return Pipeline.model_validate(PIPELINE)


@pytest.fixture
def log(tmp_path: Path) -> Iterator[SqliteLog]:
    log = SqliteLog(tmp_path / "log")
    yield log
    log.close()


@pytest.fixture
def serve(pipeline: Pipeline, log: SqliteLog) -> Iterator[Callable[..., Served]]:
    """serve(token=..., reader=...) -> a running server of a new app over the test log."""
    running: list[Served] = []

    def start(**options: Any) -> Served:
        options.setdefault("token", None)
        options.setdefault("reader", MemoryResults())
        served = Served(create_app(pipeline, log, **options)).__enter__()
        running.append(served)
        return served

    yield start
    for served in running:
        served.__exit__()
