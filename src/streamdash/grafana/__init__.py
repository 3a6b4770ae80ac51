"""Grafana export: provisioning files and one dashboard per stream, generated from the
spec's `dashboards:` section, for users who already run Grafana (docs/grafana.md)."""

from streamdash.grafana.export import ExpandedQuery, expanded_queries, export_grafana
from streamdash.grafana.provisioning import DATASOURCE_UID, PASSWORD_ENV

__all__ = [
    "DATASOURCE_UID",
    "PASSWORD_ENV",
    "ExpandedQuery",
    "expanded_queries",
    "export_grafana",
]
