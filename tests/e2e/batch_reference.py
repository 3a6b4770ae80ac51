"""The built-in views computed in one batch, in plain Python, over the events as stored in
the log - independent of the engine's code (no DuckDB, no sketches, no spec compiler): each
view's window, keys and metrics are written out by hand from the spec text and
docs/semantics.md.

The one rule shared with the engine is the documented per-event watermark: the watermark
in force for the event at offset n is `max(event time of offsets < n) - lateness`; an event
is late for a tumbling/hopping view if one of its windows ends at or before it (it still
goes to its open windows), for a session view if its time is below it. Running views are
never late. Wall-clock (idle) advances are not modelled: the e2e tests are built so that
none of them can change a result (see conftest.py).
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import msgspec

from streamdash.log.sqlite import SqliteLog

LATENESS_US = 10_000_000
SECOND = 1_000_000
MINUTE = 60 * SECOND
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
QUANTILE_ALPHA = 0.01
"""engine/sketches.py: a quantile is within 1 % (relative) of the lower quantile, i.e. of the
element at 0-based rank floor(q (n - 1))."""
DISTINCT_TOLERANCE = 0.05

Row = dict[str, Any]
Key = tuple[Any, ...]
Check = Literal["exact", "float", "quantile", "distinct", "time"]


@dataclass(frozen=True, slots=True)
class Event:
    offset: int
    ingest_us: int
    raw: bytes
    data: dict[str, Any]
    t_us: int
    partition: int = 0
    """The Kafka partition (0 on the embedded log): watermarks are per partition."""


def _iso_us(text: str) -> int:
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return (parsed - EPOCH) // timedelta(microseconds=1)


def _round_half_away(value: float) -> int:
    return math.floor(abs(value) + 0.5) * (1 if value >= 0 else -1)


EVENT_TIME: dict[str, Callable[[dict[str, Any]], int]] = {
    # each stream's `time:` in its built-in spec, converted as docs/semantics.md says
    "app_logs": lambda e: int(e["timestamp"]) * 1000,  # epoch ms
    "interactions": lambda e: _round_half_away(float(e["timestamp"]) * 1e6),  # epoch s
    "user_events": lambda e: _iso_us(e["timestamp"]),
    "users": lambda e: _iso_us(e["created_at"]),
    "sensor": lambda e: int(e["time"]) // 1000,  # epoch ns, floored to the microsecond
}


def read_stream(log: SqliteLog, stream: str) -> list[Event]:
    """Every event of `stream` in log order, decoded."""
    out: list[Event] = []
    offset = 0
    while chunks := log.read(stream, offset, 1_000_000):
        for chunk in chunks:
            lines = chunk.payload.splitlines()
            assert len(lines) == chunk.count, f"{stream} chunk at {chunk.start}"
            for i, line in enumerate(lines):
                data = msgspec.json.decode(line)
                out.append(
                    Event(chunk.start + i, chunk.ingest_us, line, data, EVENT_TIME[stream](data))
                )
        offset = chunks[-1].end
    return out


# -- metrics helpers --------------------------------------------------------------------


def _values(events: list[Event], field: str) -> list[Any]:
    return [e.data[field] for e in events if e.data.get(field) is not None]


def _avg(values: list[Any]) -> float | None:
    return math.fsum(values) / len(values) if values else None


def _sum(values: list[Any]) -> float | None:
    return math.fsum(values) if values else None


def _count_if(events: list[Event], pred: Callable[[dict[str, Any]], bool]) -> int:
    return sum(1 for e in events if pred(e.data))


def lower_quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[math.floor(q * (len(ordered) - 1))]


def _revenue(events: list[Event]) -> float | None:
    # sum(CASE WHEN purchase THEN total_amount ELSE 0 END): NULL amounts of purchases skip
    parts = [
        (e.data.get("total_amount") if e.data["event_type"] == "purchase" else 0.0) for e in events
    ]
    return _sum([p for p in parts if p is not None])


class Distinct(int):
    """An exact distinct count that remembers its values (to explain sketch collisions)."""

    values: frozenset[Any]

    def __new__(cls, values: Iterable[Any]) -> Distinct:
        found = frozenset(values)
        self = super().__new__(cls, len(found))
        self.values = found
        return self


def _distinct(events: list[Event], field: str) -> Distinct:
    return Distinct(e.data[field] for e in events if e.data.get(field) is not None)


HLL_P = 12
_registers: dict[tuple[type, Any], int] = {}


def linear_counting(values: frozenset[Any]) -> int:
    """What HyperLogLog with 2^12 registers on DuckDB's `hash()` (engine/sketches.py) says
    for a small set: m ln(m / empty registers). Below the exact count only when values
    share a register - the sketch's documented way of being "almost exact"."""
    import duckdb

    for value in values:
        if (type(value), value) not in _registers:
            sql_type = "BIGINT" if isinstance(value, int) else "VARCHAR"
            row = duckdb.execute(f"SELECT hash(?::{sql_type}) >> {64 - HLL_P}", [value])
            _registers[(type(value), value)] = int(row.fetchall()[0][0])
    used = len({_registers[(type(v), v)] for v in values})
    m = 1 << HLL_P
    return round(m * math.log(m / (m - used)))


