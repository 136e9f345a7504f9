"""VirtualService ``corsPolicy`` -> per-route config of ``envoy.filters.http.cors``."""

from __future__ import annotations

from mizzen.config.models.virtual_service import CorsPolicy
from mizzen.config.semantics import durations
from mizzen.translate import names
from mizzen.translate.common import JSONDict
from mizzen.translate.match import string_matcher


def cors_policy(cors: CorsPolicy) -> JSONDict:
    """A ``CorsPolicy`` (with ``@type``); deprecated ``allowOrigin`` strings become exact matchers."""
    out: JSONDict = {"@type": names.T_CORS_POLICY}
    origins: list[JSONDict] = [m for o in cors.allow_origins if (m := string_matcher(o)) is not None]
    origins += [{"exact": o} for o in cors.allow_origin]
    if origins:
        out["allow_origin_string_match"] = origins
    for values, dst in (
        (cors.allow_methods, "allow_methods"),
        (cors.allow_headers, "allow_headers"),
        (cors.expose_headers, "expose_headers"),
    ):
        if values:
            out[dst] = ",".join(values)
    max_age = durations.whole_seconds(cors.max_age) if cors.max_age else None
    if max_age is not None:
        out["max_age"] = str(max_age)
    if cors.allow_credentials is not None:
        out["allow_credentials"] = cors.allow_credentials
    out["filter_enabled"] = {"default_value": {"numerator": 100, "denominator": "HUNDRED"}}
    out["forward_not_matching_preflights"] = cors.unmatched_preflights != "IGNORE"
    return out
