"""What the Python Kafka source's decoding loads in each of Spark's Python workers: the
first micro-batch waits for every worker to import it (on two cores, two at a time). The
spec's YAML loader, validator and sqlglot are the driver's business; they once made this
import 541 ms instead of 239."""

from __future__ import annotations

import subprocess
import sys

DRIVER_ONLY = ("sqlglot", "yaml", "streamdash.spec.loader", "streamdash.spec.validation")


def test_decoding_in_a_worker_loads_no_spec_parser() -> None:
    probe = (
        "import sys, streamdash.spark.source_decode; "
        f"print(','.join(m for m in {DRIVER_ONLY!r} if m in sys.modules))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    ).stdout.strip()
    assert loaded == "", f"a worker's decoding imports {loaded}"
