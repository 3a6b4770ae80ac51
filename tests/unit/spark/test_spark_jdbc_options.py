"""Spark's JDBC options (reference tables, reports) from a libpq URL or conninfo: host, port
and database in the JDBC URL, the password only as an option (Spark may log the URL); a Unix
socket refused (JDBC needs TCP)."""

from __future__ import annotations

import pytest

from streamdash.errors import Fatal
from streamdash.spark.tables import jdbc_options


def test_a_url_with_a_password() -> None:
    options = jdbc_options("postgresql://ana:s3cret@db.example:6543/results?sslmode=require")
    assert options == {
        "url": "jdbc:postgresql://db.example:6543/results",
        "driver": "org.postgresql.Driver",
        "user": "ana",
        "password": "s3cret",
        "sslmode": "require",
    }


def test_a_conninfo_without_password_or_port() -> None:
    options = jdbc_options("host=127.0.0.1 dbname=streamdash user=postgres")
    assert options["url"] == "jdbc:postgresql://127.0.0.1:5432/streamdash"
    assert "password" not in options and options["user"] == "postgres"


def test_a_unix_socket_is_refused_with_the_reason() -> None:
    with pytest.raises(Fatal, match="TCP host:port"):
        jdbc_options("host=/tmp/streamdash dbname=streamdash")
