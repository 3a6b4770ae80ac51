"""`users`: sign-ups shaped like randomuser.me profiles, generated offline.

The shape is the one spec/builtin/users.yaml fixes: randomuser's, with `location.street`
as one string, `postcode` always a string, and `created_at` (ISO-8601) as the event time,
because `registered.date` lies years back. `dob` and `registered` carry an ISO date and the
whole years from it to `created_at`, as randomuser reports them.
"""

from __future__ import annotations

import random
import unicodedata
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import msgspec

from streamdash.sources.generators.faults import FaultTargets, malform
from streamdash.sources.generators.isotime import iso_millis, whole_years_between
from streamdash.sources.generators.options import GeneratorOptions
from streamdash.sources.generators.plan import item_batches
from streamdash.sources.generators.seeding import python_rng

STREAM = "users"

GENDERS = ("male", "female")
YEAR_US = 31_556_952_000_000
"""One mean Gregorian year in microseconds."""
MIN_AGE, MAX_AGE = 18, 75
MAX_MEMBERSHIP_YEARS = 20
PICTURE_URL = "https://randomuser.me/api/portraits"


@dataclass(frozen=True, slots=True)
class Nationality:
    """What randomuser varies per nationality: names, places, phone and postcode format."""

    code: str
    country: str
    male: tuple[str, ...]
    female: tuple[str, ...]
    last: tuple[str, ...]
    places: tuple[tuple[str, str], ...]
    """(city, state) pairs."""
    streets: tuple[str, ...]
    phone: str
    """`#` is replaced by a digit."""
    postcode: str
    titles: tuple[str, str]
    """Title for (male, female)."""


NATIONALITIES = (
    Nationality(
        "US", "United States",
        ("James", "Michael", "Robert", "David", "William", "Daniel"),
        ("Mary", "Jennifer", "Linda", "Emily", "Sarah", "Jessica"),
        ("Smith", "Johnson", "Williams", "Brown", "Miller", "Davis"),
        (("Austin", "Texas"), ("Denver", "Colorado"), ("Seattle", "Washington"),
         ("Miami", "Florida"), ("Albany", "New York")),
        ("Main Street", "Oak Avenue", "Pine Road", "Cedar Lane"),
        "(###) ###-####", "#####", ("Mr", "Ms"),
    ),
    Nationality(
        "GB", "United Kingdom",
        ("Oliver", "George", "Harry", "Jack", "Charlie", "Thomas"),
        ("Olivia", "Amelia", "Isla", "Ava", "Emily", "Sophie"),
        ("Taylor", "Wilson", "Evans", "Thomas", "Roberts", "Walker"),
        (("Manchester", "Greater Manchester"), ("Leeds", "West Yorkshire"),
         ("Bristol", "Somerset"), ("Cardiff", "Wales"), ("Edinburgh", "Scotland")),
        ("High Street", "Station Road", "Church Lane", "Victoria Road"),
        "0#### ######", "??# #??", ("Mr", "Miss"),
    ),
    Nationality(
        "DE", "Germany",
        ("Lukas", "Jürgen", "Felix", "Jonas", "Maximilian", "Paul"),
        ("Mia", "Hannah", "Lea", "Jülide", "Sophie", "Marie"),
        ("Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Becker"),
        (("München", "Bayern"), ("Hamburg", "Hamburg"), ("Köln", "Nordrhein-Westfalen"),
         ("Leipzig", "Sachsen"), ("Berlin", "Berlin")),
        ("Hauptstraße", "Schulstraße", "Gartenweg", "Bahnhofstraße"),
        "0###-#######", "#####", ("Herr", "Frau"),
    ),
    Nationality(
        "FR", "France",
        ("Louis", "Gabriel", "Léo", "Hugo", "Jules", "Arthur"),
        ("Léa", "Chloé", "Manon", "Camille", "Inès", "Zoé"),
        ("Martin", "Bernard", "Dubois", "Lefèvre", "Moreau", "Laurent"),
        (("Lyon", "Rhône"), ("Marseille", "Bouches-du-Rhône"), ("Nantes", "Loire-Atlantique"),
         ("Lille", "Nord"), ("Paris", "Paris")),
        ("Rue de la Paix", "Rue Victor Hugo", "Avenue Jean Jaurès", "Place du Marché"),
        "0#-##-##-##-##", "#####", ("Monsieur", "Madame"),
    ),
    Nationality(
        "BR", "Brazil",
        ("João", "Pedro", "Lucas", "Mateus", "Gabriel", "Rafael"),
        ("Ana", "Maria", "Júlia", "Beatriz", "Larissa", "Camila"),
        ("Silva", "Santos", "Oliveira", "Souza", "Costa", "Pereira"),
        (("São Paulo", "São Paulo"), ("Campinas", "São Paulo"), ("Salvador", "Bahia"),
         ("Curitiba", "Paraná"), ("Recife", "Pernambuco")),
        ("Rua São Jorge", "Rua das Flores", "Avenida Brasil", "Rua Sete de Setembro"),
        "(##) ####-####", "#####-###", ("Mr", "Ms"),
    ),
    Nationality(
        "IN", "India",
        ("Aarav", "Vivaan", "Aditya", "Arjun", "Rohan", "Ishaan"),
        ("Ananya", "Diya", "Isha", "Kavya", "Priya", "Saanvi"),
        ("Sharma", "Patel", "Reddy", "Iyer", "Gupta", "Nair"),
        (("Pune", "Maharashtra"), ("Bengaluru", "Karnataka"), ("Chennai", "Tamil Nadu"),
         ("Jaipur", "Rajasthan"), ("Kochi", "Kerala")),
        ("MG Road", "Station Road", "Gandhi Nagar", "Park Street"),
        "9#########", "######", ("Mr", "Ms"),
    ),
)  # fmt: skip
USERNAME_WORDS = ("blue", "silver", "happy", "lazy", "tiny", "crazy", "brave", "purple")
USERNAME_ANIMALS = ("cat", "fish", "tiger", "bear", "koala", "swan", "wolf", "goose")

