"""kill -9 a real uvicorn serving the API while clients post: every acknowledged event must be
in the log after a restart.

What may be found besides the acknowledged events: whole batches whose request was in
flight at the kill (durable, but the 202 never reached the client). Never a part of a batch
(one request = one chunk in one transaction), never a duplicate, never an event nobody sent.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from ingest_support import PIPELINE, event, ndjson, stored

from streamdash.log.base import DEAD_LETTER_STREAM
from streamdash.log.sqlite import SqliteLog

APP_MODULE = """
import json, os
from pathlib import Path
from streamdash.ingest.app import create_app
from streamdash.log.sqlite import SqliteLog
from streamdash.spec.models import Pipeline

def make():
    pipeline = Pipeline.model_validate(json.loads(os.environ["TEST_PIPELINE"]))
    log = SqliteLog(Path(os.environ["TEST_LOG_DIR"]))
    return create_app(pipeline, log, token=None, reader=None)
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(tmp_path: Path) -> tuple[subprocess.Popen[bytes], str]:
    (tmp_path / "crash_app.py").write_text(APP_MODULE)
    port = free_port()
    env = {
        **os.environ,
        "TEST_PIPELINE": json.dumps(PIPELINE),
        "TEST_LOG_DIR": str(tmp_path / "log"),
    }
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            "crash_app:make",
            "--app-dir",
            str(tmp_path),
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        env=env,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                return process, url
        except httpx.TransportError:
            time.sleep(0.05)
    process.kill()
    raise RuntimeError("uvicorn did not come up within 30 s")


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.kill()
        process.wait()


@pytest.mark.slow
def test_acknowledged_events_survive_kill_9(
    tmp_path: Path, processes: list[subprocess.Popen[bytes]]
) -> None:
    process, url = start_server(tmp_path)
    processes.append(process)
    acknowledged: set[str] = set()
    sent: set[str] = set()
    lock = threading.Lock()
    stop = threading.Event()

    def client(number: int) -> None:
        with httpx.Client(timeout=10) as http:
            for batch in range(10_000):
                ids = [f"c{number}-b{batch}-e{i}" for i in range(50)]
                body = ndjson([event(i, message=ids[i]) for i in range(50)])
                body += b'{"bad": "%s"}\n' % f"c{number}-b{batch}".encode()
                with lock:
                    sent.update(ids)
                try:
                    response = http.post(
                        url + "/v1/streams/app_logs/events",
                        content=body,
                        headers={"content-type": "application/x-ndjson"},
                    )
                except httpx.TransportError:
                    return  # the server is gone: this batch is unacknowledged
                assert response.status_code == 202, response.text
                with lock:
                    acknowledged.update(ids)
                if stop.is_set():
                    return

    clients = [threading.Thread(target=client, args=(n,)) for n in range(8)]
    for thread in clients:
        thread.start()
    while len(acknowledged) < 20_000:  # let a good number of group commits happen first
        time.sleep(0.01)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    stop.set()
    for thread in clients:
        thread.join(30)

    restarted, url = start_server(tmp_path)  # the log opens and takes appends again
    processes.append(restarted)
    after = httpx.post(
        url + "/v1/streams/app_logs/events",
        content=ndjson([event(0)]),
        headers={"content-type": "application/x-ndjson"},
    )
    assert after.status_code == 202

    log = SqliteLog(tmp_path / "log")
    events = stored(log, "app_logs")
    ids: list[str] = [e["message"] for e in events[:-1]]
    assert len(ids) == len(set(ids)), "an event was stored twice"
    assert acknowledged <= set(ids), f"{len(acknowledged - set(ids))} acknowledged events lost"
    assert set(ids) <= sent
    batches = {i.rsplit("-", 1)[0] for i in ids}
    assert len(ids) == 50 * len(batches), "a batch was stored in part"
    dead = {json.loads(d["raw"])["bad"] for d in stored(log, DEAD_LETTER_STREAM)}
    assert batches <= dead  # each stored batch's rejected line is dead-lettered too
    log.close()
    print(
        f"acknowledged {len(acknowledged)}, stored {len(ids)} "
        f"({len(set(ids) - acknowledged)} unacknowledged but durable)"
    )
