"""NDJSON files: writing lines, and reading them back in chunks that never split a line."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streamdash.sources.files import read_ndjson_batches, write_ndjson
from streamdash.sources.generators import generate


def test_write_to_a_path_and_a_stream_gives_the_same_bytes(tmp_path: Path) -> None:
    lines = list(generate("app_logs", count=10_000, seed=1, start_us=0))
    path = tmp_path / "events.ndjson"
    buffer = io.BytesIO()
    assert write_ndjson(iter(lines), path) == 10_000
    assert write_ndjson(lines, buffer) == 10_000
    assert path.read_bytes() == buffer.getvalue() == b"".join(line + b"\n" for line in lines)


def test_write_refuses_a_line_with_a_newline_and_keeps_the_lines_before() -> None:
    buffer = io.BytesIO()
    with pytest.raises(ValueError, match="line 3 contains a newline"):
        write_ndjson([b"{}", b"[]", b'{"a":\n1}'], buffer)
    assert buffer.getvalue() == b"{}\n[]\n"


def test_write_nothing(tmp_path: Path) -> None:
    path = tmp_path / "empty.ndjson"
    assert write_ndjson([], path) == 0
    assert path.read_bytes() == b""


def write(tmp_path: Path, content: bytes) -> Path:
    path = tmp_path / "in.ndjson"
    path.write_bytes(content)
    return path


def test_chunks_hold_whole_lines_up_to_the_limit(tmp_path: Path) -> None:
    lines = list(generate("user_events", count=5000, seed=2, start_us=0))
    path = tmp_path / "events.ndjson"
    write_ndjson(lines, path)
    chunks = list(read_ndjson_batches(path, max_bytes=64 * 1024))
    assert len(chunks) > 10
    assert b"".join(chunks) == path.read_bytes()
    for chunk in chunks:
        assert len(chunk) <= 64 * 1024
        assert chunk.endswith(b"\n")
    # Chunks are filled: each but the last would overflow with the next line added.
    split = [chunk.splitlines() for chunk in chunks]
    for chunk, following in zip(chunks, split[1:], strict=False):
        assert len(chunk) + len(following[0]) + 1 > 64 * 1024


def test_a_line_longer_than_the_limit_is_yielded_alone(tmp_path: Path) -> None:
    long_line = b'{"x":"' + b"a" * 5000 + b'"}\n'
    path = write(tmp_path, b"{}\n" + long_line + b"[]\n{}\n")
    assert list(read_ndjson_batches(path, max_bytes=100)) == [b"{}\n", long_line, b"[]\n{}\n"]


def test_the_last_line_may_lack_its_newline(tmp_path: Path) -> None:
    path = write(tmp_path, b"{}\n" * 3 + b'{"end":1}')
    assert list(read_ndjson_batches(path, max_bytes=7)) == [b"{}\n{}\n", b"{}\n", b'{"end":1}']
    path = write(tmp_path, b"x" * 50)
    assert list(read_ndjson_batches(path, max_bytes=7)) == [b"x" * 50]


def test_an_empty_file_yields_nothing(tmp_path: Path) -> None:
    assert list(read_ndjson_batches(write(tmp_path, b""))) == []


def test_max_bytes_must_be_positive(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="max_bytes must be > 0"):
        list(read_ndjson_batches(write(tmp_path, b"{}\n"), max_bytes=0))


def test_a_file_larger_than_one_read_is_chunked_across_reads(tmp_path: Path) -> None:
    line = b'{"pad":"' + b"p" * 1000 + b'"}\n'
    content = line * 3000  # ~3 MB: several 1 MiB reads, lines straddle read boundaries
    chunks = list(read_ndjson_batches(write(tmp_path, content)))
    assert b"".join(chunks) == content
    assert all(len(chunk) <= 1 << 20 and len(chunk) % len(line) == 0 for chunk in chunks)


@settings(max_examples=200, deadline=None)
@given(
    lines=st.lists(st.binary(max_size=40).map(lambda b: b.replace(b"\n", b"")), max_size=60),
    max_bytes=st.integers(min_value=1, max_value=120),
    trailing_newline=st.booleans(),
)
def test_chunking_never_splits_a_line(
    tmp_path_factory: pytest.TempPathFactory,
    lines: list[bytes],
    max_bytes: int,
    trailing_newline: bool,
) -> None:
    content = b"\n".join(lines) + (b"\n" if trailing_newline and lines else b"")
    path = tmp_path_factory.mktemp("chunks") / "in.ndjson"
    path.write_bytes(content)
    chunks = list(read_ndjson_batches(path, max_bytes=max_bytes))
    assert b"".join(chunks) == content
    for index, chunk in enumerate(chunks):
        assert chunk
        is_last = index == len(chunks) - 1
        assert chunk.endswith(b"\n") or is_last
        if len(chunk) > max_bytes:
            # Only a single line may exceed the limit.
            assert chunk.count(b"\n") <= 1 and b"\n" not in chunk[:-1]
