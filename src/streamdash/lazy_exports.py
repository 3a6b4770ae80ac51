"""Package-level names that load their module on first use (PEP 562 `__getattr__`).

Every streamdash process starts by importing the CLI, and importing any module of a package
runs its `__init__`. Packages whose `__init__` re-exported everything (the store: pyarrow and
numpy; the Grafana export; the alert evaluator) made every process pay for all of it before
doing anything — ~0.3 s of CPU for the ingest API, on the path to its first acknowledged
event. With lazy exports `from streamdash.store import PostgresSink` still works; it just
imports `streamdash.store.postgres` when the name is first asked for.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping


def lazy_exports(package: str, where: Mapping[str, str]) -> Callable[[str], object]:
    """A module `__getattr__` for `package`: name -> the submodule (relative) that defines it."""

    def attribute(name: str) -> object:
        module = where.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(f"{package}.{module}"), name)

    return attribute
