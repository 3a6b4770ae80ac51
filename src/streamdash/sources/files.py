"""NDJSON files: writing generated events, and reading a file back in request-sized chunks.

`streamdash generate --out` writes with `write_ndjson`; `streamdash ingest FILE` posts the
chunks of `read_ndjson_batches`, each a valid NDJSON body because no line is ever split.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from itertools import islice
from pathlib import Path
from typing import BinaryIO

DEFAULT_MAX_BYTES = 1 << 20
"""One MiB per chunk: the default `max_event_bytes` of a stream, so a body of whole lines
never exceeds what the ingest API accepts per event."""
_READ_SIZE = 1 << 20
_WRITE_BATCH = 4096


def write_ndjson(lines: Iterable[bytes], out: Path | BinaryIO) -> int:
    """Write each line plus a newline to `out` (a path is created or truncated); return the
    number of lines. A line containing a newline would split into two events, so it is
    refused with ValueError (lines written before it stay written)."""
    if isinstance(out, Path):
        with out.open("wb") as file:
            return _write(lines, file)
    return _write(lines, out)


def _write(lines: Iterable[bytes], file: BinaryIO) -> int:
    written = 0
    iterator = iter(lines)
    # Batches of lines per write(): one syscall-sized buffer instead of one call per event.
    while batch := list(islice(iterator, _WRITE_BATCH)):
        for offset, line in enumerate(batch):
            if b"\n" in line:
                file.write(b"".join(good + b"\n" for good in batch[:offset]))
                raise ValueError(
                    f"line {written + offset + 1} contains a newline; expected one JSON "
                    "document per line (NDJSON)"
                )
        file.write(b"\n".join(batch) + b"\n")
        written += len(batch)
    return written


def read_ndjson_batches(path: Path, max_bytes: int = DEFAULT_MAX_BYTES) -> Iterator[bytes]:
    """Yield the file's content in chunks of whole lines, each at most `max_bytes` long.

    A single line longer than `max_bytes` is yielded alone (the server decides whether it is
    too large). Chunks keep their newlines; the last one may lack it if the file does.
    Concatenating the chunks gives the file back exactly.
    """
    if max_bytes <= 0:
        raise ValueError(f"max_bytes must be > 0, got {max_bytes}")
    pending = bytearray()
    with path.open("rb") as file:
        while block := file.read(_READ_SIZE):
            pending += block
            yield from _take_chunks(pending, max_bytes)
    if pending:
        # The end of the file: whatever is left is whole lines, at most `max_bytes` long,
        # or a single final line (without newline) longer than that.
        yield bytes(pending)


def _take_chunks(pending: bytearray, max_bytes: int) -> Iterator[bytes]:
    """Cut full chunks off the front of `pending` while it holds more than `max_bytes`."""
    while len(pending) > max_bytes:
        cut = pending.rfind(b"\n", 0, max_bytes)
        if cut == -1:
            # The first line alone is longer than max_bytes: send it whole once complete.
            cut = pending.find(b"\n", max_bytes)
            if cut == -1:
                return
        chunk = bytes(pending[: cut + 1])
        del pending[: cut + 1]
        yield chunk
