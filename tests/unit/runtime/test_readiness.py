"""The readiness pipe between `streamdash run` and a child: real child processes."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

from streamdash.runtime.readiness import READY_FD_ENV, ReadyPipe, notify_ready


def _child(code: str, pipe: ReadyPipe) -> subprocess.Popen[bytes]:
    child = subprocess.Popen(
        [sys.executable, "-c", code], env=pipe.child_env({}), pass_fds=(pipe.child_fd,)
    )
    pipe.started()
    return child


def test_a_child_that_notifies_is_ready() -> None:
    pipe = ReadyPipe()
    code = (
        "import time; from streamdash.runtime.readiness import notify_ready; "
        "notify_ready(); time.sleep(5)"
    )
    child = _child(code, pipe)
    try:
        assert pipe.wait(30)
    finally:
        child.kill()
        child.wait()
        pipe.close()


def test_a_child_that_exits_first_is_not_ready_and_does_not_cost_the_timeout() -> None:
    pipe = ReadyPipe()
    child = _child("raise SystemExit(3)", pipe)
    started = time.monotonic()
    try:
        assert not pipe.wait(30)
        assert time.monotonic() - started < 20  # end of file, not the timeout
    finally:
        child.wait()
        pipe.close()


def test_stop_ends_the_wait() -> None:
    pipe = ReadyPipe()
    child = _child("import time; time.sleep(30)", pipe)
    stop = threading.Event()
    threading.Timer(0.3, stop.set).start()
    started = time.monotonic()
    try:
        assert not pipe.wait(30, stop)
        assert time.monotonic() - started < 10
    finally:
        child.kill()
        child.wait()
        pipe.close()


def test_without_a_supervisor_nothing_happens() -> None:
    env: dict[str, str] = {}
    notify_ready(env)  # no variable: no error, no write
    env[READY_FD_ENV] = "not-a-number"
    notify_ready(env)
    assert READY_FD_ENV not in env
