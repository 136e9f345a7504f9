"""VirtualService ``headers`` (request/response set/add/remove) -> Envoy header operations."""

from __future__ import annotations

from dataclasses import dataclass, field

from mizzen.config.models.virtual_service import HeaderOperations, Headers
from mizzen.translate.common import JSONDict

_AUTHORITY = frozenset({"host", ":authority"})
_APPEND = (("set", "OVERWRITE_IF_EXISTS_OR_ADD"), ("add", "APPEND_IF_EXISTS_OR_ADD"))


@dataclass(frozen=True)
class HeaderOps:
    """The Envoy header-operation fields of a ``Headers`` block, and the authority it rewrites to.

    ``fields`` maps ``request_headers_to_add`` etc. to their entries, in output order.
    """

    fields: dict[str, list[object]] = field(default_factory=dict)
    authority: str = ""

    def then(self, later: HeaderOps) -> HeaderOps:
        """Route-level ops followed by destination-level ops (lists concatenated, later authority wins)."""
        fields = {k: list(v) for k, v in self.fields.items()}
        for key, entries in later.fields.items():
            fields[key] = [*fields.get(key, []), *entries]
        return HeaderOps(fields, later.authority or self.authority)

    def json(self, *, with_authority: bool = False) -> JSONDict:
        """The fields as Envoy JSON (with ``host_rewrite_literal`` last when asked and set)."""
        out: JSONDict = dict(self.fields)
        if with_authority and self.authority:
            out["host_rewrite_literal"] = self.authority
        return out


def header_ops(headers: Headers | None) -> HeaderOps:
    """The ops of a ``Headers`` block: ``set`` overwrites, ``add`` appends; a Host/:authority set or
    add becomes the authority rewrite (set wins), as in Istio. Entries are sorted by key."""
    fields: dict[str, list[object]] = {}
    authority = ""
    for direction, ops in (
        ("request", headers.request if headers else None),
        ("response", headers.response if headers else None),
    ):
        to_add, authority = _additions(direction, ops, authority)
        if to_add:
            fields[f"{direction}_headers_to_add"] = to_add
        removes = sorted(ops.remove) if ops is not None else []
        if removes:
            fields[f"{direction}_headers_to_remove"] = list(removes)
    return HeaderOps(fields, authority)


def _additions(direction: str, ops: HeaderOperations | None, authority: str) -> tuple[list[object], str]:
    to_add: list[object] = []
    if ops is None:
        return to_add, authority
    for action, append in _APPEND:
        for key, value in sorted((ops.set if action == "set" else ops.add).items()):
            if direction == "request" and key.lower() in _AUTHORITY:
                authority = authority if (authority and action == "add") else value
                continue
            to_add.append({"header": {"key": key, "value": value}, "append_action": append})
    return to_add, authority
