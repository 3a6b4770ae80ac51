"""Each demo run on a data dir gets its own generator seeds (new events, new user ids)."""

from __future__ import annotations

from pathlib import Path

from streamdash.runtime.local import demo_run_number


def test_runs_are_counted_per_data_dir(tmp_path: Path) -> None:
    assert [demo_run_number(tmp_path / "a") for _ in range(3)] == [1, 2, 3]
    assert demo_run_number(tmp_path / "b") == 1
    (tmp_path / "b" / "demo-runs").write_text("garbage")
    assert demo_run_number(tmp_path / "b") == 1  # an unreadable count starts over