# -- the views ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ViewDef:
    name: str
    stream: str
    window: Literal["tumbling", "hopping", "session", "none"]
    keys: tuple[str, ...]
    key_of: Callable[[Event], Key]
    metrics: Callable[[list[Event]], Row]
    checks: dict[str, Check]
    size_us: int = 0
    every_us: int = 0


def _application_metrics(ev: list[Event]) -> Row:
    n = len(ev)
    errors = _count_if(ev, lambda d: d["status_code"] >= 500)
    latency = _values(ev, "latency_ms")
    row: Row = {
        "request_count": n,
        "error_count": errors,
        "error_rate": errors / n,
        "avg_latency_ms": _avg(latency),
        "p95_latency_ms": lower_quantile(latency, 0.95),
        "p99_latency_ms": lower_quantile(latency, 0.99),
    }
    for method in ("GET", "POST", "PUT", "DELETE"):
        row[f"{method.lower()}_count"] = sum(1 for e in ev if e.data["method"] == method)
    return row


SENSOR_AVERAGES = {
    **{f"avg_{v}": v for v in ("x", "y", "z", "yaw", "pitch", "roll", "qw", "qx", "qy", "qz")},
    **{f"avg_{v}": v for v in ("latitude", "longitude", "altitude", "speed", "pressure")},
    "avg_dbfs": "dBFS",
}


def _sensor_metrics(ev: list[Event]) -> Row:
    row: Row = {"reading_count": len(ev)}
    for column, source in SENSOR_AVERAGES.items():
        row[column] = _avg(_values(ev, source))
    dbfs = _values(ev, "dBFS")
    row["max_dbfs"] = max(dbfs) if dbfs else None
    return row


def _event_type_metrics(ev: list[Event]) -> Row:
    amounts = _values(ev, "total_amount")
    return {
        "event_count": len(ev),
        "unique_users": _distinct(ev, "user_id"),
        "avg_amount": _avg(amounts),
        "total_amount": _sum(amounts),
    }


def _campaign_metrics(ev: list[Event]) -> Row:
    clicks = _count_if(ev, lambda d: d["event_type"] == "click")
    purchases = _count_if(ev, lambda d: d["event_type"] == "purchase")
    revenue = _revenue(ev)
    users = _distinct(ev, "user_id")
    return {
        "clicks": clicks,
        "purchases": purchases,
        "revenue": revenue,
        "unique_users": users,
        "conversion_rate": purchases / clicks if clicks else None,
        # from the estimated unique_users in the engine: checked against the row's own
        # revenue / unique_users (see compare_view), the value here is informative
        "revenue_per_user": None if revenue is None or not users else revenue / users,
    }


def _user_activity(ev: list[Event]) -> Row:
    return {
        "event_count": len(ev),
        "unique_users": _distinct(ev, "user_id"),
        "revenue": _revenue(ev),
    }


def _user_sessions(ev: list[Event]) -> Row:
    return {
        "event_count": len(ev),
        "purchases": _count_if(ev, lambda d: d["event_type"] == "purchase"),
        "revenue": _revenue(ev),
    }


