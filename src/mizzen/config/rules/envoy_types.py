"""Which Envoy messages Istio's registry knows, and their descriptors, loaded one proto package at a time.

Istio links Envoy's v3 API (go-control-plane), the ``udpa``/``xds`` types and protobuf's own; Envoy's v2 API
is in the ``xds-protos`` wheel but no longer in Istio, so it does not resolve here either. Importing every
proto module up front costs about 0.5 s and 10 MB; a package's modules are imported when a type of it is
first asked for.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
from pathlib import Path

from google.protobuf import descriptor_pool
from google.protobuf.descriptor import Descriptor

log = logging.getLogger(__name__)

_imported: set[str] = set()


def istio_knows(full_name: str) -> bool:
    """Whether Istio's registry has this message: Envoy's v3 API (not v2), udpa/xds and protobuf's types."""
    package = full_name.rsplit(".", 1)[0]
    if package.startswith("envoy."):
        return package.rsplit(".", 1)[-1].startswith("v3")
    return package.split(".", 1)[0] in ("udpa", "xds", "google", "validate")


def find_message(full_name: str) -> Descriptor | None:
    """The descriptor of a message Istio knows, importing its package's proto modules on first need."""
    if not istio_knows(full_name):
        return None
    pool = descriptor_pool.Default()
    try:
        found: Descriptor = pool.FindMessageTypeByName(full_name)
        return found
    except KeyError:
        pass
    # A nested message (Outer.Inner) lives in the package of its outermost parent: try each prefix.
    parts = full_name.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        _import_package(".".join(parts[:cut]))
    try:
        found = pool.FindMessageTypeByName(full_name)
        return found
    except KeyError:
        return None


def _import_package(package: str) -> None:
    if package in _imported:
        return
    _imported.add(package)
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return
    if spec is None or not spec.submodule_search_locations:
        return
    for location in spec.submodule_search_locations:
        for module in sorted(Path(location).glob("*_pb2.py")):
            try:
                importlib.import_module(f"{package}.{module.stem}")
            except ImportError as exc:  # a broken module must not hide the others
                log.warning("Envoy proto module %s.%s not importable: %s", package, module.stem, exc)
