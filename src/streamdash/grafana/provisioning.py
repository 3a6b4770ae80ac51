"""Grafana provisioning files (apiVersion 1): the PostgreSQL data source and the file
provider that loads the generated dashboards.

The password is never written: the data source says `$STREAMDASH_PG_PASSWORD`, which
Grafana replaces with that environment variable of the Grafana process when it reads
provisioning files. A password in the database URL is ignored on purpose.
"""

from __future__ import annotations

from typing import Any

from psycopg.conninfo import conninfo_to_dict

DATASOURCE_NAME = "streamdash"
DATASOURCE_UID = "streamdash-pg"
DATASOURCE_TYPE = "grafana-postgresql-datasource"  # Grafana >= 10.3; older: "postgres"
PASSWORD_ENV = "STREAMDASH_PG_PASSWORD"
FOLDER = "streamdash"

# Used when no URL is given: the embedded server's user and database. Its port changes on
# every start, so the user must edit `url` (the docs say so).
_DEFAULTS = {"host": "127.0.0.1", "port": "5432", "user": "postgres", "dbname": "streamdash"}
_LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1", ""}
# Grafana's PostgreSQL data source knows only these TLS modes (no prefer/allow).
_SSL_MODES = {"disable", "require", "verify-ca", "verify-full"}


def datasource_ref() -> dict[str, str]:
    """How panels and targets point at the provisioned data source."""
    return {"type": DATASOURCE_TYPE, "uid": DATASOURCE_UID}


def _connection(database_url: str | None) -> dict[str, str]:
    given = conninfo_to_dict(database_url) if database_url else {}
    params = {key: str(value) for key, value in given.items() if value is not None}
    return _DEFAULTS | {k: v for k, v in params.items() if k in _DEFAULTS | {"sslmode": ""}}


def _ssl_mode(host: str, requested: str | None) -> str:
    if requested in _SSL_MODES:
        return requested
    # libpq's prefer/allow (or nothing) has no Grafana equivalent: keep a local
    # connection plain, and never send a password in clear over the network
    return "disable" if host in _LOCAL_HOSTS or host.startswith("/") else "require"


def datasource_file(database_url: str | None) -> dict[str, Any]:
    conn = _connection(database_url)
    host = conn["host"]
    if host.startswith("/"):  # a Unix socket directory: Grafana takes the path alone
        address = host
    elif ":" in host:  # IPv6
        address = f"[{host}]:{conn['port']}"
    else:
        address = f"{host}:{conn['port']}"
    return {
        "apiVersion": 1,
        "datasources": [
            {
                "name": DATASOURCE_NAME,
                "uid": DATASOURCE_UID,
                "type": DATASOURCE_TYPE,
                "access": "proxy",
                "url": address,
                "user": conn["user"],
                "isDefault": False,
                "editable": False,
                "jsonData": {
                    "database": conn["dbname"],
                    "sslmode": _ssl_mode(host, conn.get("sslmode")),
                    "postgresVersion": 1500,
                    "timescaledb": False,
                },
                "secureJsonData": {"password": f"${PASSWORD_ENV}"},
            }
        ],
    }


def provider_file(dashboards_path: str) -> dict[str, Any]:
    return {
        "apiVersion": 1,
        "providers": [
            {
                "name": "streamdash",
                "orgId": 1,
                "folder": FOLDER,
                "type": "file",
                "disableDeletion": False,
                "allowUiUpdates": False,
                "updateIntervalSeconds": 30,
                "options": {"path": dashboards_path, "foldersFromFilesStructure": False},
            }
        ],
    }
