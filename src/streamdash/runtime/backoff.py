"""How long to wait before retrying something that failed transiently (a database that is
still starting, restarting or unreachable).

Short at first, because the common case is a database that answers a moment later: `streamdash
run` starts the engine while PostgreSQL is still being initialised, and a fixed one-second
wait would add up to a second to the first result row. Doubling up to a ceiling, so a database
that stays down costs one attempt (and one log line) per `most_s`.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Backoff:
    first_s: float = 0.05
    most_s: float = 1.0
    failures: int = 0
    """Failures since the last success."""

    def next_delay(self) -> float:
        """Record a failure; the delay to wait before the next attempt."""
        self.failures += 1
        return self._delay()

    @property
    def at_ceiling(self) -> bool:
        """The last delay was the longest one: failing for a while, worth a warning."""
        return self.failures > 0 and self._delay() >= self.most_s

    def _delay(self) -> float:
        # the exponent is capped: hours of outage must not overflow a float
        return min(self.most_s, self.first_s * 2.0 ** min(self.failures - 1, 60))

    def succeeded(self) -> None:
        self.failures = 0
