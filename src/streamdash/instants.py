"""Points in time typed by people: `now`, `now-2h` (Grafana's relative form), `2h` (that
long ago), or ISO-8601 (`2026-12-01 17:00`, `2026-12-01T17:00:00Z`; no offset means UTC).

Used wherever a user bounds a period: the dashboard's custom time range, report periods.
"""

from __future__ import annotations

import contextlib
import re
from datetime import UTC, datetime, timedelta

from streamdash.spec.durations import parse_duration_us

_RELATIVE = re.compile(r"^now\s*(?:-\s*(?P<ago>.+))?$")

FORMS = (
    "an ISO-8601 time (e.g. 2026-12-01 17:00, UTC) nor relative to now "
    "(now, now-2h, or a duration back from now: 1h, 24h, 7d)"
)


def parse_instant(text: str, now: datetime) -> datetime:
    """The instant `text` names, relative to `now` (timezone-aware, UTC when naive).
    Raises ValueError naming the accepted forms."""
    value = text.strip()
    if not value:
        raise ValueError(f"{text!r} is neither {FORMS}")
    match = _RELATIVE.match(value.lower())
    try:
        if match:
            ago = match.group("ago")
            return now - timedelta(microseconds=parse_duration_us(ago) if ago else 0)
        if value[0].isdigit():
            with contextlib.suppress(ValueError):  # `2026-12-01` starts with a digit too
                return now - timedelta(microseconds=parse_duration_us(value))
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{text!r} is neither {FORMS}") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def parse_period(
    since: str | None, until: str | None, now: datetime
) -> tuple[datetime | None, datetime | None]:
    """Both bounds (None where not given); raises ValueError if `since` is not before
    `until` or either does not parse."""
    start = parse_instant(since, now) if since else None
    end = parse_instant(until, now) if until else None
    if start is not None and end is not None and start >= end:
        raise ValueError(
            f"the period is empty: from {start:%Y-%m-%d %H:%M:%S} is not before "
            f"to {end:%Y-%m-%d %H:%M:%S} (UTC)"
        )
    return start, end
