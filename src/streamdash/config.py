"""Runtime settings: command-line options override environment variables override defaults.

Secrets (the bearer token, database passwords inside URLs) are never logged: `describe()`
masks them.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field, replace
from pathlib import Path

ENV_DATA_DIR = "STREAMDASH_DATA_DIR"
ENV_DATABASE_URL = "STREAMDASH_DATABASE_URL"
ENV_TOKEN = "STREAMDASH_TOKEN"
ENV_KAFKA = "STREAMDASH_KAFKA_BOOTSTRAP"
ENV_HOST = "STREAMDASH_HOST"
ENV_PORT = "STREAMDASH_PORT"
ENV_LOG_SYNC = "STREAMDASH_LOG_SYNC"

_PASSWORD_IN_URL = re.compile(r"(://[^:/@]+:)[^@]+@")


def mask_url(url: str) -> str:
    """`postgresql://u:secret@h/db` -> `postgresql://u:***@h/db`."""
    return _PASSWORD_IN_URL.sub(r"\1***@", url)


@dataclass(frozen=True)
class Settings:
    data_dir: Path = field(default_factory=lambda: Path(".streamdash"))
    database_url: str | None = None
    """An external PostgreSQL; None: run the embedded one in `data_dir`."""
    token: str | None = None
    host: str = "127.0.0.1"
    port: int = 8000
    dashboard_port: int = 8050
    kafka_bootstrap: str | None = None
    log_sync: str = "FULL"
    """SQLite `synchronous` for the embedded log: FULL survives power loss, NORMAL only crashes."""

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        base = cls()
        port = env.get(ENV_PORT)
        if port is not None and not port.isdigit():
            raise ValueError(f"{ENV_PORT} must be a port number, got {port!r}")
        return replace(
            base,
            data_dir=Path(env[ENV_DATA_DIR]) if env.get(ENV_DATA_DIR) else base.data_dir,
            database_url=env.get(ENV_DATABASE_URL) or None,
            token=env.get(ENV_TOKEN) or None,
            host=env.get(ENV_HOST, base.host),
            port=int(port) if port else base.port,
            kafka_bootstrap=env.get(ENV_KAFKA) or None,
            log_sync=env.get(ENV_LOG_SYNC, base.log_sync).upper(),
        )

    @property
    def log_dir(self) -> Path:
        return self.data_dir / "log"

    @property
    def postgres_dir(self) -> Path:
        return self.data_dir / "postgres"

    def describe(self) -> dict[str, str]:
        """Settings fit to print: secrets masked."""
        return {
            "data dir": str(self.data_dir.resolve()),
            "database": mask_url(self.database_url) if self.database_url else "embedded",
            "token": "set" if self.token else "not set (writes are open)",
            "api": f"http://{self.host}:{self.port}",
        }