def _interaction_counts(ev: list[Event]) -> Row:
    return {
        f"{kind}_count": sum(1 for e in ev if e.data["interaction_type"] == kind)
        for kind in ("click", "view", "purchase")
    }


def _user_aggregations(ev: list[Event]) -> Row:
    return {
        "total_interactions": len(ev),
        "unique_items": _distinct(ev, "item_id"),
        **_interaction_counts(ev),
        "last_interaction_time": max(e.t_us for e in ev),
    }


def _item_aggregations(ev: list[Event]) -> Row:
    return {
        "total_interactions": len(ev),
        "unique_users": _distinct(ev, "user_id"),
        **_interaction_counts(ev),
    }


def _created_users(ev: list[Event]) -> Row:
    last = max(ev, key=lambda e: (e.t_us, e.offset))  # last(x): largest (time, offset)
    d = last.data
    return {
        "first_name": d["name"]["first"],
        "last_name": d["name"]["last"],
        "gender": d["gender"],
        "street": d["location"]["street"],
        "city": d["location"]["city"],
        "state": d["location"]["state"],
        "country": d["location"]["country"],
        "postcode": d["location"]["postcode"],
        "email": d["email"],
        "username": d["login"]["username"],
        "dob": d["dob"]["date"],
        "age": d["dob"]["age"],
        "registered_date": d["registered"]["date"],
        "registered_age": d["registered"]["age"],
        "phone": d["phone"],
        "picture": d["picture"]["large"],
        "nationality": d["nat"],
        "ingested_at": last.ingest_us,
    }


def _user_stats(ev: list[Event]) -> Row:
    return {
        "total_users": _distinct(ev, "id"),
        "avg_age": _avg([e.data["dob"]["age"] for e in ev]),
    }


CREATED_USER_COLUMNS = (
    *("first_name", "last_name", "gender", "street", "city", "state", "country", "postcode"),
    *("email", "username", "dob", "age", "registered_date", "registered_age", "phone"),
    *("picture", "nationality"),
)


def _exact(*names: str) -> dict[str, Check]:
    return {name: "exact" for name in names}


def _float(*names: str) -> dict[str, Check]:
    return {name: "float" for name in names}


