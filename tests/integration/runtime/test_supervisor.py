"""The supervisor of `streamdash run` stops the engines only after every other child has
exited: the API's last acknowledged events must reach an engine that is still running."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from streamdash.runtime.services import Supervisor
from streamdash.testing.waiting import wait_for

# A child that notes when SIGTERM reached it and when it exited; it takes 0.3 s to exit, as
# an API finishing its last requests does.
CHILD = """
import signal, sys, time
path = sys.argv[1]
def _stop(signum, frame):
    with open(path, "a") as out:
        out.write(f"term {time.monotonic()}\\n")
    time.sleep(0.3)
    with open(path, "a") as out:
        out.write(f"exit {time.monotonic()}\\n")
    sys.exit(0)
signal.signal(signal.SIGTERM, _stop)
open(path, "a").write("up\\n")
while True:
    time.sleep(1)
"""


def _times(path: Path) -> dict[str, float]:
    lines = [line.split() for line in path.read_text().splitlines()]
    return {line[0]: float(line[1]) for line in lines if len(line) == 2}


def _start(tmp_path: Path, names: tuple[str, ...]) -> tuple[Supervisor, dict[str, Path]]:
    supervisor = Supervisor(tmp_path / "logs", program=(sys.executable, "-c", CHILD))
    notes = {name: tmp_path / f"{name}.txt" for name in names}
    for name, note in notes.items():
        note.touch()
        supervisor.spawn(name, [str(note)], {}, stop_last=name == "engine")
    _wait_up(notes, 1)
    return supervisor, notes


def _wait_up(notes: dict[str, Path], times: int) -> None:
    for note in notes.values():
        wait_for(lambda n=note: n.read_text().count("up") == times, 30, f"{note.name} up")


def test_engines_get_sigterm_only_after_the_other_children_exited(tmp_path: Path) -> None:
    supervisor, notes = _start(tmp_path, ("api", "engine", "dashboard"))
    started = time.monotonic()
    supervisor.stop(timeout=10)
    assert time.monotonic() - started < 5  # nobody waited for the SIGKILL timeout
    times = {name: _times(note) for name, note in notes.items()}
    assert times["engine"]["term"] > max(times["api"]["exit"], times["dashboard"]["exit"])
    # the others were stopped together, not one after the other
    assert abs(times["api"]["term"] - times["dashboard"]["term"]) < 0.25
    assert all(proc.returncode == 0 for proc in supervisor.children.values())


def test_a_respawned_engine_is_still_stopped_last(tmp_path: Path) -> None:
    supervisor, notes = _start(tmp_path, ("api", "engine"))
    supervisor.respawn(["api", "engine"], {})
    _wait_up(notes, 2)
    for note in notes.values():
        note.write_text("")  # only the second run's stop counts
    supervisor.stop(timeout=10)
    times = {name: _times(note) for name, note in notes.items()}
    assert times["engine"]["term"] > times["api"]["exit"]
