"""Where the Spark JVM's class archive lives, what it is keyed by, and when a session may
map it (`spark/class_archive.py`). Making one with a real JVM: the integration tests."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from streamdash.spark.class_archive import (
    ENV_CLASS_ARCHIVE,
    ClassArchiveError,
    archive_dir,
    archive_key,
    archive_path,
    current_archive,
    prepare,
    remove_stale,
    session_java_options,
)


@pytest.fixture
def machine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path, Path]:
    """A SPARK_HOME with two jars, a JAVA_HOME with a java, an empty archive directory."""
    home, java_home, archives = tmp_path / "spark", tmp_path / "jdk", tmp_path / "archives"
    (home / "jars").mkdir(parents=True)
    for jar in ("spark-core.jar", "spark-sql.jar"):
        (home / "jars" / jar).write_bytes(b"PK")
    (java_home / "bin").mkdir(parents=True)
    (java_home / "bin" / "java").write_bytes(b"\x7fELF")
    archives.mkdir(mode=0o700)
    monkeypatch.setenv("SPARK_HOME", str(home))
    monkeypatch.setenv("JAVA_HOME", str(java_home))
    monkeypatch.setenv(ENV_CLASS_ARCHIVE, str(archives))
    return home, java_home / "bin" / "java", archives


def _make_archive(archives: Path, home: Path, java: Path) -> Path:
    path = archive_path(archives, archive_key(home, java))
    path.write_bytes(b"archive")
    path.chmod(0o444)
    return path


def test_the_directory_comes_from_the_environment_or_the_user_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV_CLASS_ARCHIVE, str(tmp_path / "mine"))
    assert archive_dir() == tmp_path / "mine"
    monkeypatch.setenv(ENV_CLASS_ARCHIVE, "OFF")
    assert archive_dir() is None
    monkeypatch.delenv(ENV_CLASS_ARCHIVE)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert archive_dir() == tmp_path / "cache" / "streamdash" / "spark-classes"


def test_the_key_changes_with_any_jar_or_the_jvm(machine: tuple[Path, Path, Path]) -> None:
    home, java, _ = machine
    key = archive_key(home, java)
    assert archive_key(home, java) == key
    (home / "jars" / "spark-sql.jar").write_bytes(b"PK, a new build")
    changed_jar = archive_key(home, java)
    (home / "jars" / "spark-kafka.jar").write_bytes(b"PK")
    added_jar = archive_key(home, java)
    java.write_bytes(b"\x7fELF, a new JDK")
    new_jvm = archive_key(home, java)
    assert len({key, changed_jar, added_jar, new_jvm}) == 4


def test_a_session_maps_the_archive_only_once_it_exists(
    machine: tuple[Path, Path, Path],
) -> None:
    home, java, archives = machine
    assert current_archive() is None
    assert session_java_options(None) is None
    assert session_java_options("-Dmine=1") == "-Dmine=1"
    path = _make_archive(archives, home, java)
    assert current_archive() == path
    assert session_java_options(None) == f"-XX:SharedArchiveFile={path}"
    assert session_java_options("-Dmine=1") == f"-Dmine=1 -XX:SharedArchiveFile={path}"


def test_an_archive_others_may_write_is_never_mapped(machine: tuple[Path, Path, Path]) -> None:
    home, java, archives = machine
    path = _make_archive(archives, home, java)
    path.chmod(0o666)
    assert current_archive() is None
    path.chmod(0o444)
    archives.chmod(0o777)
    assert current_archive() is None
    with pytest.raises(ClassArchiveError, match="others may write"):
        prepare(archives)


def test_off_means_no_archive(
    machine: tuple[Path, Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    home, java, archives = machine
    _make_archive(archives, home, java)
    monkeypatch.setenv(ENV_CLASS_ARCHIVE, "off")
    assert current_archive() is None
    with pytest.raises(ClassArchiveError, match="off"):
        prepare()


def test_no_java_is_a_clear_error(
    machine: tuple[Path, Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JAVA_HOME", str(machine[0] / "nowhere"))
    assert current_archive() is None
    with pytest.raises(ClassArchiveError, match="no java"):
        prepare(machine[2])


def test_an_existing_archive_is_not_made_again(machine: tuple[Path, Path, Path]) -> None:
    home, java, archives = machine
    path = _make_archive(archives, home, java)
    done = prepare(archives)
    assert (done.path, done.made) == (path, False)
    assert path.read_bytes() == b"archive"


def test_stale_archives_and_unfinished_ones_of_dead_processes_are_removed(
    machine: tuple[Path, Path, Path],
) -> None:
    home, java, archives = machine
    current = _make_archive(archives, home, java)
    old_jvm = archives / "spark-0123456789abcdef.jsa"
    old_jvm.write_bytes(b"old")
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip
    unfinished_dead = archives / f".{current.stem}.{dead}.jsa"
    unfinished_alive = archives / f".{current.stem}.{os.getpid()}.jsa"
    for path in (unfinished_dead, unfinished_alive):
        path.write_bytes(b"partial")
    remove_stale(archives, current)
    assert sorted(p.name for p in archives.iterdir()) == sorted(
        [current.name, unfinished_alive.name]
    )


def test_the_command_reports_an_archive_made_before_and_refuses_off(
    machine: tuple[Path, Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from streamdash.cli import app

    home, java, archives = machine
    path = _make_archive(archives, home, java)
    result = CliRunner().invoke(app, ["spark", "prepare"])
    assert result.exit_code == 0, result.output
    assert f"{path} is there already" in result.output
    monkeypatch.setenv(ENV_CLASS_ARCHIVE, "off")
    result = CliRunner().invoke(app, ["spark", "prepare"])
    assert result.exit_code == 1
    assert f"error: {ENV_CLASS_ARCHIVE}=off" in result.output
