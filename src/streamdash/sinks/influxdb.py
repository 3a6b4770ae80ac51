"""`InfluxSink`: enriched events and result rows into an InfluxDB 1.x database over its HTTP
API (`/write` with line protocol, `/query` for CREATE DATABASE and DELETE).

Idempotence is what makes the copy exact: InfluxDB keeps one point per (measurement, tag
set, timestamp) and a second write of it replaces its fields. So the timestamps are
chosen deterministic:
- a view row is written at its `window_start` (running views: at the write, so their
  points form a time series of the running values);
- an event is written at its event time in microseconds, plus its log offset modulo 1000
  in nanoseconds: distinct events of one tag set in the same microsecond stay distinct
  (up to 1000 of them), and a re-processed event overwrites itself.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Mapping
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from streamdash.config import mask_url
from streamdash.errors import StoreUnavailable, StreamdashError
from streamdash.results import CommitBatch, ViewUpdate
from streamdash.sinks import lineprotocol
from streamdash.spec.sinks import ENV_PREFIX, InfluxSinkSpec, SinkInput, input_columns

LINES_PER_REQUEST = 5000
"""InfluxDB's own advice is batches of 5,000-10,000 points."""


class SinkRejected(StreamdashError):
    """The sink refused the data itself (4xx, e.g. a field whose type changed): retrying
    the same batch cannot help."""


def resolve_url(url: str, environ: Mapping[str, str] | None = None) -> str:
    """The URL of the spec, read from the environment for `env:NAME`."""
    if not url.startswith(ENV_PREFIX):
        return url
    name = url.removeprefix(ENV_PREFIX)
    value = (os.environ if environ is None else environ).get(name)
    if not value:
        raise StreamdashError(f"the InfluxDB sink reads its URL from ${name}, which is not set")
    return value


