"""Which VirtualService rule built an Envoy route, and at which file:line it is written.

Envoy routes carry the VirtualService that built them (Istio's ``istio.config`` route metadata), not
the ``http`` rule. To name the rule without reading Istio's YAML a second way, the translator itself
is asked: the same mesh is translated once more with every ``http`` rule and match named after its
position (``mzr-<vs>-<rule>`` / ``mzm-<vs>-<match>``; a route's name is ``<rule name>.<match name>``
and names change nothing else), and the route at the same place in that output gives the position.
This runs only when a case needs it (a failure's explanation, a rule index to check, ``--explain``).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from mizzen.config.resource import Resource
from mizzen.simulate.walker import Result
from mizzen.translate.model import ProxyResources
from mizzen.translate.names import config_path

_TAG = re.compile(r"^mzr-(\d+)-(\d+)(?:\.mzm-(\d+)-(\d+))?$")


@dataclass(frozen=True)
class RouteOrigin:
    """The VirtualService (and, when known, its ``http`` rule and match) behind a route."""

    vs: Resource
    rule: int | None = None
    match: int | None = None

    @property
    def rule_name(self) -> str:
        """The rule's own ``name``, if it has one."""
        rule = self._rule()
        return str(rule.get("name", "")) if rule is not None else ""

    def _rule(self) -> Mapping[str, Any] | None:
        http = self.vs.spec.get("http")
        if self.rule is None or not isinstance(http, list) or self.rule >= len(http):
            return None
        rule = http[self.rule]
        return rule if isinstance(rule, Mapping) else None

    @property
    def path(self) -> str:
        """``spec.http[1].match[0]`` (as precise as known)."""
        if self.rule is None:
            return "spec.http"
        out = f"spec.http[{self.rule}]"
        return out + (f".match[{self.match}]" if self.match is not None else "")

    def where(self) -> str:
        """``file:line`` of the rule (or of the VirtualService)."""
        return self.vs.origin.where(self.path)

    def describe(self) -> str:
        """``VirtualService default/reviews spec.http[1] "jason" (vs.yaml:12)``."""
        name = f' "{self.rule_name}"' if self.rule_name else ""
        where = self.where()
        return f"VirtualService {self.vs.namespace}/{self.vs.name} {self.path}{name}" + (f" ({where})" if where else "")


def tag_resources(resources: Sequence[Resource]) -> tuple[list[Resource], list[Resource]]:
    """(resources with every VirtualService's rules and matches named by position, the VSs by number)."""
    out: list[Resource] = []
    vss: list[Resource] = []
    for r in resources:
        if r.kind != "VirtualService":
            out.append(r)
            continue
        n = len(vss)
        vss.append(r)
        out.append(dataclasses.replace(r, spec=_tag_spec(r.spec, n)))
    return out, vss


def _tag_spec(spec: Mapping[str, Any], n: int) -> dict[str, Any]:
    http = spec.get("http")
    if not isinstance(http, list):
        return dict(spec)
    rules = []
    for i, rule in enumerate(http):
        if not isinstance(rule, Mapping):
            rules.append(rule)
            continue
        tagged = {**rule, "name": f"mzr-{n}-{i}"}
        matches = rule.get("match")
        if isinstance(matches, list):
            tagged["match"] = [
                {**m, "name": f"mzm-{n}-{j}"} if isinstance(m, Mapping) else m for j, m in enumerate(matches)
            ]
        rules.append(tagged)
    return {**spec, "http": rules}


def route_origin(
    result: Result, tagged: ProxyResources | None, vss: Sequence[Resource], find: Callable[[str], Resource | None]
) -> RouteOrigin | None:
    """The origin of ``result``'s route: the VS from its metadata (looked up with ``find``), the rule and
    match from the tagged translation's route at the same place (when it lines up)."""
    source = result.config_source
    if not source or result.route_index < 0:
        return None
    vs = find(source)
    if vs is None:
        return None
    route = _same_route(result, tagged)
    parsed = _TAG.match(str(route.get("name", ""))) if route is not None else None
    if parsed is None or int(parsed.group(1)) >= len(vss) or vss[int(parsed.group(1))].key != vs.key:
        return RouteOrigin(vs)
    match = None
    if parsed.group(3) is not None and parsed.group(3) == parsed.group(1):
        match = int(parsed.group(4))
    return RouteOrigin(vs, int(parsed.group(2)), match)


def _same_route(result: Result, tagged: ProxyResources | None) -> Mapping[str, Any] | None:
    if tagged is None:
        return None
    rc: Mapping[str, Any] | None = tagged.routes.get(result.route_config)
    if rc is None:
        return None
    vhost = next((v for v in rc.get("virtual_hosts", []) if v.get("name") == result.vhost), None)
    routes = vhost.get("routes", []) if vhost is not None else []
    if result.route_index >= len(routes):
        return None
    route: Mapping[str, Any] = routes[result.route_index]
    # The tagged route must be the same route apart from its name, or positions did not line up.
    same = {k: v for k, v in route.items() if k != "name"} == {k: v for k, v in result.route.items() if k != "name"}
    return route if same else None


def config_path_index(vss: Sequence[Resource]) -> Callable[[str], Resource | None]:
    """A lookup from route metadata (``/apis/networking.istio.io/v1/namespaces/ns/virtual-service/name``)
    to the VirtualService resource."""
    by_path = {config_path("VirtualService", r.namespace, r.name): r for r in vss}
    return by_path.get