FAULT_TARGETS = FaultTargets(
    time_path=("created_at",),
    int_path=("dob", "age"),
    text_path=("email",),
)
"""No unknown-enum fault: the spec types `gender` as a free string."""


def generate_users(options: GeneratorOptions) -> Iterator[bytes]:
    """Yield randomuser-shaped sign-up profiles."""
    content = python_rng(options.seed, STREAM, "content")
    detail = python_rng(options.seed, STREAM, "fault-detail")
    for batch in item_batches(options, STREAM, FAULT_TARGETS.kinds):
        for time_us, fault in zip(batch.times_us.tolist(), batch.faults, strict=True):
            profile = _profile(content, time_us)
            if fault is None:
                yield msgspec.json.encode(profile)
            else:
                yield malform(profile, fault, FAULT_TARGETS, detail)


def _fill(pattern: str, rng: random.Random) -> str:
    """Replace `#` by a digit and `?` by an upper-case letter."""
    out = []
    for char in pattern:
        if char == "#":
            out.append(str(rng.randrange(10)))
        elif char == "?":
            out.append(chr(ord("A") + rng.randrange(26)))
        else:
            out.append(char)
    return "".join(out)


def _ascii(text: str) -> str:
    """Letters without accents, for e-mail addresses."""
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()


def _profile(rng: random.Random, time_us: int) -> dict[str, Any]:
    nat = rng.choice(NATIONALITIES)
    is_female = rng.random() < 0.5
    first = rng.choice(nat.female if is_female else nat.male)
    last = rng.choice(nat.last)
    city, state = rng.choice(nat.places)
    dob_us = time_us - rng.randrange(MIN_AGE * YEAR_US, MAX_AGE * YEAR_US)
    age = whole_years_between(dob_us, time_us)
    # Membership cannot predate the person's tenth birthday.
    membership_us = rng.randrange(0, min(MAX_MEMBERSHIP_YEARS, age - 10) * YEAR_US)
    registered_us = time_us - membership_us
    folder = "women" if is_female else "men"
    portrait = rng.randrange(100)
    return {
        "id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        "created_at": iso_millis(time_us),
        "gender": GENDERS[is_female],
        "name": {"title": nat.titles[is_female], "first": first, "last": last},
        "location": {
            "street": f"{rng.randint(1, 9999)} {rng.choice(nat.streets)}",
            "city": city,
            "state": state,
            "country": nat.country,
            "postcode": _fill(nat.postcode, rng),
        },
        "email": f"{_ascii(first)}.{_ascii(last)}@example.com",
        "login": {
            "username": (
                f"{rng.choice(USERNAME_WORDS)}{rng.choice(USERNAME_ANIMALS)}{rng.randint(100, 999)}"
            )
        },
        "dob": {"date": iso_millis(dob_us), "age": age},
        "registered": {
            "date": iso_millis(registered_us),
            "age": whole_years_between(registered_us, time_us),
        },
        "phone": _fill(nat.phone, rng),
        "picture": {
            "large": f"{PICTURE_URL}/{folder}/{portrait}.jpg",
            "medium": f"{PICTURE_URL}/med/{folder}/{portrait}.jpg",
            "thumbnail": f"{PICTURE_URL}/thumb/{folder}/{portrait}.jpg",
        },
        "nat": nat.code,
    }
