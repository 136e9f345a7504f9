"""An EnvoyFilter patch ``value`` decoded as the Envoy message its ``applyTo`` names, as Istio's webhook does.

Istio turns the patch's ``Struct`` into JSON and reads it with the legacy ``jsonpb`` decoder, twice: leniently
(unknown fields dropped; any other failure rejects the EnvoyFilter) and strictly (a failure is only a warning,
"our libraries may be outdated"). This module walks the value against the Envoy descriptors with that
decoder's rules, which differ from the proto3 JSON specification (and from Python's ``json_format``):
durations are Go durations (``500ms``), numbers may be quoted, an unknown enum name is an error even when
decoding leniently, a later member of a ``oneof`` silently replaces an earlier one.

Types resolve as in Istio's registry (:mod:`.envoy_types`). Also here: Istio's two warnings read from the
decoded object, frozen (deprecated) ``@type`` packages and filters named without a ``typed_config``.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from google.protobuf.descriptor import Descriptor, FieldDescriptor
from udpa.annotations import status_pb2  # the file_status option Envoy's proto files carry

from mizzen.config.rules.envoy_types import find_message
from mizzen.config.semantics import durations

# What each applyTo's patch value is (Istio's BuildXDSObjectFromStruct).
OBJECT_TYPES: Mapping[str, str] = {
    "LISTENER": "envoy.config.listener.v3.Listener",
    "FILTER_CHAIN": "envoy.config.listener.v3.FilterChain",
    "NETWORK_FILTER": "envoy.config.listener.v3.Filter",
    "HTTP_FILTER": "envoy.extensions.filters.network.http_connection_manager.v3.HttpFilter",
    "ROUTE_CONFIGURATION": "envoy.config.route.v3.RouteConfiguration",
    "VIRTUAL_HOST": "envoy.config.route.v3.VirtualHost",
    "HTTP_ROUTE": "envoy.config.route.v3.Route",
    "CLUSTER": "envoy.config.cluster.v3.Cluster",
    "EXTENSION_CONFIG": "envoy.config.core.v3.TypedExtensionConfig",
    "BOOTSTRAP": "envoy.config.bootstrap.v3.Bootstrap",
    "LISTENER_FILTER": "envoy.config.listener.v3.ListenerFilter",
}

_WRAPPERS = frozenset(
    f"google.protobuf.{n}Value"
    for n in ("Bool", "Bytes", "String", "Int32", "UInt32", "Float", "Int64", "UInt64", "Double")
)
_FREE_JSON = frozenset({"google.protobuf.Value", "google.protobuf.Struct", "google.protobuf.ListValue"})
_WELL_KNOWN = _WRAPPERS | _FREE_JSON | {"google.protobuf.Any", "google.protobuf.Duration", "google.protobuf.Timestamp"}
_INT_RANGES = {
    FieldDescriptor.TYPE_INT32: ("int32", -(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_SINT32: ("int32", -(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_SFIXED32: ("int32", -(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_INT64: ("int64", -(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_SINT64: ("int64", -(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_SFIXED64: ("int64", -(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_UINT32: ("uint32", 0, 2**32 - 1),
    FieldDescriptor.TYPE_FIXED32: ("uint32", 0, 2**32 - 1),
    FieldDescriptor.TYPE_UINT64: ("uint64", 0, 2**64 - 1),
    FieldDescriptor.TYPE_FIXED64: ("uint64", 0, 2**64 - 1),
}
_FLOATS = frozenset({FieldDescriptor.TYPE_FLOAT, FieldDescriptor.TYPE_DOUBLE})
_NON_FINITE = frozenset({"NaN", "Infinity", "-Infinity"})
_FLOAT32_MAX = 3.4028234663852886e38
_JSON_INT = re.compile(r"-?(?:0|[1-9][0-9]*)")
_JSON_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")


class DecodeError(Exception):
    """The value does not decode; ``path`` is where, under the value (``""``: the value itself)."""

    def __init__(self, message: str, path: str) -> None:
        super().__init__(message)
        self.path = path


@dataclass
class Outcome:
    """Istio's verdict on one patch value: at most one error, else warnings (each a message and a path)."""

    error: tuple[str, str] | None = None
    warnings: list[tuple[str, str]] = field(default_factory=list)


