"""`campaigns`: the e-commerce campaign report, from `campaign_metrics` (5-minute windows of
the `user_events` clickstream per campaign and country): clicks, purchases, revenue and
conversion rate per campaign, per country and per campaign x country.

Everything here is exact: sums of exact per-window counts and sums. Conversion rate is the
view's own definition, purchases / clicks, over the whole period. What the report leaves
out on purpose: distinct users (a distinct count over a period cannot be derived from
per-window distinct counts — the same user in two windows would count twice), hence also
revenue per user.
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
    table="campaign_metrics",
    columns=(
        "window_start",
        "window_end",
        "campaign_id",
        "country",
        "clicks",
        "purchases",
        "revenue",
        "final",
    ),
    view="campaign_metrics",
    stream="user_events",
)

_TOTALS = """CAST(sum(clicks) AS BIGINT) AS clicks,
    CAST(sum(purchases) AS BIGINT) AS purchases,
    CAST(sum(revenue) AS DOUBLE) AS revenue,
    CAST(sum(purchases) AS DOUBLE) / NULLIF(CAST(sum(clicks) AS DOUBLE), 0) AS conversion_rate,
    CAST(sum(revenue) AS DOUBLE) / NULLIF(CAST(sum(purchases) AS DOUBLE), 0)
        AS revenue_per_purchase"""
_FORMATS: dict[str, Format] = {
    "campaign_id": "text",
    "country": "text",
    "clicks": "int",
    "purchases": "int",
    "revenue": "money",
    "conversion_rate": "percent",
    "revenue_per_purchase": "money",
    "bucket_start": "time",
}


def _grouped(keys: str) -> str:
    # ordered outside: inside, `revenue` could name the input column or the output alias
    return (
        f"SELECT * FROM (SELECT {keys}, {_TOTALS}\nFROM c GROUP BY {keys}) totals "
        f"ORDER BY revenue DESC NULLS LAST, {keys.replace(',', ' NULLS LAST,')} NULLS LAST"
    )


CAMPAIGNS = ReportDefinition(
    name="campaigns",
    description="E-commerce campaigns: revenue, clicks, purchases and conversion rate per "
    "campaign and per country (from campaign_metrics).",
    title="Campaigns",
    tables={"c": METRICS},
    coverage_table="c",
    sections=(
        Section(
            name="campaigns",
            title="Per campaign",
            sql=_grouped("campaign_id"),
            formats=_FORMATS,
            description="conversion_rate = purchases / clicks; revenue_per_purchase = revenue / "
            "purchases (average order value).",
        ),
        Section(
            name="countries",
            title="Per country",
            sql=_grouped("country"),
            formats=_FORMATS,
            description="country comes from the user_demographics join; empty (—) for users "
            "the table does not know.",
        ),
        Section(
            name="campaign-country",
            title="Per campaign and country",
            sql=_grouped("campaign_id, country"),
            formats=_FORMATS,
        ),
        Section(
            name="trend",
            title="Over time",
            sql="SELECT {bucket} AS bucket_start, campaign_id, "
            f"{_TOTALS}\nFROM c GROUP BY {{bucket}}, campaign_id "
            "ORDER BY bucket_start, campaign_id NULLS LAST",
            formats=_FORMATS,
            description="Windows grouped into buckets: as stored up to 3 h, per minute up to "
            "3 days, per hour up to 90 days, per day beyond.",
            chart_only=True,
        ),
    ),
    charts=(
        Chart("campaigns", "bar", "campaign_id", "revenue", "Revenue per campaign"),
        Chart("campaigns", "bar", "campaign_id", "conversion_rate", "Conversion rate per campaign"),
        Chart("countries", "bar", "country", "revenue", "Revenue per country"),
        Chart("trend", "line", "bucket_start", "revenue", "Revenue over time", color="campaign_id"),
        Chart(
            "trend",
            "line",
            "bucket_start",
            "conversion_rate",
            "Conversion rate over time",
            color="campaign_id",
        ),
    ),
    notes=(
        "All numbers are exact sums of the 5-minute windows of campaign_metrics that start "
        "in the period; revenue is the sum of purchases' total_amount.",
        "Distinct users are not reported: per-window distinct counts cannot be added up "
        "over a period without counting a returning user twice.",
    ),
)
