"""The SPARK_HOME a local master gets for pip's pyspark: `bin` and `jars` linked, no
`python/lib/pyspark.zip` (workers then import pyspark with cached bytecode)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from streamdash.errors import Fatal
from streamdash.spark.home import linked_spark_home, pip_spark_home, use_site_packages_pyspark


def _pip_home(tmp_path: Path) -> Path:
    home = tmp_path / "pyspark"
    for name in ("bin", "jars", "python/lib"):
        (home / name).mkdir(parents=True)
    (home / "bin" / "spark-submit").write_text("#!/bin/sh\n")
    (home / "python/lib/pyspark.zip").write_bytes(b"")
    return home


def test_links_bin_and_jars_and_leaves_out_the_zip(tmp_path: Path) -> None:
    pip_home = _pip_home(tmp_path)
    home = linked_spark_home(pip_home, parent=tmp_path)
    assert (home / "bin" / "spark-submit").is_file()
    assert (home / "jars").resolve() == (pip_home / "jars").resolve()
    assert not (home / "python").exists()
    assert linked_spark_home(pip_home, parent=tmp_path) == home  # made once, then reused


def test_a_stale_directory_in_the_way_is_an_error(tmp_path: Path) -> None:
    pip_home = _pip_home(tmp_path)
    home = linked_spark_home(pip_home, parent=tmp_path)
    (home / "jars").unlink()
    (home / "jars").symlink_to(tmp_path, target_is_directory=True)  # points elsewhere now
    with pytest.raises(Fatal, match="in the way"):
        linked_spark_home(pip_home, parent=tmp_path)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(home.name)] == [home.name]


def test_a_directory_others_can_change_is_not_used(tmp_path: Path) -> None:
    pip_home = _pip_home(tmp_path)
    home = linked_spark_home(pip_home, parent=tmp_path)
    home.chmod(0o777)
    with pytest.raises(Fatal, match="in the way"):
        linked_spark_home(pip_home, parent=tmp_path)


def test_a_spark_home_the_user_set_is_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPARK_HOME", "/opt/spark")
    use_site_packages_pyspark()
    assert os.environ["SPARK_HOME"] == "/opt/spark"


def test_pip_pyspark_is_a_spark_home() -> None:
    pytest.importorskip("pyspark")
    home = pip_spark_home()
    assert home is not None and (home / "python/lib/pyspark.zip").is_file()
