"""A real class archive for the Spark JVM: made by a JVM running the archive workload,
checked by a JVM that must map it, and mapped by the next session's JVM."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from streamdash.spark.class_archive import (
    ENV_CLASS_ARCHIVE,
    ClassArchiveError,
    Prepared,
    check_archive,
    java_binary,
    prepare,
)


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> Prepared:
    return prepare(tmp_path_factory.mktemp("classes"))


def test_prepare_makes_one_checked_archive_and_keeps_it(made: Prepared) -> None:
    assert made.made and made.launch is not None
    assert made.size_mb > 20  # thousands of classes, not an empty file
    assert made.path.stat().st_mode & 0o777 == 0o444
    assert [p.name for p in made.path.parent.iterdir()] == [made.path.name]
    again = prepare(made.path.parent)
    assert (again.path, again.made) == (made.path, False)


def test_a_damaged_archive_is_refused_by_the_check(made: Prepared, tmp_path: Path) -> None:
    java = java_binary()
    assert java is not None and made.launch is not None
    check_archive(made.path, java, made.launch)  # the real one passes
    damaged = tmp_path / "damaged.jsa"
    damaged.write_bytes(made.path.read_bytes()[: 1 << 20])
    with pytest.raises(ClassArchiveError, match="cannot map") as refused:
        check_archive(damaged, java, made.launch)
    assert "fatal error" in str(refused.value)  # the JVM's own words
    assert not list(Path.cwd().glob("hs_err_pid*.log"))  # its crash report is not left here


def test_the_next_session_loads_spark_classes_from_the_archive(
    made: Prepared, tmp_path: Path
) -> None:
    loaded = tmp_path / "class-load.log"
    script = textwrap.dedent(f"""
        from streamdash.spark.session import build_session
        options = "-Xlog:class+load=info:file={loaded}"
        spark = build_session(ui=False, conf={{"spark.driver.extraJavaOptions": options}})
        assert spark.range(3).count() == 3
        spark.stop()
    """)
    env = {**os.environ, ENV_CLASS_ARCHIVE: str(made.path.parent)}
    subprocess.run([sys.executable, "-c", script], env=env, check=True, timeout=300)
    lines = loaded.read_text().splitlines()  # the user's option is kept next to ours
    context = [line for line in lines if "org.apache.spark.SparkContext " in line]
    assert context and "source: shared objects file (top)" in context[0], context
    shared = sum("shared objects file (top)" in line for line in lines)
    assert shared > 3000, f"{shared} of {len(lines)} classes from the archive"
