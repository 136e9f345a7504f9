"""Istio's ``envoyfilter.EnvoyPatchAnalyzer`` on EnvoyFilters (a kind Mizzen reads but does not run):
patch operations that Istio ignores for the ``applyTo`` (IST0152-IST0154) and relative operations without
a ``priority`` (IST0151), or with a ``proxyVersion`` match on a filter another patch also names (IST0155).

EnvoyFilters are visited in namespace/name order, and a filter name counts as "also named with a
proxyVersion" from the patch that names it on, as in Istio's single pass.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from . import platform_messages as pm
from .context import Context, spec_list, spec_map
from .kube import KubeObject

_ROUTE_LEVEL = frozenset({"ROUTE_CONFIGURATION", "HTTP_ROUTE"})
_REPLACEABLE = frozenset({"NETWORK_FILTER", "HTTP_FILTER", "VIRTUAL_HOST"})
_INSERTS = frozenset({"INSERT_BEFORE", "INSERT_AFTER"})


def analyze_patches(ctx: Context) -> None:
    """Check every patch of every EnvoyFilter."""
    versioned: list[str] = []
    for ef in sorted(ctx.kube("EnvoyFilter"), key=lambda o: (o.namespace, o.name)):
        for patch in spec_list(ef.spec.get("configPatches")):
            patch = spec_map(patch)
            if not isinstance(patch.get("patch"), Mapping):
                break  # as Istio: a patch without its patch section ends the EnvoyFilter's checks
            _check(ctx, ef, patch, versioned)


def _check(ctx: Context, ef: KubeObject, patch: Mapping[str, Any], versioned: list[str]) -> None:
    body, apply_to = spec_map(patch.get("patch")), str(patch.get("applyTo") or "INVALID")
    operation, name = str(body.get("operation") or "INVALID"), _instance_name(patch)
    if operation == "ADD" and apply_to in _ROUTE_LEVEL:
        ctx.report_object(pm.ENVOY_FILTER_ADD_INCORRECTLY, ef)
    elif operation == "REMOVE" and apply_to in _ROUTE_LEVEL:
        ctx.report_object(pm.ENVOY_FILTER_REMOVE_INCORRECTLY, ef)
    elif operation == "REPLACE" and apply_to not in _REPLACEABLE:
        ctx.report_object(pm.ENVOY_FILTER_REPLACE_INCORRECTLY, ef)
    elif operation in ("REMOVE", "REPLACE") or operation in _INSERTS:
        _relative(ctx, ef, name, versioned)
    if spec_map(spec_map(patch.get("match")).get("proxy")).get("proxyVersion"):
        versioned.append(name)


def _relative(ctx: Context, ef: KubeObject, name: str, versioned: list[str]) -> None:
    if _int(ef.spec.get("priority")) != 0:
        return
    with_version = name in versioned
    ctx.report_object(
        pm.ENVOY_FILTER_RELATIVE_OPERATION_WITH_PROXY_VERSION if with_version else pm.ENVOY_FILTER_RELATIVE_OPERATION,
        ef,
    )


def _instance_name(patch: Mapping[str, Any]) -> str:
    """The name a patch is about: its value's ``name`` field, else the listener filter it matches.

    The two spellings never compare equal (Istio compares a protobuf value's text form with a plain
    filter name), so they are kept apart here too.
    """
    value = spec_map(spec_map(patch.get("patch")).get("value"))
    if not value:
        return ""
    if "name" in value:
        return f"value:{value['name']!r}"
    listener = spec_map(spec_map(patch.get("match")).get("listener"))
    return str(spec_map(spec_map(listener.get("filterChain")).get("filter")).get("name") or "")


def _int(value: Any) -> int:
    if isinstance(value, bool):
        return 0
    if isinstance(value, int):
        return value
    return int(value) if isinstance(value, str) and value.lstrip("-").isdigit() else 0
