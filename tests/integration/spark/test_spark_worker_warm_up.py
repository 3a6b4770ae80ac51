"""Python workers warmed before the first micro-batch: the tasks that come next get workers
that have imported the source's modules already."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap


def test_the_next_tasks_get_warm_workers() -> None:
    # a session of its own: the shared one's idle workers would be handed out too
    script = textwrap.dedent("""
        import json
        import sys

        from streamdash.spark.session import build_session
        from streamdash.spark.worker_warm_up import warm_python_workers

        spark = build_session("local[2]", ui=False)
        warm_python_workers(spark, 2, modules=("colorsys",)).join(timeout=120)

        def probe(batches):
            import os
            import pyarrow as pa
            for _ in batches:
                warm = "colorsys" in sys.modules
                yield pa.RecordBatch.from_pydict({"warm": [warm], "pid": [os.getpid()]})

        rows = spark.range(0, 2, numPartitions=2).mapInArrow(probe, "warm boolean, pid long")
        print(json.dumps(sorted(tuple(r) for r in rows.collect())))
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          check=True, timeout=300)  # fmt: skip
    rows = json.loads(done.stdout.strip().splitlines()[-1])
    assert [warm for warm, _ in rows] == [True, True], done.stdout