def builtin_views(demographics: dict[str, dict[str, Any]]) -> list[ViewDef]:
    """The twelve built-in views; `demographics`: user_demographics rows by id."""

    def country(e: Event) -> Any:
        row = demographics.get(e.data["user_id"])  # left join: unknown users keep NULL
        return None if row is None else row["country"]

    interaction_counts = _exact("click_count", "view_count", "purchase_count")
    return [
        ViewDef(
            "application_metrics",
            "app_logs",
            "tumbling",
            ("application_id",),
            lambda e: (e.data["application_id"],),
            _application_metrics,
            {
                **_exact("request_count", "error_count"),
                **_exact("get_count", "post_count", "put_count", "delete_count"),
                **_float("error_rate", "avg_latency_ms"),
                "p95_latency_ms": "quantile",
                "p99_latency_ms": "quantile",
            },
            size_us=10 * SECOND,
        ),
        ViewDef(
            "sensor_metrics",
            "sensor",
            "tumbling",
            ("device_id", "sensor"),
            lambda e: (e.data["device_id"], e.data["sensor"]),
            _sensor_metrics,
            {"reading_count": "exact", **_float(*SENSOR_AVERAGES, "max_dbfs")},
            size_us=10 * SECOND,
        ),
        ViewDef(
            "event_type_metrics",
            "user_events",
            "tumbling",
            ("event_type",),
            lambda e: (e.data["event_type"],),
            _event_type_metrics,
            {
                "event_count": "exact",
                "unique_users": "distinct",
                **_float("avg_amount", "total_amount"),
            },
            size_us=MINUTE,
        ),
        ViewDef(
            "campaign_metrics",
            "user_events",
            "tumbling",
            ("campaign_id", "country"),
            lambda e: (e.data["campaign_id"], country(e)),
            _campaign_metrics,
            {
                **_exact("clicks", "purchases"),
                **_float("revenue", "conversion_rate"),
                "unique_users": "distinct",
            },
            size_us=5 * MINUTE,
        ),
        ViewDef(
            "user_activity",
            "user_events",
            "hopping",
            ("event_type",),
            lambda e: (e.data["event_type"],),
            _user_activity,
            {"event_count": "exact", "unique_users": "distinct", "revenue": "float"},
            size_us=MINUTE,
            every_us=10 * SECOND,
        ),
        ViewDef(
            "user_sessions",
            "user_events",
            "session",
            ("user_id",),
            lambda e: (e.data["user_id"],),
            _user_sessions,
            {**_exact("event_count", "purchases"), "revenue": "float"},
            size_us=30 * SECOND,
        ),
        ViewDef(
            "user_aggregations",
            "interactions",
            "none",
            ("user_id",),
            lambda e: (e.data["user_id"],),
            _user_aggregations,
            {
                "total_interactions": "exact",
                "unique_items": "distinct",
                **interaction_counts,
                "last_interaction_time": "time",
            },
        ),
        ViewDef(
            "item_aggregations",
            "interactions",
            "none",
            ("item_id",),
            lambda e: (e.data["item_id"],),
            _item_aggregations,
            {"total_interactions": "exact", "unique_users": "distinct", **interaction_counts},
        ),
        ViewDef(
            "interactions_per_minute",
            "interactions",
            "tumbling",
            ("interaction_type",),
            lambda e: (e.data["interaction_type"],),
            lambda ev: {"interaction_count": len(ev)},
            {"interaction_count": "exact"},
            size_us=MINUTE,
        ),
        ViewDef(
            "created_users",
            "users",
            "none",
            ("id",),
            lambda e: (e.data["id"],),
            _created_users,
            {**_exact(*CREATED_USER_COLUMNS), "ingested_at": "time"},
        ),
        ViewDef(
            "user_stats",
            "users",
            "none",
            (),
            lambda e: (),
            _user_stats,
            {"total_users": "distinct", "avg_age": "float"},
        ),
        ViewDef(
            "users_by_gender_nationality",
            "users",
            "none",
            ("gender", "nationality"),
            lambda e: (e.data["gender"], e.data["nat"]),
            lambda ev: {"user_count": _distinct(ev, "id")},
            {"user_count": "distinct"},
        ),
    ]


# -- the batch computation --------------------------------------------------------------


@dataclass
class ViewResult:
    view: ViewDef
    rows: dict[Key, Row]
    """Windowed: key = (window_start_us, *keys), row has `window_end`; running: key = keys."""
    late: list[Event] = field(default_factory=list)
    final_watermark: int | None = None
    """The stream's watermark after its last event: windows ending at or before it are final."""


def watermarks(events: list[Event]) -> list[int | None]:
    """The watermark in force before each event: log order, per partition (on Kafka each
    partition's engine has its own clock; the embedded log is one partition)."""
    out: list[int | None] = []
    tops: dict[int, int] = {}
    for e in events:
        top = tops.get(e.partition)
        out.append(None if top is None else top - LATENESS_US)
        tops[e.partition] = e.t_us if top is None else max(top, e.t_us)
    return out


def final_watermark(events: list[Event]) -> int | None:
    """The stream's watermark after its last event: the smallest of its partitions'."""
    tops: dict[int, int] = {}
    for e in events:
        tops[e.partition] = max(tops.get(e.partition, e.t_us), e.t_us)
    return min(tops.values()) - LATENESS_US if tops else None


