"""Field types in schemas: the shorthand (`int64`, `string?`) and the long form."""

from __future__ import annotations

import pytest

from streamdash.errors import SpecError
from streamdash.spec.loader import parse_pipeline
from streamdash.spec.models import FieldSpec

SPEC = """\
streams:
  s:
    time: {field: t, unit: ms}
    schema:
      t: int64
FIELDS
"""


def schema_of(fields: str) -> dict[str, FieldSpec]:
    return parse_pipeline(SPEC.replace("FIELDS", fields)).streams["s"].schema_


def test_shorthand_and_optional_marker() -> None:
    schema = schema_of("      a: string\n      b: float64?\n      c: json?\n")
    assert (schema["a"].type, schema["a"].optional) == ("string", False)
    assert (schema["b"].type, schema["b"].optional) == ("float64", True)
    assert (schema["c"].type, schema["c"].optional) == ("json", True)


def test_long_form_with_enum_and_nested_struct_shorthand() -> None:
    schema = schema_of(
        "      m: {type: string, enum: [GET, POST]}\n"
        "      who:\n"
        "        type: struct\n"
        "        optional: true\n"
        "        fields: {age: int32, nick: 'string?'}\n"
    )
    assert schema["m"].enum == ["GET", "POST"]
    who = schema["who"]
    assert who.optional and who.fields is not None
    assert (who.fields["nick"].type, who.fields["nick"].optional) == ("string", True)


@pytest.mark.parametrize(
    ("fields", "path", "fragment"),
    [
        ("      a: int65\n", "streams.s.schema.a.type", "got 'int65'"),
        ("      a: struct\n", "streams.s.schema.a", "`fields` is required for type struct"),
        (
            "      a: {type: int32, enum: [x]}\n",
            "streams.s.schema.a",
            "only allowed for type string",
        ),
        (
            "      a: {type: string, nullable: true}\n",
            "streams.s.schema.a.nullable",
            "unknown key 'nullable'; expected one of: enum, fields, max_length, optional, type",
        ),
    ],
)
def test_bad_field_types(fields: str, path: str, fragment: str) -> None:
    with pytest.raises(SpecError) as caught:
        schema_of(fields)
    problems = dict(caught.value.problems)
    assert fragment in problems[path], problems


def test_a_broken_field_does_not_hide_other_problems() -> None:
    text = SPEC.replace("FIELDS", "      a: int65\n") + (
        "views:\n  v:\n    from: s\n    group_by: [nope]\n    metrics: {n: count()}\n"
    )
    with pytest.raises(SpecError) as caught:
        parse_pipeline(text)
    assert set(dict(caught.value.problems)) == {"streams.s.schema.a.type", "views.v.group_by[0]"}
