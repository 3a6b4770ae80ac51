# One image for every streamdash process of the Kafka deployment (docker-compose.yml):
# `serve` (ingest + JSON API), `worker` (consumer-group engine), `dashboard`.
# Not built on the development machines (no Docker engine there): see docs/kafka.md.
FROM python:3.11-slim

WORKDIR /app
# the package, its built-in specs and dashboard assets; nothing is fetched at run time
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip install --no-cache-dir '.[kafka]'

# the processes keep nothing on local disk with Kafka as the log and an external database
RUN useradd --system --uid 10001 streamdash
USER streamdash
ENTRYPOINT ["streamdash"]
CMD ["--help"]
