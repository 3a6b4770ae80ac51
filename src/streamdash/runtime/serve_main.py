"""The API process: the ingest endpoints and the JSON result API on one uvicorn server."""

from __future__ import annotations

import uvicorn

from streamdash.config import Settings
from streamdash.log.sqlite import SqliteLog
from streamdash.spec.models import Pipeline


def serve_api(pipeline: Pipeline, settings: Settings) -> None:
    from streamdash.ingest.app import create_app
    from streamdash.runtime.status import PipelineCollector

    reader = None
    if settings.database_url:
        from streamdash.runtime.queries import StoreQueries

        reader = StoreQueries(pipeline, settings.database_url)
    log = SqliteLog(settings.log_dir, synchronous=settings.log_sync)
    # /metrics also shows the pipeline (lag, watermarks, late, rejected, engine batches),
    # read from the log and the store: the same numbers in every API process of a data dir
    pipeline_metrics = PipelineCollector(pipeline, settings.log_dir, settings.database_url)
    app = create_app(
        pipeline,
        log,
        token=settings.token,
        reader=reader,
        extra_collectors=[pipeline_metrics],
    )
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=5,
    )
