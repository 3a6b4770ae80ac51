"""Alert rules evaluated against the result tables: an `alerts` table in PostgreSQL with
open/resolved alerts, webhooks with retries, the `/v1/alerts` API and a Prometheus gauge.

The evaluator reads the store only (one query per rule per tick), never the engine's
memory, so it runs as its own loop: `streamdash alerts`, or a thread of another process.
The names load on first use (`streamdash.lazy_exports`): the API imports only the reader.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from streamdash.lazy_exports import lazy_exports

if TYPE_CHECKING:
    from streamdash.alerts.evaluator import AlertEvaluator
    from streamdash.alerts.main import run_alerts, start_alert_thread

__all__ = ["AlertEvaluator", "run_alerts", "start_alert_thread"]
__getattr__ = lazy_exports(
    __name__,
    {"AlertEvaluator": "evaluator", "run_alerts": "main", "start_alert_thread": "main"},
)
