"""Help texts reach the user whole: typer renders them as rich markup, where a bracketed
phrase such as "[env X]" or "[as soon as possible]" is taken for a style tag and vanishes
unless its bracket is escaped."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import typer
from rich.text import Text

from streamdash.cli import app


def _texts(command: Any, path: str) -> Iterator[tuple[str, str]]:
    """(where, text) of a command's help and its parameters', its subcommands' too (typer
    vendors its own click, so this walks it by attribute)."""
    if command.help:
        yield path, command.help
    for param in command.params:
        if getattr(param, "help", None):
            yield f"{path} {param.opts[0]}", param.help
    for name, sub in getattr(command, "commands", {}).items():
        yield from _texts(sub, f"{path} {name}")


def test_every_help_text_survives_the_markup_whole() -> None:
    texts = list(_texts(typer.main.get_command(app), "streamdash"))
    assert len(texts) > 50  # every command and option was walked
    eaten = {
        where: text
        for where, text in texts
        if Text.from_markup(text).plain != text.replace("\\[", "[")
    }
    assert not eaten
