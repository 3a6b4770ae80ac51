"""A child process telling its supervisor that it is ready, through an inherited pipe.

`streamdash run` starts the engine with the write end of a pipe (its number in
`STREAMDASH_READY_FD`); the engine writes one byte once it has started (connected, tables
created, state restored). The supervisor holds back what can wait — the dashboard and the
alert evaluator, ~2 s of imports on two cores — until then, so they do not slow the start of
the engine and with it the first result row. A process started by hand has no such
variable and notifies no one. If the child dies first, the pipe reaches end of file.
"""

from __future__ import annotations

import contextlib
import os
import select
import threading
import time
from collections.abc import MutableMapping

READY_FD_ENV = "STREAMDASH_READY_FD"


def notify_ready(environ: MutableMapping[str, str] | None = None) -> None:
    """Tell the supervisor (if any) that this process is ready; later calls do nothing."""
    env = os.environ if environ is None else environ
    fd = env.pop(READY_FD_ENV, None)
    if fd is None or not fd.isdigit():
        return
    with contextlib.suppress(OSError):  # a supervisor that went away does not care
        os.write(int(fd), b"1")
        os.close(int(fd))


class ReadyPipe:
    """The supervisor's side: `child_env` for the child, then `wait`."""

    def __init__(self) -> None:
        self._read, self._write = os.pipe()

    def child_env(self, env: dict[str, str]) -> dict[str, str]:
        return {**env, READY_FD_ENV: str(self._write)}

    @property
    def child_fd(self) -> int:
        return self._write

    def started(self) -> None:
        """The child has its copy of the write end: close ours, so its exit means EOF."""
        os.close(self._write)

    def wait(self, timeout: float, stop: threading.Event | None = None) -> bool:
        """True once the child said it is ready; False after `timeout`, if it exited
        without saying so, or when `stop` is set (checked every 0.1 s)."""
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0 and not (stop and stop.is_set()):
            readable, _, _ = select.select([self._read], [], [], min(0.1, left))
            if readable:
                return os.read(self._read, 1) == b"1"
        return False

    def close(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self._read)
