"""Window definitions, and the vectorised arithmetic that assigns events to them.

Windows are `[start, end)` intervals on epoch microseconds, aligned to the epoch in UTC.
A hopping window of `size` sliding `every` is the union of `size / every` consecutive
*panes* of length `every`; an event is assigned to its pane, and the pane to the windows
that contain it, which keeps the per-event work the same as for a tumbling window.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from streamdash.spec.models import WindowSpec

WindowKind = Literal["tumbling", "hopping", "session", "none"]
I64 = npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class WindowPlan:
    """What the engine needs to know about a view's window, validated once."""

    kind: WindowKind
    size_us: int = 0
    """Window length; the gap for sessions; 0 for running views."""
    step_us: int = 0
    """Pane length: `every` for hopping, `size` for tumbling."""

    @classmethod
    def from_spec(cls, spec: WindowSpec | None) -> WindowPlan:
        if spec is None:
            return cls("none")
        return cls(spec.kind, spec.size_us, spec.step_us)

    @property
    def panes(self) -> int:
        """How many windows contain one event (1 for tumbling)."""
        return self.size_us // self.step_us if self.kind in ("tumbling", "hopping") else 1

    @property
    def aligned(self) -> bool:
        """Tumbling and hopping windows are fixed intervals aligned to the epoch."""
        return self.kind in ("tumbling", "hopping")


def pane_start(t: I64, step_us: int) -> I64:
    """Start of the pane holding each time; numpy's `%` floors, so this is right before
    1970 too (SQL's truncating `%` would not be)."""
    return t - t % step_us


def live_windows(t: I64, wm: I64, plan: WindowPlan) -> npt.NDArray[np.int16]:
    """For each event, how many of the windows containing it are still open (not final)
    at the event's watermark.

    The windows containing an event end at `pane + step`, `pane + 2 step`, ...,
    `pane + size` (latest last); window k (k = 0 is the latest) is open while
    `pane - k * step + size > wm`, so the open ones are k < ceil((pane + size - wm) / step).
    """
    if plan.kind == "none":
        return np.ones(len(t), dtype=np.int16)
    if plan.kind == "session":
        # A session containing t ends after t; any final session ended at or before the
        # watermark, so an event at or after the watermark can never touch a final one.
        return (t >= wm).astype(np.int16)
    base = pane_start(t, plan.step_us)
    slack = base + plan.size_us - wm
    open_count = -((-slack) // plan.step_us)
    live: npt.NDArray[np.int16] = np.clip(open_count, 0, plan.panes).astype(np.int16)
    return live
