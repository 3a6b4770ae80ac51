"""Independent random streams derived from one user seed.

Every concern (content, lateness, faults) draws from its own stream, labelled by stream
name and purpose. So turning on `late_fraction` or `bad_fraction` changes only the affected
items, and two streams generated with the same seed are still unrelated.
"""

from __future__ import annotations

import hashlib
import random

import numpy as np


def seed_sequence(seed: int, *labels: str) -> np.random.SeedSequence:
    """A SeedSequence for `seed` and the labels; labels are hashed, so stable across runs."""
    tags = [int.from_bytes(hashlib.sha256(label.encode()).digest()[:8], "big") for label in labels]
    return np.random.SeedSequence([seed, *tags])


def numpy_rng(seed: int, *labels: str) -> np.random.Generator:
    """A numpy generator for vectorised draws (the fast path of flat streams)."""
    return np.random.Generator(np.random.PCG64(seed_sequence(seed, *labels)))


def python_rng(seed: int, *labels: str) -> random.Random:
    """A `random.Random` for per-item draws of nested events (cheaper than numpy scalars)."""
    state = seed_sequence(seed, *labels).generate_state(4, dtype=np.uint64)
    return random.Random(int.from_bytes(state.tobytes(), "little"))
