"""One description per kind drives both the typed model and schema validation.

A kind's spec is described by frozen dataclasses (in :mod:`mizzen.config.models`). Their type hints
are the schema: ``str``, ``int``, ``float``, ``bool``, :data:`Duration`, ``Literal[...]`` (enums),
``tuple[X, ...]`` (lists), ``Mapping[str, X]`` (maps), nested dataclasses (objects), unions of
scalars (``int | str``) and ``Any`` (free-form). Field metadata (set with :func:`fld`) adds the JSON
name (derived from the snake_case attribute: ``http1_max_pending_requests`` →
``http1MaxPendingRequests``), ``required``, one-of groups and deprecation notes.

:func:`check` walks a raw (user-written, camelCase) value against a dataclass and collects every
violation with its field path; :func:`build` turns the same raw value into the dataclass, leniently
(a badly typed field falls back to its default), so semantic rules can still run on the rest.
Like protobuf's JSON decoder, both the camelCase name and the proto (snake_case) name are accepted.
"""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from collections.abc import Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Literal, NewType

from mizzen.config.codes import violation
from mizzen.config.report import Violation
from mizzen.config.semantics import durations

Duration = NewType("Duration", str)
"""A duration in Go's syntax (``1h``, ``1.5s``, ``500ms``, ``1m30s``), kept as written; Istio requires at
least 1ms and millisecond precision."""

AnyDuration = NewType("AnyDuration", str)
"""A duration where ``0s`` means "disabled" (e.g. a TCP idle timeout): a value under 1ms is accepted."""

UInt32 = NewType("UInt32", int)
"""An unsigned 32-bit integer (a port, a weight, a counter): negative values do not decode."""

FreeDuration = NewType("FreeDuration", str)
"""A duration Istio does not range-check (e.g. a session cookie TTL): only its syntax is checked."""

duration_nanos = durations.nanos
"""Nanoseconds in a duration as Go reads it (the shared rule, :func:`mizzen.config.semantics.durations.nanos`)."""

duration_seconds = durations.seconds
"""Seconds in an Istio duration string (the shared rule, :func:`mizzen.config.semantics.durations.seconds`)."""


def duration_problem(text: str, *, zero_ok: bool = False) -> str | None:
    """Istio's validation of a duration (its ``ValidateDuration``, on the value exactly as Go parses it),
    or ``None`` when it is acceptable; ``zero_ok`` fields take a value under 1ms as "disabled"."""
    nanos = durations.nanos(text)
    if nanos is None:
        return f'invalid duration "{text}" (use e.g. 500ms, 1.5s, 2m, 1h)'
    if zero_ok and abs(nanos) < 10**6:
        return None
    if nanos < 10**6:
        return "duration must be greater than 1ms"
    if nanos % 10**6:
        return "only durations to ms precision are supported"
    return None


_MISSING: Any = object()


