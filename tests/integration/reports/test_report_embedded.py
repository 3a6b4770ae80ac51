"""`streamdash report --data-dir DIR` without STREAMDASH_DATABASE_URL: the data dir's embedded
PostgreSQL is reused — and left running — while a pipeline has it up, and started for the
report and stopped after it when nothing runs."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from report_support import app_expectations, at, produce
from typer.testing import CliRunner

from streamdash.cli import app
from streamdash.config import Settings
from streamdash.store.embedded import EmbeddedPostgres


@pytest.fixture
def data_dir() -> Iterator[Path]:
    """A directory the server's account can enter (pytest's tmp_path is 0700; as root the
    server runs as another user)."""
    base = Path(tempfile.mkdtemp(prefix="streamdash-report-"))
    base.chmod(0o755)
    yield base / "data"
    EmbeddedPostgres(Settings(data_dir=base / "data").postgres_dir).stop()
    shutil.rmtree(base, ignore_errors=True)


def _report(data_dir: Path) -> str:
    args = ["report", "app-health", "--since", "2024-05-01T12:00:00Z", "--until", "1h"]
    result = CliRunner().invoke(
        app, [*args, "--data-dir", str(data_dir)], env={"STREAMDASH_DATABASE_URL": ""}
    )
    assert result.exit_code == 0, result.output
    return result.stdout


def _tables(text: str) -> list[str]:
    """The report without its "Period: ... Generated <time>" line."""
    return [line for line in text.splitlines() if not line.startswith("Period:")]


def test_the_embedded_database_is_reused_or_started_and_stopped(data_dir: Path) -> None:
    server = EmbeddedPostgres(Settings(data_dir=data_dir).postgres_dir)
    server.start()  # what `streamdash run` does first
    events = produce(server.url, {"app_logs": (600, 5.0)})["app_logs"]
    want = app_expectations(events, at(0), at(60))
    pid = server.pid

    # a pipeline is running: its server answers the report and keeps running
    text = _report(data_dir)
    assert f"| app-1 | {want['app-1'].requests:,} | {want['app-1'].errors:,} |" in text
    assert server.pid == pid is not None

    # nothing runs: the report starts the server for itself and stops it again
    server.stop()
    assert server.pid is None
    again = _report(data_dir)
    assert _tables(again) == _tables(text)
    assert server.pid is None
