"""`streamdash check` and `streamdash generate`: exit codes, every error printed with its
YAML path, deterministic output, and clear messages (never a traceback) for user errors.

Most cases run the typer app in-process (fast); the real entry point is exercised as a
subprocess where what matters is the process itself (exit code of `python -m streamdash`,
stdout bytes)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import msgspec
import pytest
from typer.testing import CliRunner

from streamdash.cli import app
from streamdash.sources.generators import GENERATORS
from streamdash.spec.loader import load_builtin

SPECS = Path(__file__).parents[2] / "fixtures" / "specs"
START = "2024-05-01T12:00:00Z"

# Every mistake in broken.yaml, by YAML path (each must be reported, not only the first).
BROKEN_PATHS = [
    "streams.shop.time.field",
    "streams.shop.schema.colour.type",
    "streams.shop.derived.big",
    "views.Sales",
    "views.Sales.window.tumbling",
    "views.by_customer.from",
    "views.totals.group_by[1]",
    "views.totals.metrics.customer",
    "views.totals.metrics.ratio",
    "views.totals.metrics.bad",
    "views.totals.colour",
    "alerts.too_many.view",
]


def cli(*args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "streamdash", *args], capture_output=True, timeout=60, check=False
    )


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def test_check_accepts_the_good_spec(runner: CliRunner) -> None:
    result = runner.invoke(app, ["check", str(SPECS / "orders.yaml")])
    assert result.exit_code == 0, result.output
    assert "OK" in result.stdout
    assert "1 stream(s), 2 view(s), 1 table(s)" in result.stdout


def test_check_reports_every_error_of_the_broken_spec_with_its_path() -> None:
    done = cli("check", str(SPECS / "broken.yaml"))
    assert done.returncode == 1
    err = done.stderr.decode()
    assert f"{len(BROKEN_PATHS)} error(s)" in err
    lines = [line.strip() for line in err.splitlines()[1:] if line.strip()]
    # one line per error (never wrapped), each "path: message (line N)"
    assert [line.split(": ", 1)[0] for line in lines] == BROKEN_PATHS
    assert all(line.endswith(")") and "(line " in line for line in lines), lines
    assert "did you mean 'shop'?" in err
    assert "Traceback" not in err
    assert done.stdout == b""


def test_check_prints_markup_like_yaml_keys_verbatim(runner: CliRunner, tmp_path: Path) -> None:
    spec = tmp_path / "odd.yaml"
    spec.write_text("streams: {}\nviews: {}\n'[red]': 1\n")
    result = runner.invoke(app, ["check", str(spec)])
    assert result.exit_code == 1
    assert "[red]" in result.stderr  # a key in brackets is the user's text, not rich markup


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda d: d / "missing.yaml", "missing.yaml: no such file"),
        (lambda d: d, "is a directory; expected a pipeline spec"),
    ],
    ids=["missing", "directory"],
)
def test_check_names_a_path_that_is_not_a_spec_file(
    runner: CliRunner, tmp_path: Path, make: object, message: str
) -> None:
    assert callable(make)
    result = runner.invoke(app, ["check", str(make(tmp_path))])
    assert result.exit_code == 2
    assert message in result.stderr
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_check_reports_yaml_syntax_errors_with_the_line(runner: CliRunner, tmp_path: Path) -> None:
    spec = tmp_path / "bad.yaml"
    spec.write_text("streams:\n  s: [\n")
    result = runner.invoke(app, ["check", str(spec)])
    assert result.exit_code == 1
    assert "YAML syntax error at line 3" in result.stderr


@pytest.mark.parametrize("stream", sorted(GENERATORS))
def test_generate_is_deterministic_for_every_builtin_stream(
    runner: CliRunner, tmp_path: Path, stream: str
) -> None:
    out = tmp_path / f"{stream}.ndjson"
    args = ["generate", stream, "--count", "40", "--seed", "7", "--start", START]
    to_file = runner.invoke(app, [*args, "--out", str(out)])
    assert to_file.exit_code == 0, to_file.output
    assert f"wrote 40 events to {out}" in to_file.stderr
    to_stdout = runner.invoke(app, args)
    assert to_stdout.exit_code == 0
    assert to_stdout.stdout_bytes == out.read_bytes()  # same seed: the same bytes
    other_seed = runner.invoke(app, [*args[:-4], "--seed", "8", "--start", START])
    assert other_seed.stdout_bytes != out.read_bytes()
    lines = out.read_bytes().splitlines()
    assert len(lines) == 40
    events = [msgspec.json.decode(line) for line in lines]
    assert all(isinstance(e, dict) for e in events)
    # the events fit the built-in stream's schema (sensor: app bodies of readings)
    fields = set(load_builtin().streams[stream].schema_)
    if stream == "sensor":
        assert all({"messageId", "sessionId", "deviceId", "payload"} <= e.keys() for e in events)
    else:
        time_field = load_builtin().streams[stream].time.field
        assert all(time_field in e for e in events)
        assert all(fields & e.keys() for e in events)


def test_generate_through_the_real_entry_point_writes_ndjson_to_stdout() -> None:
    args = ["generate", "app_logs", "--count", "5", "--seed", "1", "--start", START]
    first, second = cli(*args), cli(*args)
    assert first.returncode == 0, first.stderr
    assert first.stdout == second.stdout
    events = [msgspec.json.decode(line) for line in first.stdout.splitlines()]
    assert len(events) == 5
    assert events[0]["timestamp"] == 1_714_564_800_000  # --start, in the stream's unit (ms)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--late-fraction", "1.5"], "--late-fraction must be between 0 and 1, got 1.5"),
        (["--bad-fraction", "-0.1"], "--bad-fraction must be between 0 and 1, got -0.1"),
        (["--start", "yesterday"], "--start 'yesterday' is not a time; expected ISO-8601"),
        (["--count", "-1"], "count must be an integer >= 0, got -1"),
        (["--rate", "0"], "rate must be a finite number of events per second > 0"),
    ],
    ids=["late-fraction", "bad-fraction", "start", "count", "rate"],
)
def test_generate_names_the_bad_option(args: list[str], message: str) -> None:
    done = cli("generate", "app_logs", *args)
    assert done.returncode == 2
    err = done.stderr.decode()
    assert message in err
    assert "Traceback" not in err
    assert done.stdout == b""


def test_generate_unknown_stream_lists_the_known_ones(runner: CliRunner) -> None:
    result = runner.invoke(app, ["generate", "clicks"])
    assert result.exit_code == 2
    assert "no generator for 'clicks'" in result.stderr
    assert ", ".join(sorted(GENERATORS)) in result.stderr


def test_generate_out_into_a_missing_directory_is_a_clear_error(
    runner: CliRunner, tmp_path: Path
) -> None:
    target = tmp_path / "no" / "such" / "dir.ndjson"
    result = runner.invoke(app, ["generate", "users", "--count", "1", "--out", str(target)])
    assert result.exit_code == 2
    assert f"cannot write {target}: No such file or directory" in result.stderr
    assert not isinstance(result.exception, OSError)
