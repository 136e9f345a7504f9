"""VirtualService ``corsPolicy`` -> per-route config of ``envoy.filters.http.cors``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mizzen.translate import names
from mizzen.translate.common import JSONDict, as_list, as_map, duration
from mizzen.translate.match import string_matcher


def cors_policy(cors: Mapping[str, Any]) -> JSONDict:
    """A ``CorsPolicy`` (with ``@type``); deprecated ``allowOrigin`` strings become exact matchers."""
    out: JSONDict = {"@type": names.T_CORS_POLICY}
    origins = [string_matcher(as_map(o)) for o in as_list(cors.get("allowOrigins"))]
    origins += [{"exact": str(o)} for o in as_list(cors.get("allowOrigin"))]
    origins = [o for o in origins if o is not None]
    if origins:
        out["allow_origin_string_match"] = origins
    for src, dst in (
        ("allowMethods", "allow_methods"),
        ("allowHeaders", "allow_headers"),
        ("exposeHeaders", "expose_headers"),
    ):
        values = [str(v) for v in as_list(cors.get(src))]
        if values:
            out[dst] = ",".join(values)
    max_age = duration(cors.get("maxAge"))
    if max_age is not None:
        out["max_age"] = str(int(float(max_age[:-1])))
    if "allowCredentials" in cors:
        out["allow_credentials"] = bool(cors["allowCredentials"])
    out["filter_enabled"] = {"default_value": {"numerator": 100, "denominator": "HUNDRED"}}
    out["forward_not_matching_preflights"] = str(cors.get("unmatchedPreflights", "FORWARD")) != "IGNORE"
    return out
