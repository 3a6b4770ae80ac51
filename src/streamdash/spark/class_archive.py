"""A class-data sharing archive for the JVM of a local Spark master: the JVM starts in about
half the time.

Most of a SparkSession's start is the JVM loading, parsing and verifying Spark's classes
from its 200-odd jars. Java's AppCDS keeps them, already parsed and verified, in an archive
that the JVM maps into memory as it starts. Measured here (2 cores, quiet machine): a
local[2] session up in 4.8-5.0 s instead of 8.1-8.3 s, its first job in 1.8 s instead of
3.1-3.6 s (see docs/benchmarks.md for `streamdash spark run`).

`streamdash spark prepare` makes the archive (`make test` runs it): a child process runs a
small job like the runner's (`archive_workload.py`) in a JVM started with
`-XX:ArchiveClassesAtExit`, which writes the classes it loaded as it exits. A dumping JVM
starts about twice as slowly, so no real run ever dumps. A JVM that maps a damaged archive
crashes, so a `java -Xshare:on` start with the new archive must succeed before it is moved
into place. Without an archive, sessions start as Spark's always do.

One archive per JVM, Spark jars and SPARK_HOME (`archive_key`): after a new JDK or pyspark
there is no archive, rather than one the JVM would refuse. The archive and its directory
must belong to the user and be writable by nobody else: the JVM runs the classes it maps.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from streamdash.errors import Fatal

ENV_CLASS_ARCHIVE = "STREAMDASH_SPARK_CLASS_ARCHIVE"
"""A directory for the archive, or `off`."""
WORKLOAD_TIMEOUT_S = 600.0
_DUMP_OPTIONS = ("-XX:ArchiveClassesAtExit=", "-Xlog:")


class ClassArchiveError(Fatal):
    """The archive could not be made, or is not safe to use."""


@dataclass(frozen=True)
class Prepared:
    path: Path
    made: bool
    """False: it was there already."""
    seconds: float = 0.0
    launch: dict[str, object] | None = None
    """How the JVM that made it was started (`check_archive`)."""

    @property
    def size_mb(self) -> float:
        return self.path.stat().st_size / 1e6


def archive_dir() -> Path | None:
    """$STREAMDASH_SPARK_CLASS_ARCHIVE, else the user's cache directory; None when `off`."""
    given = os.environ.get(ENV_CLASS_ARCHIVE, "")
    if given.lower() == "off":
        return None
    if given:
        return Path(given)
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache) / "streamdash" / "spark-classes"


def java_binary() -> Path | None:
    """The `java` that Spark's launch scripts run: $JAVA_HOME's, else the one on PATH."""
    java_home = os.environ.get("JAVA_HOME")
    found = str(Path(java_home) / "bin" / "java") if java_home else shutil.which("java")
    return Path(found).resolve() if found and Path(found).is_file() else None


def spark_home() -> Path:
    """The SPARK_HOME a session is launched from (call after `use_site_packages_pyspark`)."""
    given = os.environ.get("SPARK_HOME")
    if given:
        return Path(given)
    import pyspark

    return Path(pyspark.__file__).parent


def archive_key(home: Path, java: Path) -> str:
    """Changes with the JVM binary, SPARK_HOME's path and any jar of it (name, size, time)."""
    digest = hashlib.sha256()
    for path in (java, *sorted((home / "jars").iterdir())):
        info = path.stat()
        digest.update(f"{path.name}\0{info.st_size}\0{info.st_mtime_ns}\n".encode())
    digest.update(f"{java}\0{home}".encode())
    return digest.hexdigest()[:16]


def archive_path(directory: Path, key: str) -> Path:
    return directory / f"spark-{key}.jsa"


def _owned_and_closed(path: Path) -> bool:
    """Owned by this user, writable by no one else."""
    info = path.stat()
    return info.st_uid == os.getuid() and not info.st_mode & (stat.S_IWGRP | stat.S_IWOTH)


def current_archive() -> Path | None:
    """This machine's archive if it has been made and is safe to map, else None."""
    directory, java = archive_dir(), java_binary()
    if directory is None or java is None or not (spark_home() / "jars").is_dir():
        return None
    path = archive_path(directory, archive_key(spark_home(), java))
    if not path.is_file() or not _owned_and_closed(path) or not _owned_and_closed(directory):
        return None
    return path


