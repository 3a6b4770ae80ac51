"""`streamdash ingest FILE` against a real `streamdash serve` subprocess that requires a
bearer token: what it reports is what landed in the log; without the token it fails with
a message saying what to do, and stores nothing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest
from cli_support import Process, cli, cli_env, free_port, serve

from streamdash.log.base import DEAD_LETTER_STREAM
from streamdash.log.sqlite import SqliteLog

TOKEN = "t0ken-for-tests"


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """(URL, data dir) of one API for the module (starting one costs seconds)."""
    data_dir = tmp_path_factory.mktemp("ingest") / "data"
    port = free_port()
    server: Process = serve(data_dir, port, cli_env(STREAMDASH_TOKEN=TOKEN))
    with server:
        yield f"http://127.0.0.1:{port}", data_dir


def log_ends(data_dir: Path) -> tuple[int, int]:
    log = SqliteLog(data_dir / "log")
    try:
        return log.end_offset("app_logs"), log.end_offset(DEAD_LETTER_STREAM)
    finally:
        log.close()


def test_ingest_with_the_token_stores_what_it_reports(
    api: tuple[str, Path], tmp_path: Path
) -> None:
    url, data_dir = api
    good = [
        {
            "application_id": f"app-{i % 3}",
            "timestamp": 1_714_564_800_000 + i,
            "method": "GET",
            "endpoint": "/x",
            "status_code": 200,
            "latency_ms": 1.0 + i,
            "level": "INFO",
            "message": "ok",
        }
        for i in range(250)
    ]
    bad = [b'{"application_id": "app-1"}', b"{not json", b'{"timestamp": "soon"}']
    lines = [msgspec.json.encode(e) for e in good]
    lines[10:10] = bad  # bad events in between good ones: accepted individually
    path = tmp_path / "events.ndjson"
    path.write_bytes(b"\n".join(lines) + b"\n")
    events_before, dead_before = log_ends(data_dir)

    done = cli(
        "ingest", str(path), "--stream", "app_logs", "--url", url,
        env=cli_env(STREAMDASH_TOKEN=TOKEN),
    )  # fmt: skip

    assert done.returncode == 0, done.stderr
    assert "250 accepted, 3 rejected" in done.stdout
    events_after, dead_after = log_ends(data_dir)
    assert events_after - events_before == 250
    assert dead_after - dead_before == 3


@pytest.mark.parametrize("token", [None, "wrong"], ids=["no-token", "wrong-token"])
def test_ingest_without_the_right_token_fails_clearly_and_stores_nothing(
    api: tuple[str, Path], tmp_path: Path, token: str | None
) -> None:
    url, data_dir = api
    path = tmp_path / "events.ndjson"
    # several batches' worth: the first 401 must stop it (every other batch would get one too)
    path.write_bytes(b'{"application_id": "a"}\n' * 150_000)
    before = log_ends(data_dir)
    env = cli_env() if token is None else cli_env(STREAMDASH_TOKEN=token)

    done = cli("ingest", str(path), "--stream", "app_logs", "--url", url, env=env)

    assert done.returncode == 1
    assert "HTTP 401" in done.stderr
    assert "set STREAMDASH_TOKEN" in done.stderr
    assert "sent 0 batch(es)" in done.stderr
    assert "1 batch(es) FAILED" in done.stderr  # stopped after the first refusal
    assert "Traceback" not in done.stderr
    assert log_ends(data_dir) == before


def test_ingest_to_an_unknown_stream_names_it(api: tuple[str, Path], tmp_path: Path) -> None:
    url, _ = api
    path = tmp_path / "events.ndjson"
    path.write_bytes(b"{}\n")
    done = cli(
        "ingest", str(path), "--stream", "clicks", "--url", url,
        env=cli_env(STREAMDASH_TOKEN=TOKEN),
    )  # fmt: skip
    assert done.returncode == 1
    assert "unknown stream 'clicks'" in done.stderr
    assert "HTTP 404" in done.stderr


def test_ingest_of_a_missing_file_is_a_usage_error(tmp_path: Path) -> None:
    done = cli("ingest", str(tmp_path / "nope.ndjson"), "--stream", "app_logs")
    assert done.returncode == 2
    assert "does not exist" in done.stderr
    assert "Traceback" not in done.stderr
