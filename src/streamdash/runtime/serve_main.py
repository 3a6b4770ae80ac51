"""The API process: the ingest endpoints and the JSON result API on one uvicorn server."""

from __future__ import annotations

import uvicorn
from prometheus_client.registry import Collector

from streamdash.config import Settings
from streamdash.log.base import Log
from streamdash.log.sqlite import SqliteLog
from streamdash.spec.models import Pipeline


def serve_api(pipeline: Pipeline, settings: Settings, kafka_option: str | None = None) -> None:
    from streamdash.ingest.app import create_app
    from streamdash.runtime.status import PipelineCollector

    reader = None
    collectors: list[Collector] = []
    alert_reader = None
    if settings.database_url:
        from streamdash.alerts.metrics import AlertsCollector
        from streamdash.alerts.reader import AlertReader
        from streamdash.runtime.queries import StoreQueries

        reader = StoreQueries(pipeline, settings.database_url)
        alert_reader = AlertReader(settings.database_url)
        collectors.append(AlertsCollector.for_pipeline(pipeline, alert_reader))
    from streamdash.kafka.settings import kafka_log

    kafka = kafka_log(pipeline, kafka_option)
    log: Log
    pipeline_metrics: Collector
    if kafka is not None:
        from streamdash.kafka.serving import kafka_ingest_log

        log, pipeline_metrics = kafka_ingest_log(pipeline, kafka, settings.database_url)
    else:
        log = SqliteLog(settings.log_dir, synchronous=settings.log_sync)
        # /metrics also shows the pipeline (lag, watermarks, late, rejected, engine
        # batches), read from the log and the store: the same numbers in every API process
        pipeline_metrics = PipelineCollector(pipeline, settings.log_dir, settings.database_url)
    app = create_app(
        pipeline,
        log,
        token=settings.token,
        reader=reader,
        extra_collectors=[pipeline_metrics, *collectors],
    )
    if alert_reader is not None:
        from streamdash.alerts.api import alerts_router

        app.include_router(alerts_router(alert_reader))
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=5,
        ws="none",  # no websocket routes: skips importing a websocket stack at every start
    )
