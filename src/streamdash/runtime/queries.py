"""The API's read side: the JSON result API answered from the store, never from the
engine's memory. Adapts the store's `ResultReader` to the ingest app's `ResultQueries`."""

from __future__ import annotations

import threading
from datetime import datetime
from typing import Any

from streamdash.results import ViewSchema
from streamdash.spec.models import Pipeline
from streamdash.store.reader import ResultReader


def view_schemas(pipeline: Pipeline, database_url: str | None = None) -> dict[str, ViewSchema]:
    """Result-table schemas, derived exactly as the engine derives them."""
    from streamdash.engine import Processor
    from streamdash.runtime.tables import load_table

    tables = {
        name: load_table(name, spec, database_url=database_url)
        for name, spec in pipeline.tables.items()
    }
    processor = Processor(pipeline, tables)
    try:
        return {schema.view: schema for schema in processor.schemas()}
    finally:
        processor.close()


class StoreQueries:
    """The schemas are derived on first use, not at construction: that needs the engine's
    compiler (DuckDB and all, ~0.5 s of imports) and, for reference tables read from
    PostgreSQL, the database — neither of which the API should wait for before it accepts
    events. A failure (database not up yet) is retried on the next query."""

    def __init__(self, pipeline: Pipeline, database_url: str) -> None:
        self.pipeline = pipeline
        self.database_url = database_url
        self.reader = ResultReader(database_url)
        self._schemas: dict[str, ViewSchema] | None = None
        self._lock = threading.Lock()

    @property
    def schemas(self) -> dict[str, ViewSchema]:
        with self._lock:  # queries run on worker threads: derive once
            if self._schemas is None:
                self._schemas = view_schemas(self.pipeline, self.database_url)
            return self._schemas

    def views(self) -> list[dict[str, Any]]:
        out = []
        for name, spec in self.pipeline.views.items():
            schema = self.schemas[name]
            out.append(
                {
                    "name": name,
                    "table": schema.table,
                    "stream": spec.from_,
                    "description": spec.description,
                    "window": schema.window,
                    "keys": [key for key, _ in schema.keys],
                    "metrics": [metric for metric, _ in schema.metrics],
                    "url": f"/v1/views/{name}",
                }
            )
        return out

    def query_view(
        self, view: str, since: datetime | None, until: datetime | None, key: str | None, limit: int
    ) -> list[dict[str, Any]]:
        schema = self.schemas[view]  # KeyError -> 404
        keys = {}
        if key is not None and schema.keys:
            keys[schema.keys[0][0]] = key
        return self.reader.query_view(schema, since=since, until=until, key=keys, limit=limit)

    def dead_letters(
        self, stream: str | None, reason: str | None, limit: int
    ) -> list[dict[str, Any]]:
        return self.reader.dead_letters(stream=stream, reason=reason, limit=limit)
