"""`report_db`: one database for all report tests (they only read it), filled once by the
real engine from generated app_logs and user_events (see report_support.produce)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager

import pytest
from report_support import ReportData, produce

PLAN = {"app_logs": (6000, 5.0), "user_events": (4000, 4.0)}
"""20 minutes of app_logs (120 windows of 10 s per application) and about 17 minutes of
user_events (4 five-minute windows per campaign and country), from START_US."""


@pytest.fixture(scope="session")
def report_db(
    pg_url: str, scratch_database: Callable[..., AbstractContextManager[str]]
) -> Iterator[ReportData]:
    with scratch_database(pg_url, "test_reports_") as url:
        yield ReportData(url, produce(url, PLAN))
