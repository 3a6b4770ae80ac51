"""Reading pipeline specs: YAML text -> typed `Pipeline`, with every problem reported.

The YAML is composed to a node tree first, so that duplicate keys can be rejected and
each problem can name the line it is on; only then is it turned into Python data and
validated, entry by entry, so that one broken view does not hide the errors of another.
"""

from __future__ import annotations

import os
import re
import types
from collections.abc import Iterator, Sequence
from importlib import resources
from pathlib import Path
from typing import Any, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, TypeAdapter, ValidationError
from pydantic_core import ErrorDetails

from streamdash.errors import SpecError
from streamdash.spec.models import Pipeline
from streamdash.spec.validation import Problem, validate, yaml_path

BUILTIN_STREAMS = ("app_logs", "sensor", "user_events", "interactions", "users")
"""The built-in streams, one spec file each in `spec/builtin/`, in the product's order."""

SETTINGS = ("log", "kafka")
"""Top-level keys holding one setting each (not a mapping of named entries)."""
_SECTIONS = tuple(name for name in Pipeline.model_fields if name not in SETTINGS)
_TOP_LEVEL = (*_SECTIONS, *SETTINGS)
_ROOT = "<document>"
_MERGE_TAG = "tag:yaml.org,2002:merge"


class _SpecLoader(yaml.SafeLoader):
    """SafeLoader with YAML 1.2 scalars: only true/false are booleans and dates stay
    strings. YAML 1.1 would read the join key `on:` as the boolean True, and `no` (Norway)
    as False, which silently breaks specs."""


