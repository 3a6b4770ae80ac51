"""`app-health`: per application over a period, from `application_metrics` (10 s windows
of the `app_logs` stream): requests, errors, error rate, latency, and the worst windows.

Counts and the error rate are exact: they are sums of exact per-window counts. A p95 of a
whole period cannot be computed from per-window p95s (quantiles do not add up), so the
report gives two honest stand-ins, both from the stored window p95s:

- `p95_latency_ms`: the request-weighted mean of the window p95s — an *estimate* of the
  period's p95, close to it when latency is steady, too low when a few windows are very
  slow (their long tail is averaged away);
- `max_window_p95_ms`: the largest window p95 — an *upper bound* of the period's p95:
  if at most 5 % of each window's requests are slower than its p95, at most 5 % of all
  requests are slower than the largest one. (Each window p95 is itself a sketch value,
  within 1 % of the exact one, see docs/semantics.md.)

The exact period p95 needs the raw events, which the result tables do not keep.
"""

from __future__ import annotations

from streamdash.reports.definitions import (
    Chart,
    Format,
    ReportDefinition,
    Section,
    TableRequest,
)

METRICS = TableRequest(
    table="application_metrics",
    columns=(
        "window_start",
        "window_end",
        "application_id",
        "request_count",
        "error_count",
        "avg_latency_ms",
        "p95_latency_ms",
        "final",
    ),
    view="application_metrics",
    stream="app_logs",
)

# sums of per-window values weighted by the window's requests; the denominator counts only
# windows that have the value, so a NULL does not pull the mean down
_REQUESTS = "CAST(sum(request_count) AS BIGINT)"
_ERROR_RATE = "CAST(sum(error_count) AS DOUBLE) / NULLIF(CAST(sum(request_count) AS DOUBLE), 0)"
_AVG_LATENCY = (
    "sum(avg_latency_ms * request_count) / NULLIF(CAST(sum(CASE WHEN avg_latency_ms IS NOT NULL "
    "THEN request_count END) AS DOUBLE), 0)"
)
_P95_ESTIMATE = (
    "sum(p95_latency_ms * request_count) / NULLIF(CAST(sum(CASE WHEN p95_latency_ms IS NOT NULL "
    "THEN request_count END) AS DOUBLE), 0)"
)
_SUMMARY_COLUMNS = f"""
    {_REQUESTS} AS requests,
    CAST(sum(error_count) AS BIGINT) AS errors,
    {_ERROR_RATE} AS error_rate,
    {_AVG_LATENCY} AS avg_latency_ms,
    {_P95_ESTIMATE} AS p95_latency_ms,
    max(p95_latency_ms) AS max_window_p95_ms,
    CAST(count(*) AS BIGINT) AS windows"""
_SUMMARY_FORMATS: dict[str, Format] = {
    "application_id": "text",
    "requests": "int",
    "errors": "int",
    "error_rate": "percent",
    "avg_latency_ms": "ms",
    "p95_latency_ms": "ms",
    "max_window_p95_ms": "ms",
    "windows": "int",
}
_WINDOW_FORMATS: dict[str, Format] = {
    "window_start": "time",
    "window_end": "time",
    "application_id": "text",
    "request_count": "int",
    "error_count": "int",
    "error_rate": "percent",
    "p95_latency_ms": "ms",
}
_WINDOW_COLUMNS = """window_start, window_end, application_id, request_count, error_count,
    CAST(error_count AS DOUBLE) / NULLIF(CAST(request_count AS DOUBLE), 0) AS error_rate,
    p95_latency_ms"""

APP_HEALTH = ReportDefinition(
    name="app-health",
    description="Per application: requests, errors, error rate, latency and the worst "
    "10 s windows (from application_metrics).",
    title="Application health",
    tables={"m": METRICS},
    coverage_table="m",
    sections=(
        Section(
            name="applications",
            title="Applications",
            sql=f"SELECT application_id, {_SUMMARY_COLUMNS}\nFROM m GROUP BY application_id "
            "ORDER BY application_id NULLS LAST",
            formats=_SUMMARY_FORMATS,
            description="p95_latency_ms: request-weighted mean of the window p95s (an "
            "estimate); max_window_p95_ms: the largest window p95 (an upper bound of the "
            "period's p95).",
        ),
        Section(
            name="overall",
            title="All applications",
            sql=f"SELECT {_SUMMARY_COLUMNS}\nFROM m",
            formats=_SUMMARY_FORMATS,
        ),
        Section(
            name="worst-error-windows",
            title="Worst windows by error rate",
            sql=f"SELECT {_WINDOW_COLUMNS}\nFROM m WHERE request_count > 0 "
            "ORDER BY error_rate DESC NULLS LAST, error_count DESC, window_start, "
            "application_id LIMIT {limit}",
            formats=_WINDOW_FORMATS,
            description="Ties: more errors first, then the earlier window. A window with few "
            "requests can rank high; its request count says how much it weighs.",
        ),
        Section(
            name="worst-latency-windows",
            title="Worst windows by p95 latency",
            sql=f"SELECT {_WINDOW_COLUMNS}\nFROM m WHERE p95_latency_ms IS NOT NULL "
            "ORDER BY p95_latency_ms DESC, window_start, application_id LIMIT {limit}",
            formats=_WINDOW_FORMATS,
        ),
        Section(
            name="trend",
            title="Over time",
            sql="SELECT {bucket} AS bucket_start, application_id, "
            f"{_REQUESTS} AS requests, {_ERROR_RATE} AS error_rate, "
            f"{_P95_ESTIMATE} AS p95_latency_ms\nFROM m "
            "GROUP BY {bucket}, application_id ORDER BY bucket_start, application_id NULLS LAST",
            formats={
                "bucket_start": "time",
                "application_id": "text",
                "requests": "int",
                "error_rate": "percent",
                "p95_latency_ms": "ms",
            },
            description="Windows grouped into buckets so each line keeps to a few thousand "
            "points: as stored up to 3 h, per minute up to 3 days, per hour up to 90 days, per day "
            "beyond.",
            chart_only=True,
        ),
    ),
    charts=(
        Chart("applications", "bar", "application_id", "error_rate", "Error rate per application"),
        Chart(
            "applications",
            "bar",
            "application_id",
            "p95_latency_ms",
            "p95 latency per application (estimate, ms)",
        ),
        Chart(
            "trend",
            "line",
            "bucket_start",
            "error_rate",
            "Error rate over time",
            color="application_id",
        ),
        Chart(
            "trend",
            "line",
            "bucket_start",
            "p95_latency_ms",
            "p95 latency over time (ms)",
            color="application_id",
        ),
        Chart(
            "trend",
            "line",
            "bucket_start",
            "requests",
            "Requests over time",
            color="application_id",
        ),
    ),
    notes=(
        "requests, errors and error rate are exact (sums of exact window counts; an error is a "
        "status code >= 500).",
        "avg_latency_ms is exact: window means weighted by their requests.",
        "p95_latency_ms is an estimate: the request-weighted mean of the 10 s window p95s. "
        "A p95 over a period cannot be derived exactly from per-window p95s; the estimate is "
        "too low when a few windows are far slower than the rest.",
        "max_window_p95_ms is an upper bound of the period's p95 (at most 5 % of the requests "
        "of every window, hence of the period, are slower). Window p95s are sketch values "
        "within 1 % of the exact ones.",
    ),
)
