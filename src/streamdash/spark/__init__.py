"""The same pipeline spec on Spark Structured Streaming (the `[spark]` extra).

`streamdash spark run` compiles every view of a spec into one streaming query (Kafka in,
PostgreSQL out, into the same tables as the embedded engine), plus one query per stream
that moves undecodable events to the dead-letter store. The parts:

- `translate` / `check`: spec SQL as Spark SQL, and what Spark cannot run (no JVM needed);
- `decode`, `aggregates`, `compiler`: a view as a Spark DataFrame plan;
- `kafka_source`: Kafka through confluent-kafka as a Spark Python data source (used where
  the Spark Kafka connector jar is not on the classpath);
- `sink`, `checkpoint`: idempotent foreachBatch writes through `PostgresSink`;
- `session`, `runner`, `submit`, `command`: the Spark session, the run loop, the
  spark-submit command line and the CLI.

Nothing here imports pyspark at module import time except the modules that need a running
Spark; they raise `MissingExtra` naming the extra to install.
"""
