"""Identifiers in the SQL the engine writes (kept apart from `expressions.py`, which needs
sqlglot: the decoding in Spark's Python workers imports this without it)."""

from __future__ import annotations


def quote(name: str) -> str:
    """Identifier quoting; spec names are lower-case identifiers, this guards the rest."""
    return '"' + name.replace('"', '""') + '"'
