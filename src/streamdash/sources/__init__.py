"""Where events come from: built-in generators, NDJSON files, HTTP ingest, Kafka.

Each source lives in its own module and hands raw JSON bytes onward; nothing here decodes
events into Python objects on the hot path (see docs/architecture.md, "Batches, not events").
"""
