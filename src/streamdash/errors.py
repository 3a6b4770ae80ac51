"""The root exception hierarchy: every error streamdash raises on purpose derives from here.

`Retryable` errors are transient (a database restarting, a full disk being cleaned up):
the caller may try again. `Fatal` errors need a human (a bad spec, a corrupt log).
"""

from __future__ import annotations


class StreamdashError(Exception):
    """Base of every error raised by streamdash on purpose."""


class Retryable(StreamdashError):
    """A transient failure: the same call may succeed later."""


class Fatal(StreamdashError):
    """A failure that retrying cannot fix."""


class SpecError(Fatal):
    """A pipeline spec is invalid. `problems` lists every error as (yaml path, message)."""

    def __init__(self, problems: list[tuple[str, str]], source: str = "spec") -> None:
        self.problems = problems
        self.source = source
        lines = "\n".join(f"  {path}: {msg}" for path, msg in problems)
        super().__init__(f"{source}: {len(problems)} error(s)\n{lines}")


class LogUnavailable(Retryable):
    """The log could not make an append durable (disk full, locked, I/O error)."""


class StoreUnavailable(Retryable):
    """The result store (PostgreSQL) cannot be reached."""


class MissingExtra(Fatal):
    """An optional integration was used without its pip extra installed."""

    def __init__(self, module: str, extra: str) -> None:
        super().__init__(
            f"{module} is not installed; install it with: pip install 'streamdash[{extra}]'"
        )
