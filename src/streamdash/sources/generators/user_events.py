"""`user_events`: an e-commerce clickstream, the Avro `UserEvent` of the seed project.

About 80 % clicks and 20 % purchases. Order fields are null on clicks and set on purchases,
with `total_amount = units * unit_price` rounded to cents. Conventions of the built-in spec
(spec/builtin/user_events.yaml) that its join and derived fields rely on: `user_id` is
`user_1`..`user_100`, the ids of `user_demographics`; `campaign_id` starts with its type
(`email_1`, `social_3`, ...).
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from typing import Any

import msgspec

from streamdash.sources.generators.faults import FaultTargets, malform
from streamdash.sources.generators.isotime import iso_millis
from streamdash.sources.generators.options import GeneratorOptions
from streamdash.sources.generators.plan import item_batches
from streamdash.sources.generators.seeding import python_rng

STREAM = "user_events"

EVENT_TYPES = ("click", "purchase")
PURCHASE_SHARE = 0.2
USER_COUNT = 100
CAMPAIGNS = (
    "email_1",
    "email_2",
    "social_3",
    "social_4",
    "search_5",
    "search_6",
    "display_7",
    "affiliate_8",
)
PRODUCT_COUNT = 50
PRODUCT_PRICES = tuple(round(4.99 + (i * 7919 % 12_000) / 100, 2) for i in range(PRODUCT_COUNT))
"""A fixed catalogue, 4.99 to 124.98: with mostly single units, about a third of purchases
are high-value (total_amount > 100)."""
UNITS = (1, 2, 3, 4, 5)
UNIT_WEIGHTS = (0.55, 0.25, 0.1, 0.06, 0.04)
CURRENCIES = ("USD", "USD", "USD", "EUR", "GBP")
PAYMENT_METHODS = ("credit_card", "credit_card", "paypal", "debit_card", "apple_pay", "gift_card")
PAGES = ("/", "/products", "/products/{product}", "/search?q=shoes", "/deals", "/cart")
USER_AGENTS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.4 Safari/605.1.15",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0 Mobile Safari/537.36",
    "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0",
)
DEVICE_TYPES = ("desktop", "desktop", "mobile", "mobile", "mobile", "tablet")
REFERRERS = ("google", "newsletter", "facebook", "instagram", "direct", "bing")
IP_PREFIXES = ("192.0.2.", "198.51.100.", "203.0.113.")
"""Documentation address ranges (RFC 5737): realistic-looking, never a real client."""
STREETS = ("Main Street", "Oak Avenue", "High Street", "Maple Road", "Park Lane", "Elm Street")
CITIES = ("Springfield, US", "Austin, US", "London, GB", "Berlin, DE", "Lyon, FR", "Pune, IN")
SHOP_URL = "https://shop.example.com"

FAULT_TARGETS = FaultTargets(
    time_path=("timestamp",),
    # `units` is an integer for clicks and purchases alike (null or set), unlike user_id.
    int_path=("units",),
    text_path=("user_agent",),
    enum_path=("event_type",),
    unknown_enum_values=("refund", "view", "add_to_cart", "CLICK"),
)


def generate_user_events(options: GeneratorOptions) -> Iterator[bytes]:
    """Yield UserEvent objects with keys in the Avro schema's order."""
    content = python_rng(options.seed, STREAM, "content")
    detail = python_rng(options.seed, STREAM, "fault-detail")
    encode = msgspec.json.encode
    for batch in item_batches(options, STREAM, FAULT_TARGETS.kinds):
        for time_us, fault in zip(batch.times_us.tolist(), batch.faults, strict=True):
            event = _event(content, time_us)
            if fault is None:
                yield encode(event)
            else:
                yield malform(event, fault, FAULT_TARGETS, detail)


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _event(rng: random.Random, time_us: int) -> dict[str, Any]:
    is_purchase = rng.random() < PURCHASE_SHARE
    product = rng.randrange(PRODUCT_COUNT)
    product_id = f"prod-{product + 1:03d}"
    event: dict[str, Any] = {
        "event_id": _uuid(rng),
        "event_type": EVENT_TYPES[is_purchase],
        "user_id": f"user_{rng.randint(1, USER_COUNT)}",
        "campaign_id": rng.choice(CAMPAIGNS),
        "timestamp": iso_millis(time_us),
        "product_id": None,
        "order_id": None,
        "units": None,
        "unit_price": None,
        "total_amount": None,
        "currency": None,
        "page_url": None,
        "user_agent": rng.choice(USER_AGENTS),
        "ip_address": f"{rng.choice(IP_PREFIXES)}{rng.randint(1, 254)}",
        "payment_method": None,
        "shipping_address": None,
        "metadata": {
            "session_id": f"{rng.getrandbits(64):016x}",
            "device_type": rng.choice(DEVICE_TYPES),
            "referrer": rng.choice(REFERRERS),
        },
    }
    if is_purchase:
        units = rng.choices(UNITS, UNIT_WEIGHTS)[0]
        price = PRODUCT_PRICES[product]
        event.update(
            product_id=product_id,
            order_id=_uuid(rng),
            units=units,
            unit_price=price,
            total_amount=round(units * price, 2),
            currency=rng.choice(CURRENCIES),
            page_url=f"{SHOP_URL}/checkout/confirmation",
            payment_method=rng.choice(PAYMENT_METHODS),
            shipping_address=(
                f"{rng.randint(1, 9999)} {rng.choice(STREETS)}, {rng.choice(CITIES)}"
            ),
        )
    else:
        event["page_url"] = SHOP_URL + rng.choice(PAGES).format(product=product_id)
    return event
