"""`report_db`: one database for all report tests (they only read it), filled once by the
real engine from generated app_logs and user_events (see report_support.produce)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo
from report_support import Event, produce

PLAN = {"app_logs": (6000, 5.0), "user_events": (4000, 4.0)}
"""20 minutes of app_logs (120 windows of 10 s per application) and about 17 minutes of
user_events (4 five-minute windows per campaign and country), from START_US."""


@dataclass(frozen=True)
class ReportData:
    url: str
    events: dict[str, list[Event]]


@pytest.fixture(scope="session")
def report_db(pg_url: str) -> Iterator[ReportData]:
    name = f"test_reports_{uuid.uuid4().hex}"
    with psycopg.connect(pg_url, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = make_conninfo(pg_url, dbname=name)
    try:
        yield ReportData(url, produce(url, PLAN))
    finally:
        with psycopg.connect(pg_url, autocommit=True) as admin:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
