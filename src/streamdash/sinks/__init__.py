"""Extra sinks: copies of enriched events and result rows outside PostgreSQL (`spec.sinks`).

PostgreSQL stays the system of record. An extra sink is written *before* the PostgreSQL
transaction of the same batch commits, with idempotent writes, so a crash between the two
makes the next run write the same data again (overwriting, not adding): nothing is lost
and nothing counts twice (docs/sinks.md).
"""
