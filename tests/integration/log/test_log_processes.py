"""The log across processes: concurrent appenders, and acknowledged appends surviving kill -9."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from streamdash.log.sqlite import SqliteLog

APPENDER = """
import sys, json
from pathlib import Path
from streamdash.log.sqlite import SqliteLog
log = SqliteLog(Path(sys.argv[1]))
tag = sys.argv[2]
for i in range(int(sys.argv[3])):
    start = log.append("s", [(b'{"tag":"%s","i":%d}\\n' % (tag.encode(), i), 1)])[0]
    print(json.dumps([tag, i, start]), flush=True)
"""


def test_concurrent_processes_get_disjoint_contiguous_offsets(tmp_path: Path) -> None:
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", APPENDER, str(tmp_path), tag, "200"], stdout=subprocess.PIPE
        )
        for tag in ("a", "b", "c")
    ]
    acked = [json.loads(line) for p in procs for line in p.communicate()[0].splitlines()]
    assert all(p.returncode == 0 for p in procs)
    starts = sorted(start for _, _, start in acked)
    assert starts == list(range(600))
    log = SqliteLog(tmp_path)
    events = [json.loads(line) for c in log.read("s", 0, 10_000) for line in c.payload.splitlines()]
    by_offset = {start: (tag, i) for tag, i, start in acked}
    assert [(e["tag"], e["i"]) for e in events] == [by_offset[o] for o in range(600)]


def test_acknowledged_appends_survive_kill_9(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", APPENDER, str(tmp_path), "k", "1000000"], stdout=subprocess.PIPE
    )
    assert proc.stdout is not None
    acked = []
    deadline = time.monotonic() + 30
    while len(acked) < 300 and time.monotonic() < deadline:
        acked.append(json.loads(proc.stdout.readline()))
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    proc.stdout.close()
    log = SqliteLog(tmp_path)
    stored = {
        json.loads(line)["i"] for c in log.read("s", 0, 10**7) for line in c.payload.splitlines()
    }
    assert len(acked) == 300
    assert {i for _, i, _ in acked} <= stored
