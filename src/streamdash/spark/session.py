"""The SparkSession a streamdash job runs in, configured for the spec's semantics.

Settings that are not tuning but semantics: UTC as the session time zone (windows are
aligned to the epoch in UTC, and ISO-8601 times without an offset are UTC, as in the
embedded engine); ANSI mode off (a cast of bad event data gives NULL instead of failing
the whole micro-batch). On a local master the shuffle runs in as many partitions as there
are cores instead of Spark's default 200, which on two cores costs seconds per batch, and
checkpoint files are renamed into place with `FileSystem.rename` instead of `FileContext`'s
(`checkpoint_manager_class`); and its JVM maps the class archive of `class_archive.py`
once `streamdash spark prepare` has made one.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import threading
import time
import zipfile
from collections.abc import Mapping
from concurrent.futures import Future
from pathlib import Path
from typing import TYPE_CHECKING

from streamdash.errors import MissingExtra
from streamdash.spark.class_archive import session_java_options
from streamdash.spark.home import use_site_packages_pyspark

if TYPE_CHECKING:
    import psutil
    from pyspark.sql import SparkSession

ENV_JDBC_JAR = "STREAMDASH_JDBC_JAR"
DEBIAN_JDBC_JAR = Path("/usr/share/java/postgresql.jar")
"""Where Debian's `libpostgresql-jdbc-java` installs the PostgreSQL JDBC driver."""
DEFAULT_MASTER = "local[2]"
SESSION_THREAD = "spark-session"
"""The name of the thread `launch_session` builds the session in."""
LOCAL_DRIVER_MEMORY = "3g"
_JAVA_OPTIONS = "spark.driver.extraJavaOptions"
_LOCAL = re.compile(r"^local(\[(\d+|\*)(,\d+)?\])?$")
_CHECKPOINT_MANAGERS = (
    "org.apache.spark.sql.execution.streaming.checkpointing.FileSystemBasedCheckpointFileManager",
    "org.apache.spark.sql.execution.streaming.FileSystemBasedCheckpointFileManager",  # older
)


def require_pyspark() -> None:
    """Raise MissingExtra (naming the extra) when pyspark is not installed."""
    try:
        import pyspark  # noqa: F401
    except ImportError:
        raise MissingExtra("pyspark", "spark") from None


def jdbc_jar() -> Path | None:
    """The PostgreSQL JDBC driver jar: $STREAMDASH_JDBC_JAR, else Debian's, else None."""
    given = os.environ.get(ENV_JDBC_JAR)
    if given:
        return Path(given)
    return DEBIAN_JDBC_JAR if DEBIAN_JDBC_JAR.is_file() else None


def checkpoint_manager_class() -> str | None:
    """Spark's checkpoint file manager over Hadoop's `FileSystem` API, as the installed
    pyspark names it (None if it has none by either name).

    Spark's default renames every checkpoint file (offset and commit logs, state store
    deltas: several per micro-batch and query) through `FileContext`, which on a local
    file system without Hadoop's native library asks for the link status by running
    `readlink` in a child process of the driver JVM each time. Measured here: `walCommit`
    and `commitOffsets` 60-140 ms each per batch, 16-30 ms with this manager, and p50 event
    -> row at 20k events/s 1.9 s -> 0.9-1.1 s. Its rename is atomic on local file systems
    and HDFS, which is what a checkpoint needs."""
    import pyspark

    jars = Path(pyspark.__file__).parent / "jars"
    for jar in sorted(jars.glob("spark-sql_*.jar")):
        with zipfile.ZipFile(jar) as archive:
            names = set(archive.namelist())
        for name in _CHECKPOINT_MANAGERS:
            if name.replace(".", "/") + ".class" in names:
                return name
    return None


def local_cores(master: str) -> int | None:
    """The core count of a `local[N]` master (None for a cluster master)."""
    match = _LOCAL.match(master)
    if match is None:
        return None
    count = match.group(2)
    if count is None:
        return 1
    return (os.cpu_count() or 2) if count == "*" else int(count)


