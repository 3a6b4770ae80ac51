"""A partition's checkpoint: the engine's snapshot and the dedupe state, valid together at
the offsets the sink stores with them."""

from __future__ import annotations

from dataclasses import dataclass

import msgspec

from streamdash.errors import Fatal

FORMAT = 1


class _Saved(msgspec.Struct):
    format: int
    engine: bytes
    dedupe: bytes


@dataclass(frozen=True)
class PartitionState:
    engine: bytes
    dedupe: bytes

    def encode(self) -> bytes:
        return msgspec.msgpack.encode(_Saved(FORMAT, self.engine, self.dedupe))

    @classmethod
    def decode(cls, data: bytes, consumer: str) -> PartitionState:
        try:
            saved = msgspec.msgpack.decode(data, type=_Saved)
        except msgspec.DecodeError:
            raise Fatal(
                f"the checkpoint of {consumer} is not a partition checkpoint (written by "
                "another kind of consumer?); delete its row in streamdash_checkpoints"
            ) from None
        if saved.format != FORMAT:
            raise Fatal(f"the checkpoint of {consumer} has format {saved.format}, not {FORMAT}")
        return cls(saved.engine, saved.dedupe)