def fld(
    default: Any = None,
    *,
    json: str | None = None,
    required: bool = False,
    oneof: str | None = None,
    deprecated: str | None = None,
) -> Any:
    """Declare a model field. Tuples default to ``()``; pass ``default=dict`` for an empty map."""
    meta = {"json": json, "required": required, "oneof": oneof, "deprecated": deprecated}
    if default is dict:
        return dataclasses.field(default_factory=dict, metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


@dataclass(frozen=True)
class FieldSpec:
    """The schema facts of one dataclass field."""

    attr: str
    json: str
    proto: str
    hint: Any
    required: bool
    oneof: str | None
    deprecated: str | None


def camel(attr: str) -> str:
    """``max_requests_per_connection`` → ``maxRequestsPerConnection`` (a trailing ``_`` is dropped)."""
    head, *rest = attr.rstrip("_").split("_")
    return head + "".join(p[:1].upper() + p[1:] for p in rest)


_FIELDS: dict[type, tuple[FieldSpec, ...]] = {}


def fields_of(cls: type) -> tuple[FieldSpec, ...]:
    """The schema of a model dataclass, in declaration order (computed once per class)."""
    cached = _FIELDS.get(cls)
    if cached is not None:
        return cached
    hints = typing.get_type_hints(cls)
    out = []
    for f in dataclasses.fields(cls):
        json_name = f.metadata.get("json") or camel(f.name)
        out.append(
            FieldSpec(
                f.name,
                json_name,
                f.name.rstrip("_"),
                hints[f.name],
                bool(f.metadata.get("required")),
                f.metadata.get("oneof"),
                f.metadata.get("deprecated"),
            )
        )
    _FIELDS[cls] = tuple(out)
    return _FIELDS[cls]


def unknown_field(key: str, known: Sequence[str]) -> str:
    """``unknown field "weigth"; did you mean "weight"?`` (the hint only when one name is close)."""
    hint = difflib.get_close_matches(key, list(known), n=1, cutoff=0.6)
    return f'unknown field "{key}"' + (f'; did you mean "{hint[0]}"?' if hint else "")


def json_names(cls: type) -> list[str]:
    """The JSON field names of a model dataclass."""
    return [f.json for f in fields_of(cls)]


def _lookup(raw: Mapping[str, Any], spec: FieldSpec) -> tuple[str, Any]:
    if spec.json in raw:
        return spec.json, raw[spec.json]
    if spec.proto in raw:
        return spec.proto, raw[spec.proto]
    return spec.json, _MISSING


_EMPTY_MESSAGE_IS_SET: ContextVar[bool] = ContextVar("empty_message_is_set", default=False)


def _is_set(hint: Any, value: Any) -> bool:
    """Whether a required field counts as given. ``[]``, ``""`` and ``null`` are the same as leaving it
    out; ``{}`` is too, except for Istio's and Kubernetes' kinds, which decode it as a present (empty)
    message (see :func:`check`)."""
    if value is _MISSING or value is None:
        return False
    hint = _strip_none(hint)
    if _EMPTY_MESSAGE_IS_SET.get() and dataclasses.is_dataclass(hint) and isinstance(hint, type):
        return isinstance(value, Mapping)
    return bool(value != "" and value != [] and value != {})


# -- schema checking -------------------------------------------------------------------------------


def check(cls: type, raw: Any, path: str, *, empty_message_is_set: bool = False) -> list[Violation]:
    """Every schema violation of ``raw`` against model ``cls``, with field paths under ``path``.

    ``empty_message_is_set``: decode as Kubernetes does for Istio's protos, where ``{}`` is a present,
    empty message that satisfies "required" (its own required fields are then checked).
    """
    out: list[Violation] = []
    token = _EMPTY_MESSAGE_IS_SET.set(empty_message_is_set)
    try:
        _check_value(cls, raw, path, out)
    finally:
        _EMPTY_MESSAGE_IS_SET.reset(token)
    return out


def _check_object(cls: type, raw: Any, path: str, out: list[Violation]) -> None:
    if not isinstance(raw, Mapping):
        out.append(violation("MZ1002", f"must be an object, got {type_name(raw)}", path))
        return
    specs = fields_of(cls)
    known = {s.json for s in specs} | {s.proto for s in specs}
    for key in raw:
        if key not in known:
            out.append(violation("MZ1001", unknown_field(str(key), [s.json for s in specs]), _join(path, str(key))))
    groups: dict[str, list[str]] = {}
    for spec in specs:
        key, value = _lookup(raw, spec)
        sub = _join(path, key)
        if spec.required and not _is_set(spec.hint, value):
            out.append(violation("MZ1003", f'field "{spec.json}" is required', sub))
        if value is _MISSING or value is None:
            continue
        if spec.oneof:
            groups.setdefault(spec.oneof, []).append(spec.json)
        _check_value(spec.hint, value, sub, out)
    for members in groups.values():
        if len(members) > 1:
            names = ", ".join(s.json for s in specs if s.oneof and s.json in members)
            out.append(violation("MZ1005", f"only one of {names} may be set", path))


def _strip_none(hint: Any) -> Any:
    """``X | None`` → ``X`` (unions of several scalars are kept as they are)."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        rest = tuple(t for t in typing.get_args(hint) if t is not type(None))
        return rest[0] if len(rest) == 1 else typing.Union[rest]  # noqa: UP007
    return hint


def _check_value(hint: Any, value: Any, path: str, out: list[Violation]) -> None:
    hint = _strip_none(hint)
    if value is None or hint is Any:
        return
    if dataclasses.is_dataclass(hint) and isinstance(hint, type):
        _check_object(hint, value, path, out)
        return
    if hint in (Duration, AnyDuration, FreeDuration):
        _check_duration(hint, value, path, out)
        return
    if hint is UInt32:
        _check_uint32(value, path, out)
        return
    origin = typing.get_origin(hint)
    if origin is Literal:
        _check_literal(typing.get_args(hint), value, path, out)
    elif origin is tuple:
        _check_list(typing.get_args(hint)[0], value, path, out)
    elif origin in (Mapping, dict):
        _check_map(typing.get_args(hint)[1], value, path, out)
    else:
        _check_scalar(_scalar_types(hint), value, path, out)


def _check_uint32(value: Any, path: str, out: list[Violation]) -> None:
    if not _scalar_ok(int, value) or not 0 <= value <= 2**32 - 1:
        out.append(
            violation("MZ1002", f"must be an unsigned 32-bit integer, got {type_name(value)} {_show(value)}", path)
        )


def _check_literal(allowed: tuple[Any, ...], value: Any, path: str, out: list[Violation]) -> None:
    if value not in allowed:
        out.append(
            violation(
                "MZ1004",
                f"invalid value {_show(value)}; expected one of {', '.join(str(a) for a in allowed)}",
                path,
            )
        )


def _check_list(item: Any, value: Any, path: str, out: list[Violation]) -> None:
    if not isinstance(value, list | tuple):
        out.append(violation("MZ1002", f"must be a list, got {type_name(value)}", path))
        return
    for i, v in enumerate(value):
        _check_item(item, v, f"{path}[{i}]", out)


def _check_map(item: Any, value: Any, path: str, out: list[Violation]) -> None:
    if not isinstance(value, Mapping):
        out.append(violation("MZ1002", f"must be a map, got {type_name(value)}", path))
        return
    for k, v in value.items():
        _check_item(item, v, _join(path, str(k)), out)


def _check_scalar(scalars: tuple[Any, ...], value: Any, path: str, out: list[Violation]) -> None:
    if not any(_scalar_ok(t, value) for t in scalars):
        want = " or ".join(_SCALAR_NAMES[t] for t in scalars)
        out.append(violation("MZ1002", f"must be {want}, got {type_name(value)} {_show(value)}", path))


def _check_duration(hint: Any, value: Any, path: str, out: list[Violation]) -> None:
    if not isinstance(value, str):
        out.append(violation("MZ1002", f'must be a duration string such as "1s", got {type_name(value)}', path))
        return
    if hint is FreeDuration:
        problem = None if duration_nanos(value) is not None else duration_problem(value)
    else:
        problem = duration_problem(value, zero_ok=hint is AnyDuration)
    if problem is not None:
        out.append(violation("MZ1006", problem, path))


def _check_item(hint: Any, value: Any, path: str, out: list[Violation]) -> None:
    """A list element or map value: unlike a field, ``null`` is not "unset" here; Kubernetes rejects it."""
    if value is None and _strip_none(hint) is not Any:
        out.append(violation("MZ1002", f"must be {_expected(hint)}, got null", path))
        return
    _check_value(hint, value, path, out)


def _expected(hint: Any) -> str:
    hint = _strip_none(hint)
    if dataclasses.is_dataclass(hint) or typing.get_origin(hint) in (Mapping, dict):
        return "an object"
    if typing.get_origin(hint) is tuple:
        return "a list"
    if hint in (Duration, AnyDuration, FreeDuration) or typing.get_origin(hint) is Literal:
        return "a string"
    if hint is UInt32:
        return "an integer"
    return " or ".join(_SCALAR_NAMES.get(t, "a value") for t in _scalar_types(hint))


_SCALAR_NAMES: dict[Any, str] = {str: "a string", int: "an integer", float: "a number", bool: "a boolean"}


def _scalar_types(hint: Any) -> tuple[Any, ...]:
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return tuple(t for t in typing.get_args(hint) if t is not type(None))
    return (hint,)


def _scalar_ok(t: Any, value: Any) -> bool:
    if t is bool:
        return isinstance(value, bool)
    if t is int:
        return (isinstance(value, int) and not isinstance(value, bool)) or (
            isinstance(value, float) and value.is_integer()
        )
    if t is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if t is str:
        return isinstance(value, str)
    return t is Any


def type_name(value: Any) -> str:
    """The JSON type of ``value`` as a user would call it."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "list"
    if isinstance(value, Mapping):
        return "map"
    return type(value).__name__


def _show(value: Any) -> str:
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, list | Mapping):
        return ""
    return str(value).lower() if isinstance(value, bool) else str(value)


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