def session_conf(master: str, ui: bool = True) -> dict[str, str]:
    """The configuration `build_session` applies (also printed by `spark submit-cmd`)."""
    conf = {
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.ansi.enabled": "false",
        "spark.ui.enabled": "true" if ui else "false",
        "spark.ui.showConsoleProgress": "false",
        # Constraint propagation multiplies out the aliases of wide projections: the
        # decode's per-field CASE checks of the users stream under created_users' 18
        # metrics took the optimizer past a 3 GiB heap (OutOfMemoryError in
        # ExpressionSet.canonicalized). Constraints only let the optimizer infer and prune
        # filters; results do not depend on them.
        "spark.sql.constraintPropagation.enabled": "false",
    }
    cores = local_cores(master)
    if cores is not None:
        conf["spark.sql.shuffle.partitions"] = str(cores)
        conf["spark.default.parallelism"] = str(cores)
        # driver and executors share one JVM on a local master: Spark's 1 GiB default
        # heap runs out with the state of a dozen streaming queries (the built-in specs)
        conf["spark.driver.memory"] = LOCAL_DRIVER_MEMORY
        manager = checkpoint_manager_class()
        if manager is not None:  # local master, local checkpoints (see the function)
            conf["spark.sql.streaming.checkpointFileManagerClass"] = manager
    jar = jdbc_jar()
    if jar is not None:
        conf["spark.jars"] = str(jar)
    return conf


def build_session(
    master: str | None = None,
    app_name: str = "streamdash",
    conf: Mapping[str, str] | None = None,
    ui: bool = True,
) -> SparkSession:
    """Start (or join) the SparkSession. `master` None: the one spark-submit was given, else
    local[2]. Executors of a local master run this same Python interpreter."""
    require_pyspark()
    from pyspark import SparkConf
    from pyspark.sql import SparkSession

    given = SparkConf()  # what spark-submit passed (spark.* system properties)
    chosen = master or given.get("spark.master") or DEFAULT_MASTER
    settings = {**session_conf(chosen, ui), **(conf or {})}
    if local_cores(chosen) is not None:
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        use_site_packages_pyspark()
        java_options = session_java_options(settings.get(_JAVA_OPTIONS))
        if java_options:
            settings[_JAVA_OPTIONS] = java_options
    builder = SparkSession.builder.master(chosen).appName(app_name)
    for key, value in settings.items():
        if key == "spark.jars" and given.get("spark.jars"):
            value = f"{given.get('spark.jars')},{value}"
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("WARN")
    return session


class SessionLaunch(Future["SparkSession"]):
    """A SparkSession being built in the background (`launch_session`); `spawns_jvm`:
    whether building it starts a JVM (none ran in this process yet) or joins the running
    one."""

    def __init__(self, spawns_jvm: bool) -> None:
        super().__init__()
        self.spawns_jvm = spawns_jvm


def launch_session(master: str | None = None, ui: bool = True) -> SessionLaunch:
    """`build_session` in a background thread: the JVM takes seconds to start (about 5 s
    here with the class archive, mostly waiting for its process), time the caller can
    spend on what needs no Spark (loading and checking the spec, importing the runner,
    starting the database, creating the result tables). The thread is a daemon: a caller
    failing before it needs the session does not wait for it; `abandon_launch` ends the
    JVM at once (by itself it would end only once it noticed its parent gone)."""
    require_pyspark()
    import pyspark.sql  # noqa: F401  in this thread, before the caller imports more of it
    from pyspark import SparkContext

    launched = SessionLaunch(spawns_jvm=SparkContext._gateway is None)

    def build() -> None:
        if not launched.set_running_or_notify_cancel():
            return  # abandoned before it began
        try:
            launched.set_result(build_session(master, ui=ui))
        except BaseException as err:  # handed to whoever asks for the session
            launched.set_exception(err)

    threading.Thread(target=build, name=SESSION_THREAD, daemon=True).start()
    return launched


def abandon_launch(launched: SessionLaunch, wait_s: float = 2.0) -> None:
    """Kill the JVM a `launch_session` of this process is starting, for a caller that will
    not need it after all (`spark run` refusing a spec it checked while the JVM booted):
    it would otherwise boot on after its parent exited, printing Spark's start-up warnings
    onto the terminal, until it noticed. SIGKILL: no query ran, nothing of it is worth a
    shutdown (which logs too). A launch that has begun but not yet spawned its process is
    waited for (its Python part takes milliseconds), so that no JVM starts after this."""
    import psutil

    if launched.cancel() or not launched.spawns_jvm:
        return  # not begun (it never will), or it joins a JVM someone else needs
    me = psutil.Process()
    deadline = time.monotonic() + wait_s
    while not launched.done() and not _launched_processes(me):
        if time.monotonic() > deadline:
            break
        time.sleep(0.005)
    for child in _launched_processes(me):
        with contextlib.suppress(psutil.NoSuchProcess):
            child.kill()


def _launched_processes(me: psutil.Process) -> list[psutil.Process]:
    """This process's children that PySpark's gateway launch started (spark-submit and the
    JVM it execs end their command lines with `pyspark-shell`)."""
    import psutil

    found = []
    for child in me.children(recursive=True):
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
            if "pyspark-shell" in child.cmdline():
                found.append(child)
    return found