_SpecLoader.yaml_implicit_resolvers = {
    first: [
        (tag, regexp)
        for tag, regexp in resolvers
        if tag not in ("tag:yaml.org,2002:bool", "tag:yaml.org,2002:timestamp")
    ]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_SpecLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


def _walk(
    node: yaml.Node,
    path: str,
    lines: dict[str, int],
    problems: list[Problem],
    stack: tuple[int, ...] = (),
) -> None:
    """Record the line of every path and report duplicate keys, anywhere in the tree."""
    if id(node) in stack:  # an alias that contains itself
        problems.append((path or _ROOT, f"recursive YAML alias (line {node.start_mark.line + 1})"))
        return
    stack += (id(node),)
    if isinstance(node, yaml.MappingNode):
        first_line: dict[str, int] = {}
        for key, value in node.value:
            if key.tag == _MERGE_TAG or not isinstance(key, yaml.ScalarNode):
                continue
            line = key.start_mark.line + 1
            child = yaml_path(path, key.value) if path else yaml_path(key.value)
            if key.value in first_line:
                problems.append(
                    (
                        child,
                        f"duplicate key '{key.value}' (line {line}; first "
                        f"defined on line {first_line[key.value]}): YAML would "
                        "silently keep only the last one",
                    )
                )
                continue
            first_line[key.value] = line
            lines[child] = line
            _walk(value, child, lines, problems, stack)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            child = f"{path}[{index}]"
            lines[child] = item.start_mark.line + 1
            _walk(item, child, lines, problems, stack)


_LAST_SEGMENT = re.compile(r"(\.[^.\[]+|\[\d+\])$")


def _line_of(path: str, lines: dict[str, int]) -> int | None:
    """The line of `path`, or of its nearest ancestor written in the file."""
    while path:
        if path in lines:
            return lines[path]
        shorter = _LAST_SEGMENT.sub("", path)
        if shorter == path:
            return None
        path = shorter
    return None


def _unwrap_optional(annotation: Any) -> Any:
    if get_origin(annotation) in (Union, types.UnionType):
        args = [a for a in get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return annotation


def _model_at(loc: Sequence[str | int]) -> type[BaseModel] | None:
    """The model class that validates the value at `loc` of a Pipeline, if any."""
    current: Any = Pipeline
    for part in loc:
        current = _unwrap_optional(current)
        if isinstance(current, type) and issubclass(current, BaseModel):
            fields = current.model_fields
            found = [f for n, f in fields.items() if part in (n, f.alias)]
            if not found:
                return None
            current = found[0].annotation
        elif get_origin(current) is dict:
            current = get_args(current)[1]
        elif get_origin(current) is list:
            current = get_args(current)[0]
        else:
            return None
    current = _unwrap_optional(current)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return current
    return None


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _message(error: ErrorDetails, loc: tuple[str | int, ...]) -> str:
    """Pydantic's error as a sentence that says what was wrong and what was expected."""
    kind, ctx = error["type"], error.get("ctx") or {}
    if kind == "missing":
        return f"missing required key '{loc[-1]}'"
    if kind == "extra_forbidden":
        model = _model_at(loc[:-1])
        allowed = sorted(f.alias or n for n, f in model.model_fields.items()) if model else []
        expected = f"; expected one of: {', '.join(allowed)}" if allowed else ""
        return f"unknown key '{loc[-1]}'{expected}"
    if kind == "literal_error":
        return f"expected one of {ctx['expected']}, got {_show(error['input'])}"
    if kind in ("value_error", "assertion_error") and "error" in ctx:
        return str(ctx["error"])
    text = error["msg"].replace("Input should be", "expected", 1)
    return f"{text}, got {_show(error['input'])}"


def _pydantic_problems(err: ValidationError, prefix: tuple[str | int, ...]) -> list[Problem]:
    problems = []
    for detail in err.errors(include_url=False):
        loc = prefix + tuple(detail["loc"])
        problems.append((yaml_path(*loc), _message(detail, loc)))
    return problems


def _build(data: dict[Any, Any]) -> tuple[Pipeline, list[Problem], set[tuple[str, str]]]:
    """Validate each entry of each section on its own, so every broken entry is reported,
    and assemble a Pipeline from the entries that are sound."""
    problems: list[Problem] = []
    broken: set[tuple[str, str]] = set()
    for key in data:
        if key not in _TOP_LEVEL:
            problems.append(
                (
                    str(key),
                    f"unknown top-level key '{key}'; expected one of: {', '.join(_TOP_LEVEL)}",
                )
            )
    if "streams" not in data:
        problems.append(("streams", "missing required key 'streams' (the event streams)"))
    sections: dict[str, dict[str, Any]] = {}
    for section in _SECTIONS:
        entries = data.get(section)
        sections[section] = {}
        if entries is None:  # `views:` with nothing under it: no views yet
            continue
        if not isinstance(entries, dict):
            problems.append(
                (
                    section,
                    f"expected a mapping of name -> definition, got "
                    f"{type(entries).__name__} {_show(entries)}",
                )
            )
            continue
        adapter: TypeAdapter[Any] = TypeAdapter(
            get_args(Pipeline.model_fields[section].annotation)[1]
        )
        for name, entry in entries.items():
            if not isinstance(name, str):
                problems.append(
                    (
                        yaml_path(section, str(name)),
                        f"names must be strings, got {type(name).__name__} {name!r}",
                    )
                )
                continue
            try:
                sections[section][name] = adapter.validate_python(entry)
                continue
            except ValidationError as err:
                problems += _pydantic_problems(err, (section, name))
                repaired, complete = _repair(entry, err)
            # A repaired entry still takes part in the cross-reference checks, so that the
            # errors elsewhere in it are reported in the same run.
            try:
                sections[section][name] = adapter.validate_python(repaired)
            except ValidationError:
                complete = False
            if not complete:
                broken.add((section, name))
    settings: dict[str, Any] = {}
    for setting in SETTINGS:
        if data.get(setting) is None:
            continue
        annotation = Pipeline.model_fields[setting].annotation
        assert annotation is not None
        setting_adapter: TypeAdapter[Any] = TypeAdapter(annotation)
        try:
            settings[setting] = setting_adapter.validate_python(data[setting])
        except ValidationError as err:  # reported; the default stands in for the checks
            problems += _pydantic_problems(err, (setting,))
    return Pipeline.model_validate({**sections, **settings}), problems, broken


_PLACEHOLDER_FIELD = {"type": "json", "optional": True}
"""Stands in for a schema field whose definition is broken: json accepts any use."""


_NAMED_ITEMS = ("schema", "derived", "metrics")


def _repair(entry: Any, err: ValidationError) -> tuple[Any, bool]:
    """`entry` without the parts pydantic rejected, and whether it is still complete.

    A broken schema field is replaced by a placeholder (so the field still exists), a
    broken metric or derived field is dropped, any other broken key is dropped (back
    to its default). Dropping a required key leaves the entry invalid: it is left out.
    """
    if not isinstance(entry, dict):
        return entry, False
    complete = True
    repaired = {
        key: dict(value) if isinstance(value, dict) else value for key, value in entry.items()
    }
    for detail in err.errors(include_url=False):
        loc = detail["loc"]
        if not loc or loc[0] not in repaired:
            continue
        inner = repaired[loc[0]]
        if loc[0] in _NAMED_ITEMS and len(loc) >= 2 and isinstance(inner, dict):
            if loc[0] == "schema":
                inner[loc[1]] = _PLACEHOLDER_FIELD
                continue
            inner.pop(loc[1], None)
        else:
            del repaired[loc[0]]
        complete = False
    return repaired, complete


def parse_pipeline(text: str, source: str = "<string>") -> Pipeline:
    """Parse YAML text into a Pipeline; raise SpecError listing every problem found."""
    loader = _SpecLoader(text)
    try:
        node = loader.get_single_node()
        problems: list[Problem] = []
        lines: dict[str, int] = {}
        if node is not None:
            _walk(node, "", lines, problems)
        if any(msg.startswith("recursive") for _, msg in problems):
            raise SpecError(problems, source)
        # Duplicate keys are reported but the rest is still checked (with the last value,
        # as YAML keeps it), so that one run shows every problem of the file.
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as err:
        raise SpecError([(_ROOT, _yaml_error(err))], source) from None
    except yaml.YAMLError as err:
        raise SpecError([(_ROOT, f"invalid YAML: {err}")], source) from None
    finally:
        loader.dispose()
    if not isinstance(data, dict):
        got = "an empty document" if data is None else f"{type(data).__name__} {_show(data)}"
        raise SpecError(
            [(_ROOT, f"expected a mapping with keys {', '.join(_SECTIONS)}, got {got}")], source
        )
    pipeline, entry_problems, broken = _build(data)
    problems += entry_problems + validate(pipeline, broken=broken)
    if problems:
        raise SpecError(_with_lines(problems, lines), source)
    return pipeline


def _yaml_error(err: yaml.MarkedYAMLError) -> str:
    mark = err.problem_mark or err.context_mark
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
    what = " ".join(part for part in (err.context, err.problem) if part)
    hint = ""
    if "got '?'" in what:
        hint = " (inside {...} or [...], quote an optional type: 'string?')"
    return f"YAML syntax error{where}: {what or 'cannot parse'}{hint}"


def _with_lines(problems: list[Problem], lines: dict[str, int]) -> list[Problem]:
    """Add `(line N)` to each message and order the problems as they appear in the file."""
    located = [(path, msg, _line_of(path, lines)) for path, msg in problems]
    located.sort(key=lambda item: item[2] if item[2] is not None else 1 << 30)
    return [(path, f"{msg} (line {line})" if line else msg) for path, msg, line in located]


def load_pipeline(path_or_text: str | os.PathLike[str]) -> Pipeline:
    """Load a spec from a file path (a PathLike, or a one-line string ending in .yaml/.yml)
    or from YAML text; raise SpecError listing every problem."""
    if isinstance(path_or_text, str) and not _looks_like_path(path_or_text):
        return parse_pipeline(path_or_text)
    path = Path(path_or_text)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise SpecError(
            [(str(path), f"cannot read the spec file: {err.strerror or err}")], str(path)
        ) from None
    except UnicodeDecodeError as err:
        raise SpecError(
            [(str(path), f"the spec file is not UTF-8 text: {err}")], str(path)
        ) from None
    return parse_pipeline(text, str(path))


def _looks_like_path(text: str) -> bool:
    return "\n" not in text and text.strip().endswith((".yaml", ".yml"))


def _builtin_texts(names: Sequence[str]) -> Iterator[tuple[str, str]]:
    folder = resources.files("streamdash.spec").joinpath("builtin")
    for name in names:
        yield f"builtin/{name}.yaml", folder.joinpath(f"{name}.yaml").read_text("utf-8")


def load_builtin(*names: str) -> Pipeline:
    """The built-in streams (all of them, or those named) as one Pipeline."""
    unknown = [n for n in names if n not in BUILTIN_STREAMS]
    if unknown:
        raise SpecError(
            [
                (
                    name,
                    f"unknown built-in stream '{name}'; expected one of: "
                    f"{', '.join(BUILTIN_STREAMS)}",
                )
                for name in unknown
            ],
            "builtin",
        )
    chosen = names or BUILTIN_STREAMS
    sources, pipelines = [], []
    for source, text in _builtin_texts(chosen):
        sources.append(source)
        pipelines.append(parse_pipeline(text, source))
    return merge_pipelines(*pipelines, sources=sources)


def merge_pipelines(*pipelines: Pipeline, sources: Sequence[str] | None = None) -> Pipeline:
    """One Pipeline holding every entry of `pipelines`; a name defined twice in a section,
    or a merged result that fails validation (two views writing one table, two streams on
    one topic), raises SpecError. `sources` names the pipelines in messages."""
    names = (
        list(sources)
        if sources is not None
        else [f"pipeline #{i + 1}" for i in range(len(pipelines))]
    )
    if len(names) != len(pipelines):
        raise ValueError(f"got {len(pipelines)} pipelines but {len(names)} source names")
    merged: dict[str, Any] = {section: {} for section in _SECTIONS}
    origin: dict[tuple[str, str], str] = {}
    problems: list[Problem] = []
    for pipeline, source in zip(pipelines, names, strict=True):
        for setting in SETTINGS:
            # a setting left at its default does not clash with one given elsewhere
            value = getattr(pipeline, setting)
            if value == Pipeline.model_fields[setting].get_default(call_default_factory=True):
                continue
            if setting in merged and merged[setting] != value:
                problems.append(
                    (
                        setting,
                        f"'{setting}' differs between {origin[setting, '']} and {source}; "
                        "give it in one of the merged specs only",
                    )
                )
                continue
            merged[setting] = value
            origin[setting, ""] = source
        for section in _SECTIONS:
            for name, entry in getattr(pipeline, section).items():
                if (section, name) in origin:
                    problems.append(
                        (
                            yaml_path(section, name),
                            f"'{name}' is defined in both "
                            f"{origin[section, name]} and {source}; names must be "
                            "unique across merged specs",
                        )
                    )
                    continue
                origin[section, name] = source
                merged[section][name] = entry
    if problems:
        raise SpecError(problems, " + ".join(names))
    result = Pipeline.model_validate(merged)
    problems = validate(result)
    if problems:
        raise SpecError(problems, " + ".join(names))
    return result