# -- building models -------------------------------------------------------------------------------


def build(cls: type, raw: Any) -> Any:
    """An instance of model ``cls`` from ``raw``; fields that are missing or mistyped get their default."""
    if not isinstance(raw, Mapping):
        raw = {}
    kwargs: dict[str, Any] = {}
    for spec in fields_of(cls):
        _, value = _lookup(raw, spec)
        if value is _MISSING or value is None:
            continue
        converted = _convert(spec.hint, value)
        if converted is not _MISSING:
            kwargs[spec.attr] = converted
    return cls(**kwargs)


def _convert(hint: Any, value: Any) -> Any:
    hint = _strip_none(hint)
    if hint is Any:
        return value
    if dataclasses.is_dataclass(hint) and isinstance(hint, type):
        return build(hint, value) if isinstance(value, Mapping) else _MISSING
    if hint in (Duration, AnyDuration, FreeDuration):
        return value if isinstance(value, str) and duration_nanos(value) is not None else _MISSING
    if hint is UInt32:
        return int(value) if _scalar_ok(int, value) else _MISSING
    origin = typing.get_origin(hint)
    if origin is Literal:
        return value if value in typing.get_args(hint) else _MISSING
    if origin is tuple:
        return _convert_list(typing.get_args(hint)[0], value)
    if origin in (Mapping, dict):
        return _convert_map(typing.get_args(hint)[1], value)
    return _convert_scalar(_scalar_types(hint), value)


def _convert_list(item: Any, value: Any) -> Any:
    """A tuple of the items that convert (a mistyped item is dropped, as a mistyped field is)."""
    if not isinstance(value, list | tuple):
        return _MISSING
    return tuple(c for c in (_convert(item, v) for v in value) if c is not _MISSING)


def _convert_map(item: Any, value: Any) -> Any:
    if not isinstance(value, Mapping):
        return _MISSING
    return {str(k): c for k, v in value.items() if (c := _convert(item, v)) is not _MISSING}


def _convert_scalar(scalars: tuple[Any, ...], value: Any) -> Any:
    """The first scalar type ``value`` fits, as that type (``1.0`` for an int field is ``1``)."""
    for t in scalars:
        if _scalar_ok(t, value):
            if t is int:
                return int(value)
            if t is float:
                return float(value)
            return value
    return _MISSING