def check_value(apply_to: str, value: Mapping[str, Any]) -> Outcome:
    """Decode ``value`` as ``applyTo``'s Envoy message, leniently then strictly, and read Istio's warnings."""
    descriptor = find_message(OBJECT_TYPES[apply_to])
    if descriptor is None:  # an xds-protos without the core API: nothing can be decided
        return Outcome(error=(f"Envoy filter: unknown object type for applyTo {apply_to}", ""))
    try:
        _message(descriptor, value, "", strict=False)
    except DecodeError as exc:
        return Outcome(error=(_unknown_type_hint(f"Envoy filter: {exc}"), exc.path))
    out = Outcome()
    try:
        _message(descriptor, value, "", strict=True)
    except DecodeError as exc:
        out.warnings.append((f"Envoy filter: {exc}", exc.path))
    frozen = list(_frozen_types(descriptor, value))
    if frozen:
        out.warnings.append((f"using deprecated type_url(s); {', '.join(frozen)}", ""))
    untyped = _untyped(descriptor, value)
    if untyped:
        out.warnings.append((f"using deprecated types by name without typed_config; {', '.join(untyped)}", ""))
    return out


def _unknown_type_hint(message: str) -> str:
    if "could not resolve Any message type" not in message:
        return message
    if ".v2." in message:
        return f"referenced type unknown (hint: try using the v3 XDS API): {message}"
    return f"referenced type unknown: {message}"


# -- the legacy jsonpb decoder's rules --------------------------------------------------------------


