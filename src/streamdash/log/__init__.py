"""The log: an append-only, offset-addressed sequence of event chunks per stream."""

from streamdash.log.base import Chunk, Log
from streamdash.log.sqlite import SqliteLog

__all__ = ["Chunk", "Log", "SqliteLog"]
