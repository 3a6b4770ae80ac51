"""What a streaming query's checkpoint says, read through Hadoop's FileSystem API (so the
same code reads a local directory, HDFS or S3, wherever the checkpoint is).

Spark writes, per micro-batch, `offsets/<batch>` *before* running the batch (the source
offsets it covers and, on its second line, the batch's metadata with `batchWatermarkMs`,
the watermark the batch's stateful operators use) and `commits/<batch>` after the sink
accepted it. The sink reads the watermark of the batch it writes from there: it is exactly
the watermark with which Spark dropped the state of the windows ending at or before it,
i.e. the windows that are final, including after a restart. The layout has been stable
since Spark 2.x; a missing or unreadable file raises `CheckpointError`.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from streamdash.errors import Fatal

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


class CheckpointError(Fatal):
    """A checkpoint cannot be read, or does not belong with the results in the database."""


class CheckpointLog:
    def __init__(self, spark: SparkSession, location: str) -> None:
        self.location = location.rstrip("/")
        jvm: Any = spark._jvm
        self._path_class = jvm.org.apache.hadoop.fs.Path
        self._text = jvm.org.apache.commons.io.IOUtils.toString
        root = self._path_class(self.location)
        self._fs = root.getFileSystem(spark._jsc.hadoopConfiguration())

    def _batches(self, folder: str) -> list[int]:
        path = self._path_class(f"{self.location}/{folder}")
        if not self._fs.exists(path):
            return []
        names = [status.getPath().getName() for status in self._fs.listStatus(path)]
        return sorted(int(name) for name in names if name.isdigit())

    def last_committed(self) -> int | None:
        """The last batch Spark recorded as done (None: none yet, or a new checkpoint)."""
        done = self._batches("commits")
        return done[-1] if done else None

    def batch_watermark_ms(self, batch_id: int) -> int:
        """The watermark (epoch ms) batch `batch_id` runs with; 0 before any event."""
        path = self._path_class(f"{self.location}/offsets/{batch_id}")
        try:
            stream = self._fs.open(path)
            try:
                lines = str(self._text(stream, "UTF-8")).splitlines()
            finally:
                stream.close()
            return int(json.loads(lines[1]).get("batchWatermarkMs", 0))
        except Exception as err:  # py4j errors, a truncated file, a format change
            raise CheckpointError(
                f"cannot read the watermark of batch {batch_id} from {self.location}/offsets: {err}"
            ) from err