def _go_type(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _fields(descriptor: Descriptor, raw: Mapping[str, Any]) -> Iterator[tuple[FieldDescriptor, str, Any]]:
    """Each known field the object sets (the JSON name wins over the proto name, as in jsonpb)."""
    for fd in descriptor.fields:
        key = fd.json_name if fd.json_name in raw else fd.name
        if key in raw:
            yield fd, key, raw[key]


def _message(descriptor: Descriptor, raw: Any, path: str, *, strict: bool) -> None:
    name = descriptor.full_name
    if raw is None and name != "google.protobuf.Value":
        return
    if name in _WELL_KNOWN:
        _well_known(descriptor, raw, path, strict=strict)
        return
    if not isinstance(raw, Mapping):
        raise DecodeError(
            f"json: cannot unmarshal {_go_type(raw)} into Go value of type map[string]json.RawMessage", path
        )
    used: set[str] = set()
    for fd, key, value in _fields(descriptor, raw):
        used.update({fd.name, fd.json_name})
        if value is not None or _is_value(fd):
            _field(fd, value, _join(path, key), strict=strict)
    if strict:
        for key in raw:
            if key not in used and not (key.startswith("[") and key.endswith("]")):
                raise DecodeError(f'unknown field "{key}" in {name}', _join(path, key))


def _is_value(fd: FieldDescriptor) -> bool:
    return fd.message_type is not None and fd.message_type.full_name == "google.protobuf.Value" and not _repeated(fd)


def _repeated(fd: FieldDescriptor) -> bool:
    return bool(fd.is_repeated)


def _field(fd: FieldDescriptor, value: Any, path: str, *, strict: bool) -> None:
    entry = fd.message_type
    if entry is not None and entry.GetOptions().map_entry:
        if not isinstance(value, Mapping):
            raise DecodeError(
                f"json: cannot unmarshal {_go_type(value)} into Go value of type map[string]json.RawMessage", path
            )
        key_fd, value_fd = entry.fields_by_name["key"], entry.fields_by_name["value"]
        for k, v in value.items():
            if key_fd.type != FieldDescriptor.TYPE_STRING:
                _singular(key_fd, k, _join(path, str(k)), strict=strict)
            _singular(value_fd, v, _join(path, str(k)), strict=strict)
    elif _repeated(fd):
        if not isinstance(value, list):
            raise DecodeError(f"json: cannot unmarshal {_go_type(value)} into Go value of type []json.RawMessage", path)
        for i, item in enumerate(value):
            _singular(fd, item, f"{path}[{i}]", strict=strict)
    else:
        _singular(fd, value, path, strict=strict)


def _singular(fd: FieldDescriptor, value: Any, path: str, *, strict: bool) -> None:
    if value is None and not _is_value(fd):
        return  # a null list item or map value: Go's decoder leaves the zero value, no error
    if fd.type in (FieldDescriptor.TYPE_MESSAGE, FieldDescriptor.TYPE_GROUP):
        _message(fd.message_type, value, path, strict=strict)
    elif fd.type == FieldDescriptor.TYPE_ENUM:
        _enum(fd, value, path)
    else:
        _scalar(fd.type, value, path)


def _enum(fd: FieldDescriptor, value: Any, path: str) -> None:
    if isinstance(value, str):
        if value not in fd.enum_type.values_by_name:
            raise DecodeError(f'unknown value "{value}" for enum {fd.enum_type.full_name}', path)
    elif not _integral(value, -(2**31), 2**31 - 1):
        raise DecodeError(
            f"json: cannot unmarshal {_go_type(value)} into Go value of type protoreflect.EnumNumber", path
        )


def _integral(value: Any, low: int, high: int) -> bool:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    if isinstance(value, float) and (not math.isfinite(value) or not value.is_integer()):
        return False
    return low <= int(value) <= high


def _scalar(kind: int, value: Any, path: str) -> None:
    if kind == FieldDescriptor.TYPE_BOOL:
        ok, want = isinstance(value, bool), "bool"
    elif kind == FieldDescriptor.TYPE_STRING:
        ok, want = isinstance(value, str), "string"
    elif kind == FieldDescriptor.TYPE_BYTES:
        ok, want = isinstance(value, str) and _base64(value), "[]uint8"
    elif kind in _FLOATS:
        number = _unquote_number(value, _JSON_NUMBER)
        ok = (isinstance(value, str) and value in _NON_FINITE) or (number is not None and _finite(number, kind))
        want = "float64" if kind == FieldDescriptor.TYPE_DOUBLE else "float32"
    else:
        want, low, high = _INT_RANGES[kind]
        ok = _integral(_unquote_number(value, _JSON_INT), low, high)
    if not ok:
        shown = _show(value)
        raise DecodeError(
            f"json: cannot unmarshal {_go_type(value)}{' ' + shown if shown else ''} into Go value of type {want}", path
        )


def _show(value: Any) -> str:
    return "" if isinstance(value, bool) or not isinstance(value, str | int | float) else repr(value)


def _finite(number: Any, kind: int) -> bool:
    if isinstance(number, int):
        return True
    limit = _FLOAT32_MAX if kind == FieldDescriptor.TYPE_FLOAT else math.inf
    return isinstance(number, float) and math.isfinite(number) and abs(number) <= limit


def _unquote_number(value: Any, syntax: re.Pattern[str]) -> Any:
    """jsonpb strips the quotes around a number (``"80"`` reads as 80) before Go's JSON decoder sees it, so
    inside them only JSON's number syntax (``syntax``: an integer or any number) is a number."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return value
    if isinstance(value, str) and syntax.fullmatch(value):
        return int(value) if _JSON_INT.fullmatch(value) else float(value)
    return None


def _base64(text: str) -> bool:
    try:
        base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return False
    return True


def _well_known(descriptor: Descriptor, raw: Any, path: str, *, strict: bool) -> None:
    name = descriptor.full_name
    if name == "google.protobuf.Any":
        _any(raw, path, strict=strict)
    elif name in _WRAPPERS:
        _singular(descriptor.fields_by_name["value"], raw, path, strict=strict)
    elif name == "google.protobuf.Duration":
        if not isinstance(raw, str):
            raise DecodeError(f"json: cannot unmarshal {_go_type(raw)} into Go value of type string", path)
        if durations.nanos(raw) is None:
            raise DecodeError(f'bad Duration: time: invalid duration "{raw}"', path)
    elif name == "google.protobuf.Timestamp":
        if not isinstance(raw, str) or not _rfc3339(raw):
            raise DecodeError(f"bad Timestamp: {raw!r} is not an RFC 3339 time", path)
    elif name == "google.protobuf.Struct" and not isinstance(raw, Mapping):
        raise DecodeError(f"bad StructValue: cannot unmarshal {_go_type(raw)} into an object", path)
    elif name == "google.protobuf.ListValue" and not isinstance(raw, list):
        raise DecodeError(f"bad ListValue: cannot unmarshal {_go_type(raw)} into an array", path)


def _rfc3339(text: str) -> bool:
    try:
        datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return False
    return "T" in text.upper()


def _any(raw: Any, path: str, *, strict: bool) -> None:
    if not isinstance(raw, Mapping):
        raise DecodeError(
            f"json: cannot unmarshal {_go_type(raw)} into Go value of type map[string]json.RawMessage", path
        )
    type_url = raw.get("@type")
    if type_url is None:
        raise DecodeError("Any JSON doesn't have '@type'", path)
    if not isinstance(type_url, str):
        raise DecodeError(f"can't unmarshal Any's '@type': {type_url!r}", _join(path, "@type"))
    inner = find_message(type_url.rsplit("/", 1)[-1]) if "/" in type_url else None
    if inner is None:
        raise DecodeError(f"could not resolve Any message type: {type_url}", _join(path, "@type"))
    try:
        if inner.full_name in _WELL_KNOWN:
            if "value" not in raw:
                raise DecodeError("Any JSON doesn't have 'value'", path)
            _message(inner, raw["value"], _join(path, "value"), strict=strict)
        else:
            _message(inner, {k: v for k, v in raw.items() if k != "@type"}, path, strict=strict)
    except DecodeError as exc:
        raise DecodeError(f"can't unmarshal Any nested proto {type_url}: {exc}", exc.path) from None


# -- Istio's warnings on the decoded object -----------------------------------------------------------


def _singular_messages(descriptor: Descriptor, raw: Mapping[str, Any]) -> Iterator[tuple[FieldDescriptor, Any]]:
    """The set, singular message fields of a decoded object: what Istio's reflection walks recurse into."""
    if descriptor.full_name in _WELL_KNOWN:
        return
    for fd, _, value in _fields(descriptor, raw):
        if fd.message_type is not None and not _repeated(fd) and value is not None:
            yield fd, value


def _frozen_types(descriptor: Descriptor, raw: Mapping[str, Any]) -> Iterator[str]:
    """``@type`` URLs of singular ``Any`` fields whose proto package is frozen (Istio's deprecation warning)."""
    for fd, value in _singular_messages(descriptor, raw):
        if fd.message_type.full_name == "google.protobuf.Any" and isinstance(value, Mapping):
            type_url = str(value.get("@type", ""))
            inner = find_message(type_url.rsplit("/", 1)[-1])
            if inner is not None and _frozen(inner):
                yield type_url
        elif isinstance(value, Mapping):
            yield from _frozen_types(fd.message_type, value)


def _frozen(descriptor: Descriptor) -> bool:
    options = descriptor.file.GetOptions()
    if not options.HasExtension(status_pb2.file_status):
        return False
    return bool(options.Extensions[status_pb2.file_status].package_version_status == status_pb2.FROZEN)


def _untyped(descriptor: Descriptor, raw: Mapping[str, Any]) -> list[str]:
    """Names of objects that have a ``typed_config`` field but set neither it nor ``config_discovery``."""
    out: list[str] = []
    requires = "typed_config" in descriptor.fields_by_name
    present = {fd.name for fd, _, value in _fields(descriptor, raw) if value is not None}
    for fd, value in _singular_messages(descriptor, raw):
        if isinstance(value, Mapping):
            out += _untyped(fd.message_type, value)
    if requires and not present & {"typed_config", "config_discovery"}:
        name = next((v for fd, _, v in _fields(descriptor, raw) if fd.json_name == "name"), "")
        out.append(str(name) if name is not None else "")
    return out
