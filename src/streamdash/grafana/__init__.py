"""Grafana export: provisioning files and one dashboard per stream, generated from the
spec's `dashboards:` section, for users who already run Grafana (docs/grafana.md).

The names load on first use (`streamdash.lazy_exports`): every process imports the CLI,
which registers `grafana export`, and only that command needs the export's imports."""

from __future__ import annotations

from typing import TYPE_CHECKING

from streamdash.lazy_exports import lazy_exports

if TYPE_CHECKING:
    from streamdash.grafana.export import ExpandedQuery, expanded_queries, export_grafana
    from streamdash.grafana.provisioning import DATASOURCE_UID, PASSWORD_ENV

__all__ = [
    "DATASOURCE_UID",
    "PASSWORD_ENV",
    "ExpandedQuery",
    "expanded_queries",
    "export_grafana",
]
__getattr__ = lazy_exports(
    __name__,
    {
        "ExpandedQuery": "export",
        "expanded_queries": "export",
        "export_grafana": "export",
        "DATASOURCE_UID": "provisioning",
        "PASSWORD_ENV": "provisioning",
    },
)
