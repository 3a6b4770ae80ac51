"""Where the embedded PostgreSQL puts its files (the root / home-directory rule)."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from streamdash.store.pgdata import (
    SYSTEM_DIR,
    choose_pgdata,
    make_dirs,
    system_location,
    traversable_by_others,
)


def test_not_root_uses_the_requested_directory(tmp_path: Path) -> None:
    requested = tmp_path / "data" / "postgres"
    assert choose_pgdata(requested, as_root=False) == requested.resolve()


@pytest.mark.parametrize("requested", ["/root/project/.streamdash/postgres", "/home/ann/x/pg"])
def test_root_never_uses_a_home_directory(requested: str, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        chosen = choose_pgdata(Path(requested), as_root=True)
    assert chosen.parent == SYSTEM_DIR
    assert chosen == system_location(Path(requested).resolve(), SYSTEM_DIR)
    assert str(chosen) in caplog.text and "home directory" in caplog.text


def test_system_location_is_stable_per_directory() -> None:
    a, b = Path("/root/a/pg"), Path("/root/b/pg")
    assert system_location(a, SYSTEM_DIR) == system_location(a, SYSTEM_DIR)
    assert system_location(a, SYSTEM_DIR) != system_location(b, SYSTEM_DIR)


def test_root_avoids_directories_other_users_cannot_enter(tmp_path: Path) -> None:
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    private.chmod(0o700)
    open_dir = tmp_path / "open"
    open_dir.mkdir()
    open_dir.chmod(0o755)
    tmp_path.chmod(0o755)
    system_dir = tmp_path / "system"

    assert not traversable_by_others(private / "pg")
    chosen = choose_pgdata(private / "pg", as_root=True, home_roots=(), system_dir=system_dir)
    assert chosen.parent == system_dir
    if traversable_by_others(open_dir / "pg"):  # depends on the parents of tmp_path
        chosen = choose_pgdata(open_dir / "pg", as_root=True, home_roots=(), system_dir=system_dir)
        assert chosen == (open_dir / "pg").resolve()
    assert private.stat().st_mode & 0o777 == 0o700  # never changed


def test_root_uses_a_fake_home_root_like_a_real_one(tmp_path: Path) -> None:
    home = tmp_path / "home"
    chosen = choose_pgdata(
        home / "u" / "pg", as_root=True, home_roots=(home,), system_dir=tmp_path / "sys"
    )
    assert chosen.parent == tmp_path / "sys"


def test_make_dirs_ignores_a_strict_umask(tmp_path: Path) -> None:
    old = os.umask(0o077)
    try:
        make_dirs(tmp_path / "a" / "b", 0o755)
    finally:
        os.umask(old)
    assert (tmp_path / "a").stat().st_mode & 0o777 == 0o755
    assert (tmp_path / "a" / "b").stat().st_mode & 0o777 == 0o755
