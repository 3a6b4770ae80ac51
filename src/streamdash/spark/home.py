"""The SPARK_HOME a local master runs with when pyspark came from pip.

pip's pyspark is its own SPARK_HOME, and Spark puts `$SPARK_HOME/python/lib/pyspark.zip`
first on every Python worker's path. Python cannot cache the bytecode of modules imported
from a zip file, so every worker process Spark starts (one per Python data source read,
per planning step, per query's source runner) compiled pyspark from source again: about
0.8 s of CPU each, measured here. The queries of a pipeline start dozens of them.

Locally the workers run this same interpreter, which has the same pyspark installed with
its bytecode cached; so the session is started with a SPARK_HOME that links pip's `bin`
and `jars` and has no `python/lib`: the workers import pyspark from site-packages.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

from streamdash.errors import Fatal

LINKED = ("bin", "jars")
"""What spark-submit needs of a SPARK_HOME (its launch scripts and Spark's jars)."""


def pip_spark_home() -> Path | None:
    """The installed pyspark package's directory if it is a SPARK_HOME (pip's layout)."""
    import pyspark

    home = Path(pyspark.__file__).parent
    if all((home / name).is_dir() for name in LINKED):
        return home
    return None


def _usable(home: Path, pip_home: Path) -> bool:
    """`home` links to `pip_home`'s bin and jars, and only we can change it (spark-submit
    is run from it: in a shared temp directory, someone else's directory is not used)."""
    try:
        info = home.lstat()
    except FileNotFoundError:
        return False
    if info.st_uid != os.getuid() or info.st_mode & 0o022 or home.is_symlink():
        return False
    return all((home / n).resolve() == (pip_home / n).resolve() for n in LINKED)


def linked_spark_home(pip_home: Path, parent: Path | None = None) -> Path:
    """A directory (made once, shared by later runs) whose `bin` and `jars` link to
    `pip_home`'s."""
    digest = hashlib.sha256(str(pip_home.resolve()).encode()).hexdigest()[:12]
    base = parent or Path(tempfile.gettempdir())
    home = base / f"streamdash-spark-home-{os.getuid()}-{digest}"
    if _usable(home, pip_home):
        return home
    staging = Path(tempfile.mkdtemp(prefix=f"{home.name}.", dir=base))
    for name in LINKED:
        (staging / name).symlink_to(pip_home / name, target_is_directory=True)
    try:
        staging.rename(home)
    except OSError:  # made by a concurrent run meanwhile (or a stale one in the way)
        for name in LINKED:
            (staging / name).unlink()
        staging.rmdir()
        if not _usable(home, pip_home):
            raise Fatal(
                f"{home} is in the way of the SPARK_HOME streamdash links for pip's pyspark "
                f"(its bin and jars should link to {pip_home}); remove it, or set SPARK_HOME"
            ) from None
    return home


def use_site_packages_pyspark() -> None:
    """Point SPARK_HOME at `linked_spark_home` unless the user has set one (a Spark
    installation of their own is left alone)."""
    if "SPARK_HOME" in os.environ:
        return
    pip_home = pip_spark_home()
    if pip_home is not None:
        os.environ["SPARK_HOME"] = str(linked_spark_home(pip_home))
