"""Pipeline specs: typed models, the YAML loader, validation and the built-in streams."""

from streamdash.spec.loader import (
    BUILTIN_STREAMS,
    load_builtin,
    load_pipeline,
    merge_pipelines,
    parse_pipeline,
)
from streamdash.spec.models import Pipeline, StreamSpec, TableSpec, ViewSpec, WindowSpec
from streamdash.spec.validation import PSEUDO_COLUMNS, RESERVED_COLUMNS, validate

__all__ = [
    "BUILTIN_STREAMS",
    "PSEUDO_COLUMNS",
    "RESERVED_COLUMNS",
    "Pipeline",
    "StreamSpec",
    "TableSpec",
    "ViewSpec",
    "WindowSpec",
    "load_builtin",
    "load_pipeline",
    "merge_pipelines",
    "parse_pipeline",
    "validate",
]
