"""VirtualService delegation: a root rule's ``delegate`` replaced by the delegate VirtualService's rules.

A delegate is a VirtualService without ``hosts``, named by ``delegate.name``/``namespace``. Each of its
rules is merged with the root rule's matches: the delegate's conditions apply within the root's (its URI
must extend the root's prefix, its headers may not contradict the root's); a rule whose match falls
outside the root's is dropped, as Istio drops it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, fields, replace

from mizzen.config.models import Typed, VirtualService
from mizzen.config.models.common import StringMatch
from mizzen.config.models.virtual_service import Delegate, HTTPMatchRequest, HTTPRoute
from mizzen.translate.scope import Scope


@dataclass(frozen=True)
class Rule:
    """One HTTP rule with the VirtualService it came from (delegates keep their own namespace)."""

    route: HTTPRoute
    vs: Typed[VirtualService]


def flatten(scope: Scope, vs: Typed[VirtualService]) -> Iterator[Rule]:
    """The VS's rules with ``delegate`` rules replaced by the delegate's rules (matches merged)."""
    for route in vs.spec.http:
        ref = route.delegate
        if ref is None or ref == Delegate():
            yield Rule(route, vs)
            continue
        delegate = _find_vs(scope, ref.name or "", ref.namespace or vs.namespace)
        if delegate is None:
            continue
        for child in delegate.spec.http:
            merged = _merge_delegate(route, child)
            if merged is not None:
                yield Rule(merged, delegate)


def _find_vs(scope: Scope, name: str, namespace: str) -> Typed[VirtualService] | None:
    for r in scope.mesh.virtual_services:
        if r.name == name and r.namespace == namespace and not r.spec.hosts:
            return r
    return None


def _merge_delegate(root: HTTPRoute, child: HTTPRoute) -> HTTPRoute | None:
    root_matches = root.match or (HTTPMatchRequest(),)
    child_matches = child.match or (HTTPMatchRequest(),)
    merged = [m for r in root_matches for c in child_matches if (m := _merge_match(r, c)) is not None]
    return replace(child, match=tuple(merged)) if merged else None


def _is_set(value: object) -> bool:
    """Whether a delegate's match field says anything (unset or empty fields leave the root's)."""
    return value is not None and value != {} and value != () and value != StringMatch()


def _merge_match(root: HTTPMatchRequest, child: HTTPMatchRequest) -> HTTPMatchRequest | None:
    """A delegate's match within the root's: the child's conditions over the root's, ``None`` when
    the child's match is not within the root's (Istio drops that route)."""
    ru, cu = root.uri, child.uri
    if ru is not None and cu is not None and _is_set(ru) and _is_set(cu):
        if ru.regex is not None or cu.regex is not None or not _uri_value(cu).startswith(_uri_value(ru)):
            return None
        if ru.exact is not None and cu != ru:
            return None
    pairs = (
        (root.headers, child.headers),
        (root.query_params, child.query_params),
        (root.without_headers, child.without_headers),
    )
    if any(_conflict(a, b) for a, b in pairs):
        return None
    # Every other field: the delegate's when it sets one, else the root's (a JSON merge, field by field).
    picked = {f.name: getattr(child if _is_set(getattr(child, f.name)) else root, f.name) for f in fields(child)}
    merged = replace(child, **picked)
    return replace(
        merged,
        headers={**root.headers, **child.headers},
        query_params={**root.query_params, **child.query_params},
        without_headers={**root.without_headers, **child.without_headers},
    )


def _conflict(root: Mapping[str, StringMatch], child: Mapping[str, StringMatch]) -> bool:
    """A delegate condition on a key the root also conditions, with a different match."""
    return any(k in root and root[k] != v for k, v in child.items())


def _uri_value(uri: StringMatch) -> str:
    if uri.prefix is not None:
        return uri.prefix
    return uri.exact if uri.exact is not None else ""
