"""Alert messages: the rule's `message` template filled with the observation's columns.

A template is user text: a value of the wrong type for its format (`{error_rate:.1%}` on a
NULL) falls back to the plain value instead of failing, so an alert always has a message.
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from typing import Any

from streamdash.alerts.observe import Observation
from streamdash.alerts.rules import CompiledRule


class _Lenient(string.Formatter):
    def format_field(self, value: Any, format_spec: str) -> Any:
        try:
            return super().format_field(value, format_spec)
        except (TypeError, ValueError):
            return "n/a" if value is None else str(value)

    def get_value(self, key: int | str, args: Any, kwargs: Mapping[str, Any]) -> Any:
        if isinstance(key, str):
            return kwargs.get(key, "{" + key + "}")
        return "{" + str(key) + "}"


def describe_key(key: Mapping[str, Any]) -> str:
    """`application_id=app-1` ("all" for a rule without keys)."""
    return ", ".join(f"{name}={value}" for name, value in key.items()) or "all"


def render(rule: CompiledRule, obs: Observation) -> str:
    fields = {
        **obs.row,
        "value": obs.value,
        "rule": rule.name,
        "severity": rule.severity,
        "key": describe_key(obs.key),
    }
    template = rule.spec.message
    if template is None:
        return f"{rule.name}: {rule.spec.when} ({describe_key(obs.key)}, value {obs.value})"
    try:
        return _Lenient().vformat(template, (), fields)
    except (ValueError, IndexError, AttributeError, KeyError):  # malformed template
        return template
