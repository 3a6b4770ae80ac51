"""`user_demographics`: the reference table user_events joins on `user_id`.

Rows are a pure function of (count, seed, version), never of the wall clock, so a refresh
is testable: version `v` is version `v - 1` with a few rows changed (users logged in again,
moved within their country, changed income bracket). Conventions of
spec/builtin/user_events.yaml: `id` is `user_1`..`user_<count>`, `country` an ISO 3166
alpha-2 code and, for US rows, `state` a US state code (the `region` derivation uses them).
"""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

from streamdash.sources.generators.isotime import EPOCH, iso_millis
from streamdash.sources.generators.options import GeneratorError
from streamdash.sources.generators.seeding import python_rng

TABLE = "user_demographics"

REFERENCE_DAY = 19_723
"""2024-01-01 as days since the epoch: the fixed 'today' of version 0, for determinism."""
DAY_US = 86_400_000_000
MIN_AGE, MAX_AGE = 18, 80
GENDERS = ("male", "female", "other")
GENDER_WEIGHTS = (0.48, 0.48, 0.04)
STATES = {
    "US": ("CA", "NY", "TX", "FL", "WA", "IL", "MA", "CO", "GA", "OH"),
    "GB": ("England", "Scotland", "Wales", "Northern Ireland"),
    "DE": ("Bayern", "Berlin", "Hamburg", "Hessen"),
    "FR": ("Île-de-France", "Occitanie", "Bretagne", "Auvergne-Rhône-Alpes"),
    "IN": ("Maharashtra", "Karnataka", "Delhi", "Tamil Nadu"),
    "BR": ("São Paulo", "Rio de Janeiro", "Minas Gerais", "Bahia"),
}
COUNTRIES = tuple(STATES)
COUNTRY_WEIGHTS = (0.4, 0.15, 0.12, 0.1, 0.13, 0.1)
INCOME_BRACKETS = ("<25k", "25k-50k", "50k-75k", "75k-100k", "100k-150k", ">150k")
INCOME_WEIGHTS = (0.15, 0.25, 0.25, 0.15, 0.12, 0.08)
MAX_MEMBERSHIP_DAYS = 8 * 365


def user_id(number: int) -> str:
    """The id of user `number` (1-based), as user_events' `user_id` refers to it."""
    return f"user_{number}"


def changed_per_version(count: int) -> int:
    """How many rows a refresh changes: 5 %, at least one (when there are rows)."""
    return min(count, max(1, count // 20))


def demographics_rows(count: int, seed: int, version: int = 0) -> list[dict[str, Any]]:
    """Rows `user_1`..`user_<count>`; `version` > 0 applies that many refreshes in order."""
    for name, value in (("count", count), ("seed", seed), ("version", version)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise GeneratorError(f"{TABLE}: {name} must be an integer >= 0, got {value!r}")
    rng = python_rng(seed, TABLE, "rows")
    rows = [_row(number, rng) for number in range(1, count + 1)]
    for step in range(1, version + 1):
        _refresh(rows, step, python_rng(seed, TABLE, f"version-{step}"))
    return rows


def _day(days: int) -> str:
    return (EPOCH + timedelta(days=days)).date().isoformat()


def _row(number: int, rng: random.Random) -> dict[str, Any]:
    country = rng.choices(COUNTRIES, COUNTRY_WEIGHTS)[0]
    registered_day = REFERENCE_DAY - rng.randint(30, MAX_MEMBERSHIP_DAYS)
    login_day = rng.randint(registered_day, REFERENCE_DAY - 1)
    return {
        "id": user_id(number),
        "age": rng.randint(MIN_AGE, MAX_AGE),
        "gender": rng.choices(GENDERS, GENDER_WEIGHTS)[0],
        "state": rng.choice(STATES[country]),
        "country": country,
        "registration_date": _day(registered_day),
        "income_bracket": rng.choices(INCOME_BRACKETS, INCOME_WEIGHTS)[0],
        "last_login": iso_millis(login_day * DAY_US + rng.randrange(DAY_US)),
    }


def _refresh(rows: list[dict[str, Any]], step: int, rng: random.Random) -> None:
    """Refresh `step`: a few users log in on day `step` after the reference day; some of
    them also move within their country or change income bracket."""
    for index in sorted(rng.sample(range(len(rows)), changed_per_version(len(rows)))):
        row = rows[index]
        row["last_login"] = iso_millis((REFERENCE_DAY + step) * DAY_US + rng.randrange(DAY_US))
        if rng.random() < 0.3:
            bracket = INCOME_BRACKETS.index(row["income_bracket"]) + rng.choice((-1, 1))
            row["income_bracket"] = INCOME_BRACKETS[max(0, min(len(INCOME_BRACKETS) - 1, bracket))]
        if rng.random() < 0.2:
            row["state"] = rng.choice(STATES[row["country"]])
