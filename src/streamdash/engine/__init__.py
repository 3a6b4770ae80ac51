"""The embedded stream engine: pure functions from log chunks to a `CommitBatch`.

`Processor` is the entry point; the other modules are its parts (decode, windows,
watermarks, sketches, compiled view SQL, state) and hold no global state. `Processor`
loads on first use (`streamdash.lazy_exports`): Spark's Python workers import the decode
alone and need not load the compiler.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from streamdash.lazy_exports import lazy_exports

if TYPE_CHECKING:
    from streamdash.engine.processor import Processor

__all__ = ["Processor"]
__getattr__ = lazy_exports(__name__, {"Processor": "processor"})
