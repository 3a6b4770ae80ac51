"""The live web dashboard: an overview of every stream and one page per stream, built
from the spec's `dashboards:` section and refreshed twice a second from the result store."""

from __future__ import annotations

from streamdash.dashboard.app import create_app, serve_dashboard

__all__ = ["create_app", "serve_dashboard"]