def _micros(column: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """Epoch microseconds of a timestamp column (or of an int64 one, unchanged)."""
    if pa.types.is_timestamp(column.type):
        column = pc.cast(column, pa.timestamp("us", tz="UTC")).cast(pa.int64())
    return np.asarray(column.to_numpy(zero_copy_only=False), dtype=np.int64)


class InfluxSink:
    """One `sinks:` entry of type influxdb. Not thread-safe: one engine loop owns it."""

    def __init__(
        self,
        name: str,
        spec: InfluxSinkSpec,
        pipeline: Any,
        environ: Mapping[str, str] | None = None,
        clock: Any = time.time,
    ) -> None:
        self.name = name
        self.spec = spec
        url = resolve_url(spec.url, environ)
        parts = urlsplit(url)
        auth = (parts.username or "", parts.password or "") if parts.username else None
        netloc = parts.hostname or ""
        if parts.port:
            netloc += f":{parts.port}"
        self.url = urlunsplit(parts._replace(netloc=netloc))
        self.where = f"InfluxDB sink {name!r} at {mask_url(url)}"
        self._client = httpx.Client(base_url=self.url, auth=auth, timeout=spec.timeout_s)
        self._clock = clock
        self._streams: dict[str, list[tuple[SinkInput, list[str], list[str]]]] = {}
        self._views: dict[str, list[tuple[SinkInput, list[str], list[str]]]] = {}
        for item in spec.inputs:
            tags, fields = input_columns(pipeline, item)
            into = self._streams if item.stream is not None else self._views
            into.setdefault(item.source, []).append((item, tags, fields))

    def __enter__(self) -> InfluxSink:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._client.close()

    # -- HTTP ------------------------------------------------------------------------------

    def _post(self, path: str, doing: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self._client.post(path, **kwargs)
        except httpx.HTTPError as err:
            raise StoreUnavailable(
                f"{self.where} failed while {doing} (retry later): {err}"
            ) from err
        if response.status_code >= 500 or response.status_code in (401, 403, 429):
            # auth may be fixed by an operator without restarting: keep retrying, loudly
            raise StoreUnavailable(
                f"{self.where} answered {response.status_code} while {doing}: {response.text[:300]}"
            )
        if response.status_code >= 400:
            raise SinkRejected(
                f"{self.where} refused {doing} ({response.status_code}): {response.text[:300]}"
            )
        return response

    def _query(self, statement: str, doing: str) -> None:
        params = {"q": statement, "db": self.spec.database}
        answer = self._post("/query", doing, params=params).json()
        for result in answer.get("results", []):
            if "error" in result:
                raise SinkRejected(f"{self.where} refused {doing}: {result['error']}")

    def open(self) -> None:
        """Check the server answers; create the database if asked to."""
        if self.spec.create_database:
            name = self.spec.database.replace("\\", "\\\\").replace('"', '\\"')
            self._query(f'CREATE DATABASE "{name}"', "creating the database")

    def write_lines(self, lines: Iterable[str]) -> int:
        batch: list[str] = []
        written = 0
        for line in lines:
            batch.append(line)
            if len(batch) == LINES_PER_REQUEST:
                written += self._write(batch)
                batch = []
        return written + (self._write(batch) if batch else 0)

    def _write(self, lines: list[str]) -> int:
        params = {"db": self.spec.database, "precision": "ns"}
        body = ("\n".join(lines) + "\n").encode()
        self._post("/write", f"writing {len(lines)} points", params=params, content=body)
        return len(lines)

    # -- the batch -------------------------------------------------------------------------

    def write(self, batch: CommitBatch) -> int:
        """Write the batch's events and view rows that this sink takes; return the number
        of points. Deleted session windows are deleted first."""
        for update in batch.updates:
            for item, tags, _ in self._views.get(update.view, ()):
                if update.deleted is not None and update.deleted.num_rows:
                    self._delete(item, tags, update.deleted)
        return self.write_lines(self._lines(batch))

    def _lines(self, batch: CommitBatch) -> Iterable[str]:
        for stream, events in batch.events.items():
            if not events.num_rows:
                continue
            offsets = np.asarray(events.column("_offset").to_numpy(), dtype=np.int64)
            times = _micros(events.column("_t")) * 1000 + offsets % 1000
            extra = [("log_offset", [f"{o}i" for o in offsets.tolist()])]
            for item, tags, fields in self._streams.get(stream, ()):
                name = item.measurement or stream
                yield from lineprotocol.encode(name, events, tags, fields, times.tolist(), extra)
        for update in batch.updates:
            yield from self._view_lines(update)

    def _view_lines(self, update: ViewUpdate) -> Iterable[str]:
        rows = update.rows
        if not rows.num_rows:
            return
        if "window_start" in rows.column_names:
            times = (_micros(rows.column("window_start")) * 1000).tolist()
        else:
            times = [int(self._clock() * 1e9)] * rows.num_rows
        for item, tags, fields in self._views.get(update.view, ()):
            # `final` is always written: a point needs a field, and it tells open from done
            columns = [*fields, "final"] if "final" not in fields else fields
            yield from lineprotocol.encode(
                item.measurement or update.view, rows, tags, columns, times
            )

    def _delete(self, item: SinkInput, tags: list[str], deleted: pa.Table) -> None:
        name = (item.measurement or item.source).replace('"', '\\"')
        starts = (_micros(deleted.column("window_start")) * 1000).tolist()
        for row, start_ns in zip(deleted.to_pylist(), starts, strict=True):
            where = [f"time = {start_ns}"]
            for tag in tags:
                text = lineprotocol.stored_tag(row.get(tag))
                if text is not None:
                    ident = tag.replace('"', '\\"')
                    literal = text.replace("\\", "\\\\").replace("'", "\\'")
                    where.append(f"\"{ident}\" = '{literal}'")
            self._query(
                f'DELETE FROM "{name}" WHERE {" AND ".join(where)}', "deleting a merged session"
            )
