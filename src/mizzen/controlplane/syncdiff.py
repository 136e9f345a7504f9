"""Compare what the control plane would send a proxy with what its Envoy actually holds.

Both sides go through Envoy's own protos (``ParseDict`` then ``MessageToDict``) before comparing, so
field spelling, default values and ordering inside messages cannot cause false differences. Only
dynamic (xDS-delivered) clusters, listeners and route configurations are compared, as istioctl does;
endpoints and the bootstrap's static resources are not.
"""

from __future__ import annotations

import copy
import difflib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from envoy.config.cluster.v3 import cluster_pb2
from envoy.config.listener.v3 import listener_pb2
from envoy.config.route.v3 import route_pb2
from google.protobuf import json_format
from google.protobuf.message import Message

from mizzen.xds.encode import import_extensions

_SECTIONS: tuple[tuple[str, str, type[Message]], ...] = (
    ("Clusters", "clusters", cluster_pb2.Cluster),
    ("Listeners", "listeners", listener_pb2.Listener),
    ("Routes", "routes", route_pb2.RouteConfiguration),
)


@dataclass(frozen=True)
class SectionDiff:
    """The comparison of one resource type."""

    title: str  # "Clusters"
    match: bool
    diff: str  # unified diff, empty when matching
    last_loaded: str = ""  # RDS: when Envoy last loaded a route config

    def to_json(self) -> dict[str, Any]:
        """The API's JSON form of this diff."""
        return {"title": self.title, "match": self.match, "diff": self.diff, "lastLoaded": self.last_loaded}


def canonical(resource: Mapping[str, Any], message_type: type[Message]) -> Any:
    """Normalize one resource dict through its proto type."""
    import_extensions()  # nested Any values parse only with every Envoy extension type registered
    # A deep copy: json_format moves each nested Any's "@type" in the dict it parses, and the translator's
    # output shares objects between resources and proxies.
    body = copy.deepcopy({k: v for k, v in resource.items() if k != "@type"})
    msg = json_format.ParseDict(body, message_type(), ignore_unknown_fields=True)
    return json_format.MessageToDict(msg, preserving_proto_field_name=True)


def envoy_dynamic(config_dump: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Extract the xDS-delivered clusters, listeners and route configs from an admin ``/config_dump``."""
    out: dict[str, dict[str, Any]] = {"clusters": {}, "listeners": {}, "routes": {}}
    last_loaded = ""
    for cfg in config_dump.get("configs", []):
        t = "." + str(cfg.get("@type", "")).rsplit(".", 1)[-1]
        if t == ".ClustersConfigDump":
            for c in cfg.get("dynamic_active_clusters", []):
                out["clusters"][c["cluster"]["name"]] = c["cluster"]
        elif t == ".ListenersConfigDump":
            for lis in cfg.get("dynamic_listeners", []):
                state = lis.get("active_state") or lis.get("warming_state")
                if state and "listener" in state:
                    out["listeners"][lis["name"]] = state["listener"]
        elif t == ".RoutesConfigDump":
            for r in cfg.get("dynamic_route_configs", []):
                rc = r.get("route_config", {})
                out["routes"][rc.get("name", "")] = rc
                last_loaded = max(last_loaded, str(r.get("last_updated", "")))
    out["_meta"] = {"routes_last_loaded": last_loaded}
    return out


def compare(expected: Mapping[str, Mapping[str, Any]], config_dump: Mapping[str, Any]) -> list[SectionDiff]:
    """Diff the control plane's resources (``{"clusters": {name: dict}, ...}``) against Envoy's dump."""
    actual = envoy_dynamic(config_dump)
    meta = actual.pop("_meta")
    result = []
    for title, key, mtype in _SECTIONS:
        left = _render({n: canonical(r, mtype) for n, r in expected.get(key, {}).items()})
        right = _render({n: canonical(r, mtype) for n, r in actual.get(key, {}).items()})
        diff = "".join(difflib.unified_diff(left, right, fromfile=f"Mizzen {title}", tofile=f"Envoy {title}", n=7))
        result.append(
            SectionDiff(title, not diff, diff, str(meta.get("routes_last_loaded", "")) if key == "routes" else "")
        )
    return result


def _render(resources: Mapping[str, Any]) -> list[str]:
    ordered = [resources[name] for name in sorted(resources)]
    return [line + "\n" for line in json.dumps(ordered, indent=2, sort_keys=True).splitlines()]