def session_java_options(given: str | None) -> str | None:
    """spark.driver.extraJavaOptions for a local session: `given` (the user's) and the
    archive, when there is one."""
    archive = current_archive()
    if archive is None:
        return given
    option = f"-XX:SharedArchiveFile={archive}"
    return f"{given} {option}" if given else option


def _ready_directory(directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    if not _owned_and_closed(directory):
        raise ClassArchiveError(
            f"{directory} belongs to another user or others may write to it; a JVM would "
            f"run classes from it: use a directory of your own ({ENV_CLASS_ARCHIVE})"
        )


def check_archive(archive: Path, java: Path, launch: dict[str, object]) -> None:
    """Start a JVM that must map `archive` (`-Xshare:on`), with the options and class path
    of the JVM that made it: a damaged archive crashes it, a refused one fails it."""
    options = [str(o) for o in launch["options"]]  # type: ignore[attr-defined]
    kept = [o for o in options if not o.startswith(_DUMP_OPTIONS)]
    with tempfile.TemporaryDirectory(prefix="streamdash-class-archive-") as scratch:
        command = [str(java), *kept, "-Xshare:on", f"-XX:SharedArchiveFile={archive}"]
        # a crash report goes to the scratch directory, not to the caller's
        command += [f"-XX:ErrorFile={scratch}/hs_err_pid%p.log", "-XX:-CreateCoredumpOnCrash"]
        command += ["-cp", str(launch["class_path"]), "-version"]
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=120, check=False, cwd=scratch
        )
    if done.returncode != 0:
        lines = (line.strip("# ").strip() for line in (done.stdout + done.stderr).splitlines())
        detail = "; ".join([line for line in lines if line][:3])
        raise ClassArchiveError(f"the JVM cannot map the new archive {archive}: {detail}")


def remove_stale(directory: Path, keep: Path) -> None:
    """Archives of other JVMs or jars (useless now), and unfinished ones of dead processes."""
    for path in directory.glob("spark-*.jsa"):
        if path != keep:
            path.unlink(missing_ok=True)
    for path in directory.glob(".spark-*.jsa"):
        pid = path.name.rsplit(".", 2)[-2]
        if pid.isdigit() and not Path(f"/proc/{pid}").exists():
            path.unlink(missing_ok=True)


def prepare(directory: Path | None = None, *, force: bool = False) -> Prepared:
    """Make this machine's archive (unless it exists and not `force`)."""
    from streamdash.spark.home import use_site_packages_pyspark

    directory = directory or archive_dir()
    if directory is None:
        raise ClassArchiveError(f"{ENV_CLASS_ARCHIVE}=off: no class archive is used")
    java = java_binary()
    if java is None:
        raise ClassArchiveError("no java found (set JAVA_HOME, or put java on PATH)")
    use_site_packages_pyspark()
    _ready_directory(directory)
    final = archive_path(directory, archive_key(spark_home(), java))
    if final.is_file() and not force:
        return Prepared(final, made=False)
    partial = directory / f".{final.stem}.{os.getpid()}.jsa"
    started = time.monotonic()
    try:
        launch = _run_workload(partial)
        if not partial.is_file():
            raise ClassArchiveError(f"the JVM wrote no archive to {partial}")
        check_archive(partial, java, launch)
        partial.chmod(0o444)
        partial.replace(final)
    finally:
        partial.unlink(missing_ok=True)
    remove_stale(directory, final)
    return Prepared(final, made=True, seconds=time.monotonic() - started, launch=launch)


def _run_workload(partial: Path) -> dict[str, object]:
    """Run `archive_workload` in a child process whose JVM dumps its classes to `partial`
    as it exits; return how that JVM was launched."""
    env = {**os.environ, ENV_CLASS_ARCHIVE: "off"}  # it must not map an older archive
    command = [sys.executable, "-m", "streamdash.spark.archive_workload", str(partial)]
    try:
        done = subprocess.run(
            command, env=env, capture_output=True, text=True, timeout=WORKLOAD_TIMEOUT_S
        )
    except subprocess.TimeoutExpired:
        raise ClassArchiveError(f"the archive's job ran over {WORKLOAD_TIMEOUT_S:.0f} s") from None
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        tail = "\n".join(done.stderr.strip().splitlines()[-8:])
        raise ClassArchiveError(f"the archive's job failed (exit {done.returncode}):\n{tail}")
    launch: dict[str, object] = json.loads(lines[-1])
    return launch
