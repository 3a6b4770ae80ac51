"""`interactions`: users clicking, viewing and buying items (topic `user_interactions`).

Popularity is skewed (low ids are more active / more popular) so the live top-users and
top-items tables have a stable head instead of a uniform shuffle.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from streamdash.sources.generators.faults import FaultTargets, malform
from streamdash.sources.generators.options import GeneratorOptions
from streamdash.sources.generators.plan import item_batches
from streamdash.sources.generators.seeding import numpy_rng, python_rng

STREAM = "interactions"

USER_IDS = range(1, 101)
ITEM_IDS = range(1, 51)
INTERACTION_TYPES = ("click", "view", "purchase")
INTERACTION_WEIGHTS = np.array([0.45, 0.45, 0.10])
POPULARITY_SKEW = 0.6
"""Weight of id i is i ** -skew: a long tail, but no single id dominates."""

FAULT_TARGETS = FaultTargets(
    time_path=("timestamp",),
    int_path=("user_id",),
    text_path=("interaction_type",),
    enum_path=("interaction_type",),
    unknown_enum_values=("like", "share", "Click", "add_to_cart"),
)


def _popularity(ids: range) -> np.ndarray:
    weights = np.arange(1, len(ids) + 1, dtype=np.float64) ** -POPULARITY_SKEW
    normalised: np.ndarray = weights / weights.sum()
    return normalised


_USER_WEIGHTS = _popularity(USER_IDS)
_ITEM_WEIGHTS = _popularity(ITEM_IDS)
_TYPE_FRAGMENTS = tuple(f',"interaction_type":"{kind}","timestamp":' for kind in INTERACTION_TYPES)


def generate_interactions(options: GeneratorOptions) -> Iterator[bytes]:
    """Yield interactions events; `timestamp` is epoch seconds with millisecond precision."""
    content = numpy_rng(options.seed, STREAM, "content")
    detail = python_rng(options.seed, STREAM, "fault-detail")
    for batch in item_batches(options, STREAM, FAULT_TARGETS.kinds):
        size = len(batch)
        users = (content.choice(len(USER_IDS), size, p=_USER_WEIGHTS) + USER_IDS.start).tolist()
        items = (content.choice(len(ITEM_IDS), size, p=_ITEM_WEIGHTS) + ITEM_IDS.start).tolist()
        kinds = content.choice(len(INTERACTION_TYPES), size, p=INTERACTION_WEIGHTS).tolist()
        seconds = ((batch.times_us // 1000) / 1000).tolist()
        for user, item, kind, second, fault in zip(
            users, items, kinds, seconds, batch.faults, strict=True
        ):
            if fault is None:
                yield (
                    f'{{"user_id":{user},"item_id":{item}{_TYPE_FRAGMENTS[kind]}{second}}}'
                ).encode()
            else:
                event: dict[str, Any] = {
                    "user_id": user,
                    "item_id": item,
                    "interaction_type": INTERACTION_TYPES[kind],
                    "timestamp": second,
                }
                yield malform(event, fault, FAULT_TARGETS, detail)
