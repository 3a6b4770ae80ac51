"""`streamdash spark run` checks the spec while the JVM boots (the JVM starts first, to
shorten the time to the first row); a spec it refuses must still end with its reasons
only: exit 1, no database, no checkpoint, no JVM left booting on and printing Spark's
start-up warnings after the command returned."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import psutil
import pytest

SPECS = Path(__file__).parents[2] / "fixtures" / "specs"


def _jvms(marker: str) -> list[psutil.Process]:
    found = []
    for process in psutil.process_iter(["cmdline"]):
        if any(marker in part for part in process.info["cmdline"] or []):
            found.append(process)
    return found


@pytest.mark.parametrize(
    ("spec", "reason"),
    [
        (SPECS / "duckdb_only.yaml", "views.per_sensor.where: \"sensor GLOB 'a*'\" cannot run"),
        (None, "YAML syntax error at line 2"),
    ],
)
def test_a_refused_spec_leaves_no_jvm_behind(
    spec: Path | None, reason: str, tmp_path: Path
) -> None:
    if spec is None:
        spec = tmp_path / "broken.yaml"
        spec.write_text("streams: [\n")
    marker = f"-Dstreamdash.test={uuid.uuid4().hex}"  # on the command line of the JVM
    data_dir = tmp_path / "data"
    args = ["spark", "run", str(spec), "--kafka", "127.0.0.1:1", "--data-dir", str(data_dir)]
    done = subprocess.run(
        [sys.executable, "-m", "streamdash", *args, "--no-ui"],
        env={**os.environ, "SPARK_SUBMIT_OPTS": marker},
        capture_output=True,  # waits for every process holding the pipes, a JVM too
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1, done.stderr
    assert reason in done.stderr
    assert "WARN" not in done.stderr and "log4j" not in done.stderr, done.stderr
    assert not data_dir.exists()  # no database was started, no checkpoint written
    time.sleep(1)
    assert _jvms(marker) == []
