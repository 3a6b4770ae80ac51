"""The reports `streamdash report NAME` knows, by name."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from streamdash.reports.app_health import APP_HEALTH
from streamdash.reports.campaigns import CAMPAIGNS
from streamdash.reports.definitions import ReportDefinition
from streamdash.reports.engine import ReportError

REPORTS: Mapping[str, ReportDefinition] = MappingProxyType(
    {report.name: report for report in (APP_HEALTH, CAMPAIGNS)}
)
"""Read-only: reports are added here, not at run time."""

ALIASES: Mapping[str, str] = MappingProxyType({"application-health": "app-health"})


def find_report(name: str) -> ReportDefinition:
    """The report called `name` (or an alias of it); ReportError listing the known ones."""
    report = REPORTS.get(ALIASES.get(name, name))
    if report is None:
        raise ReportError(
            f"no report {name!r}; expected one of: {', '.join(REPORTS)} "
            "(`streamdash report --list` describes them)"
        )
    return report
