"""End-to-end fixtures. `deployment` (function) yields `e2e_harness.Deployment`s: start/stop/kill
the API and engine processes, post events, and wait until the engine has committed
everything in the log. The harness itself lives in e2e_harness.py, which tests import."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from e2e_harness import Deployment


@pytest.fixture
def deployment(tmp_path: Path, pg_db: str) -> Iterator[Callable[..., Deployment]]:
    """deployment(spec=None, database_url=pg_db) -> a Deployment (nothing started yet)."""
    made: list[Deployment] = []

    def make(spec: Path | None = None, database_url: str | None = None) -> Deployment:
        root = tmp_path / f"deployment-{len(made)}"
        made.append(Deployment(root, database_url or pg_db, spec))
        return made[-1]

    yield make
    for d in made:
        d.close()
