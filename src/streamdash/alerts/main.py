"""Entry points: `streamdash alerts` (its own process) and a thread for run/demo."""

from __future__ import annotations

import logging
import signal
import threading
from types import FrameType

from streamdash.alerts.evaluator import AlertEvaluator
from streamdash.config import Settings, mask_url
from streamdash.spec.models import Pipeline

log = logging.getLogger(__name__)


def _serve(evaluator: AlertEvaluator, stop: threading.Event) -> None:
    try:
        evaluator.run(stop)
    finally:
        evaluator.close()


def start_alert_thread(
    pipeline: Pipeline, database_url: str, stop: threading.Event
) -> threading.Thread:
    """Evaluate `pipeline`'s alert rules on a daemon thread until `stop` is set."""
    evaluator = AlertEvaluator(pipeline, database_url)
    thread = threading.Thread(target=_serve, args=(evaluator, stop), name="alerts", daemon=True)
    thread.start()
    return thread


def run_alerts(pipeline: Pipeline, settings: Settings, stop: threading.Event | None = None) -> None:
    """The `streamdash alerts [SPEC]` command: evaluate until SIGTERM / Ctrl-C."""
    if not settings.database_url:
        raise ValueError("the alert evaluator needs STREAMDASH_DATABASE_URL (set by run/demo)")
    stop = stop or threading.Event()

    def _on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _on_signal)
        signal.signal(signal.SIGINT, _on_signal)
    evaluator = AlertEvaluator(pipeline, settings.database_url)
    log.info(
        "evaluating %d alert rule(s) against %s", len(evaluator.rules),
        mask_url(settings.database_url),
    )  # fmt: skip
    _serve(evaluator, stop)
