"""Header names and values as Istio checks them before they reach Envoy.

Values may use Envoy's ``%VARIABLE%`` / ``%VARIABLE(args)%`` substitutions; a literal percent sign must
be written ``%%``. :func:`value_error` walks a value with the same state machine Envoy's header parser
uses, so a value that Envoy would NACK is rejected here first.
"""

from __future__ import annotations

import re
from collections.abc import Callable

# RFC 7230 token characters.
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~A-Za-z0-9]+")
_STRICT = re.compile(r"[-_A-Za-z0-9]+")
_PROBE = re.compile(r"[-A-Za-z0-9]+")
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
PSEUDO_HEADERS = frozenset({":method", ":scheme", ":authority", ":path", ":status"})
JWT_CLAIM_PREFIX = "@request.auth.claims"


def is_jwt_claim_route(name: str) -> bool:
    """``@request.auth.claims.sub`` / ``@request.auth.claims[sub]``: routing on a JWT claim (gateways only)."""
    if not name.lower().startswith(JWT_CLAIM_PREFIX):
        return False
    rest = name[len(JWT_CLAIM_PREFIX) :]
    return (rest.startswith(".") and len(rest) > 1) or (rest.startswith("[") and rest.endswith("]") and len(rest) > 2)


def _empty_or_invalid(name: str, pattern: re.Pattern[str]) -> str | None:
    if not name:
        return "header name cannot be empty"
    if pattern.fullmatch(name) is None:
        return f"header name {name} is not a valid header name"
    return None


def strict_name_error(name: str) -> str | None:
    """Letters, digits, '-' and '_' only (RequestAuthentication claim headers)."""
    return _empty_or_invalid(name, _STRICT)


def probe_name_error(name: str) -> str | None:
    """Letters, digits and '-' (readiness probe headers, as Kubernetes allows)."""
    return _empty_or_invalid(name, _PROBE)


def cors_name_error(name: str) -> str | None:
    """A token, or ``*`` (CORS allow/expose headers)."""
    return None if name == "*" else _empty_or_invalid(name, _TOKEN)


def match_name_error(name: str) -> str | None:
    """Header match keys: a token, a pseudo-header, or a JWT claim route."""
    if not name:
        return "header name cannot be empty"
    if is_jwt_claim_route(name) or name in PSEUDO_HEADERS:
        return None
    return _empty_or_invalid(name, _TOKEN)


def _internal(name: str) -> bool:
    return name.startswith(":") or name.lower() == "host"


def is_authority(name: str) -> bool:
    """``:authority`` or ``host``, which name the same header."""
    return name.lower() in (":authority", "host")


def request_set_name_error(name: str) -> str | None:
    """Request ``set``/``add``: pseudo-headers cannot be written, except the authority."""
    if not name:
        return "header name cannot be empty"
    if _internal(name) and not is_authority(name):
        return f'invalid header "{name}": header cannot have ":" prefix'
    return None


def edit_name_error(name: str) -> str | None:
    """Request ``remove`` and every response edit: no pseudo-headers, no Host."""
    if not name:
        return "header name cannot be empty"
    if name.lower() == "host":
        return f'invalid header "{name}": cannot set Host header'
    if _internal(name):
        return f'invalid header "{name}": header cannot have ":" prefix'
    return None


def value_error(value: str) -> str | None:
    """Why Envoy would reject a header value, or ``None``."""
    if _CONTROL.search(value):
        return f"header value configuration {value} is invalid"
    problem = _formatter_error(value)
    return f"header value configuration: {problem}" if problem else None


# Theory of operation: one state per position in Envoy's grammar; each step reads one character and
# returns (next state, characters to skip, error). Only the literal and string states look ahead.
_LITERAL, _NAME, _ARRAY, _STRING, _IN_STRING, _DELIM, _ARGS_END, _VAR_END = range(8)
_Step = tuple[int, int, str | None]


def _literal(ch: str, nxt: str | None) -> _Step:
    if ch != "%":
        return _LITERAL, 0, None
    if nxt is None:
        return _LITERAL, 0, "invalid header configuration. Un-escaped %"
    return (_LITERAL, 1, None) if nxt == "%" else (_NAME, 0, None)


def _in_string(ch: str, nxt: str | None) -> _Step:
    if ch == "\\":
        if nxt is None:
            return _IN_STRING, 0, "invalid header configuration. Un-terminated backslash in JSON string"
        return _IN_STRING, 1, None
    return {")": (_VAR_END, 0, None), '"': (_DELIM, 0, None)}.get(ch, (_IN_STRING, 0, None))


def _expect(ch: str, moves: dict[str, int], stay: int, error: str) -> _Step:
    if ch in moves:
        return moves[ch], 0, None
    return (stay, 0, None) if ch == " " else (stay, 0, error)


_STEPS: dict[int, Callable[[str, str | None], _Step]] = {
    _LITERAL: _literal,
    _NAME: lambda ch, _: ({"%": _LITERAL, "(": _ARRAY}.get(ch, _NAME), 0, None),
    _ARRAY: lambda ch, _: (_STRING if ch == "[" else (_ARRAY if ch == " " else _IN_STRING), 0, None),
    _DELIM: lambda ch, _: _expect(
        ch, {",": _STRING, "]": _ARGS_END}, _DELIM, "invalid header configuration. Expecting ',', ']', or whitespace"
    ),
    _STRING: lambda ch, _: _expect(ch, {'"': _IN_STRING}, _STRING, "invalid header configuration. Expecting '\"'"),
    _IN_STRING: _in_string,
    _ARGS_END: lambda ch, _: _expect(
        ch, {")": _VAR_END}, _ARGS_END, "invalid header configuration. Expecting ')' or whitespace"
    ),
    _VAR_END: lambda ch, _: _expect(
        ch, {"%": _LITERAL}, _VAR_END, "invalid header configuration. Expecting '%' or whitespace after"
    ),
}


def _formatter_error(value: str) -> str | None:
    state, pos = _LITERAL, 0
    while pos < len(value):
        nxt = value[pos + 1] if pos + 1 < len(value) else None
        state, skip, error = _STEPS[state](value[pos], nxt)
        if error is not None:
            return error
        pos += 1 + skip
    if state != _LITERAL:
        return f"invalid header configuration. Un-terminated variable expression '{value}'"
    return None
