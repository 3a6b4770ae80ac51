"""The embedded stream engine: pure functions from log chunks to a `CommitBatch`.

`Processor` is the entry point; the other modules are its parts (decode, windows,
watermarks, sketches, compiled view SQL, state) and hold no global state.
"""

from streamdash.engine.processor import Processor

__all__ = ["Processor"]
