"""Alert rules evaluated against the result tables: an `alerts` table in PostgreSQL with
open/resolved alerts, webhooks with retries, the `/v1/alerts` API and a Prometheus gauge.

The evaluator reads the store only (one query per rule per tick), never the engine's
memory, so it runs as its own loop: `streamdash alerts`, or a thread of another process.
"""

from streamdash.alerts.evaluator import AlertEvaluator
from streamdash.alerts.main import run_alerts, start_alert_thread

__all__ = ["AlertEvaluator", "run_alerts", "start_alert_thread"]