def _window_starts(view: ViewDef, t: int) -> list[int]:
    if view.window == "tumbling":
        return [t - t % view.size_us]
    last = t - t % view.every_us
    return [last - k * view.every_us for k in range(view.size_us // view.every_us)]


def compute_view(view: ViewDef, events: list[Event]) -> ViewResult:
    wms = watermarks(events)
    final = final_watermark(events)
    groups: dict[Key, list[Event]] = defaultdict(list)
    late: list[Event] = []
    if view.window == "none":
        for e in events:
            groups[view.key_of(e)].append(e)
    elif view.window == "session":
        per_key: dict[Key, list[Event]] = defaultdict(list)
        for e, wm in zip(events, wms, strict=True):
            if wm is not None and e.t_us < wm:
                late.append(e)
            else:
                per_key[view.key_of(e)].append(e)
        for key, evs in per_key.items():
            evs.sort(key=lambda e: (e.t_us, e.offset))
            start, end = evs[0].t_us, evs[0].t_us + view.size_us
            for e in evs:
                if e.t_us >= end:  # [t, t + gap) intervals that do not touch: a new session
                    start = e.t_us
                end = max(end, e.t_us + view.size_us)
                groups[(start, *key)].append(e)
    else:
        for e, wm in zip(events, wms, strict=True):
            starts = _window_starts(view, e.t_us)
            live = [s for s in starts if wm is None or s + view.size_us > wm]
            if len(live) < len(starts):
                late.append(e)
            for s in live:
                groups[(s, *view.key_of(e))].append(e)
    rows: dict[Key, Row] = {}
    for key, evs in groups.items():
        row = view.metrics(evs)
        if view.window == "session":
            row["window_end"] = max(e.t_us for e in evs) + view.size_us
        elif view.window != "none":
            row["window_end"] = key[0] + view.size_us
        rows[key] = row
    return ViewResult(view, rows, late, final)


def compute_all(log: SqliteLog, demographics: dict[str, dict[str, Any]]) -> dict[str, ViewResult]:
    cache: dict[str, list[Event]] = {}
    out: dict[str, ViewResult] = {}
    for view in builtin_views(demographics):
        if view.stream not in cache:
            cache[view.stream] = read_stream(log, view.stream)
        out[view.name] = compute_view(view, cache[view.stream])
    return out


# -- comparing with the result tables ---------------------------------------------------


def to_us(value: datetime) -> int:
    return (value - EPOCH) // timedelta(microseconds=1)


def _close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)


def _check(kind: Check, actual: Any, expected: Any) -> bool:
    if expected is None or actual is None:
        return actual is None and expected is None
    if kind == "exact":
        return bool(actual == expected)
    if kind == "float":
        return _close(float(actual), float(expected))
    if kind == "time":
        return bool(to_us(actual) == expected)
    if kind == "quantile":
        # + 1e-9: the bound is tight (a bucket's representative is within exactly alpha)
        return bool(abs(actual - expected) <= (QUANTILE_ALPHA + 1e-9) * abs(expected))
    if abs(actual - expected) <= DISTINCT_TOLERANCE * expected:
        return True
    # only a small set can be this far off: then the sketch must say what its registers say
    return isinstance(expected, Distinct) and bool(actual == linear_counting(expected.values))


def compare_view(result: ViewResult, table_rows: Iterable[Row]) -> list[str]:
    """Every difference between the view's result table and the batch computation."""
    view = result.view
    problems: list[str] = []
    actual: dict[Key, Row] = {}
    for r in table_rows:
        keys = tuple(r[k] for k in view.keys)
        key = keys if view.window == "none" else (to_us(r["window_start"]), *keys)
        if key in actual:
            problems.append(f"{view.name}: duplicate row {key}")
        actual[key] = r
    for key in sorted(actual.keys() - result.rows.keys(), key=repr)[:20]:
        problems.append(f"{view.name}: unexpected row {key}: {actual[key]}")
    for key in sorted(result.rows.keys() - actual.keys(), key=repr)[:20]:
        problems.append(f"{view.name}: missing row {key}: {result.rows[key]}")
    for key in sorted(result.rows.keys() & actual.keys(), key=repr):
        want, got = result.rows[key], actual[key]
        for column, kind in view.checks.items():
            if not _check(kind, got[column], want[column]):
                problems.append(
                    f"{view.name} {key}: {column} = {got[column]!r}, expected {want[column]!r}"
                    f" ({kind})"
                )
        if view.name == "campaign_metrics":
            # revenue / NULLIF(unique_users, 0) over the row's own (estimated) values
            revenue, users = got["revenue"], got["unique_users"]
            derived = None if revenue is None or not users else revenue / users
            if not _check("float", got["revenue_per_user"], derived):
                problems.append(f"{view.name} {key}: revenue_per_user {got['revenue_per_user']}")
        if view.window == "none":
            if got["final"] is not False:
                problems.append(f"{view.name} {key}: a running row is never final")
            continue
        if to_us(got["window_end"]) != want["window_end"]:
            problems.append(f"{view.name} {key}: window_end {got['window_end']}")
        must_be_final = (
            result.final_watermark is not None and want["window_end"] <= result.final_watermark
        )
        # windows past the final watermark may still be closed by the idle advance
        if must_be_final and got["final"] is not True:
            problems.append(f"{view.name} {key}: not final, its window ended long ago")
    return problems


def expected_dead_letters(
    results: dict[str, ViewResult], rejected: Iterable[tuple[str, str, bytes]]
) -> Counter[tuple[str, str | None, str, bytes, int | None]]:
    """(stream, view, reason, raw, log offset) of every dead letter there should be: each
    event the API rejected (no view, no stream offset) and each late event per view."""
    out: Counter[tuple[str, str | None, str, bytes, int | None]] = Counter()
    for stream, reason, raw in rejected:
        out[(stream, None, reason, raw, None)] += 1
    for name, result in results.items():
        for e in result.late:
            out[(result.view.stream, name, "late", e.raw, e.offset)] += 1
    return out


# -- everything at once -----------------------------------------------------------------


def demographics_by_id() -> dict[str, dict[str, Any]]:
    """The user_demographics rows the engine joins (the built-in spec's generated table)."""
    from streamdash.runtime.tables import load_table
    from streamdash.spec.loader import load_builtin

    spec = load_builtin().tables["user_demographics"]
    return {row["id"]: row for row in load_table("user_demographics", spec).to_pylist()}


@dataclass
class Verdict:
    results: dict[str, ViewResult]
    problems: list[str]
    dead_letters: Counter[tuple[str, str | None, str, bytes, int | None]]
    counters: dict[tuple[str, str], int]


def verify(
    database_url: str,
    log: SqliteLog,
    rejected: Iterable[tuple[str, str, bytes]],
    views: Iterable[str] | None = None,
) -> Verdict:
    """Compare the result tables (of `views`, default all) and the dead letters with the
    batch computation over `log`; `rejected` are the events the API answered as rejected."""
    import psycopg
    from psycopg.rows import dict_row

    results = compute_all(log, demographics_by_id())
    wanted = set(results) if views is None else set(views)
    problems: list[str] = []
    with psycopg.connect(database_url, row_factory=dict_row) as conn:
        for name in sorted(wanted):
            rows = conn.execute(f"SELECT * FROM {name}").fetchall()  # names are identifiers
            problems += compare_view(results[name], rows)
        letters = conn.execute(
            "SELECT stream, view, reason, raw, log_offset FROM dead_letters"
        ).fetchall()
        counter_rows = conn.execute("SELECT scope, name, value FROM streamdash_counters")
        counters = {(r["scope"], r["name"]): int(r["value"]) for r in counter_rows.fetchall()}
    actual: Counter[tuple[str, str | None, str, bytes, int | None]] = Counter(
        (
            r["stream"],
            r["view"],
            r["reason"],
            bytes(r["raw"]),
            r["log_offset"] if r["reason"] == "late" else None,
        )
        for r in letters
        if r["view"] is None or r["view"] in wanted
    )
    expected = expected_dead_letters({n: results[n] for n in wanted}, rejected)
    for item, n in sorted((expected - actual).items(), key=repr)[:20]:
        problems.append(f"dead letter missing ({n}x): {item[:3]} {item[3][:120]!r} @{item[4]}")
    for item, n in sorted((actual - expected).items(), key=repr)[:20]:
        problems.append(f"dead letter unexpected ({n}x): {item[:3]} {item[3][:120]!r} @{item[4]}")
    for name in wanted:
        late = len(results[name].late)
        if counters.get((name, "late"), 0) != late:
            problems.append(f"counter {name}/late = {counters.get((name, 'late'))}, want {late}")
    return Verdict(results, problems, expected, counters)
