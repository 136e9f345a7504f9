"""PyYAML, bounded: the one module that parses YAML (``mizzen.config.loader`` keeps its own line-tracking
builder but calls :func:`check_node` first).

PyYAML's safe loader builds only plain values, but it expands aliases without limit: the 550-byte
"billion laughs" file becomes 10^9 strings for whoever walks the result. :func:`check_node` measures a
composed document's expanded size and depth on the node graph itself (each distinct node once), so a
document that would expand past :data:`mizzen.limits.MAX_YAML_EXPANDED_BYTES` (or past twice its own
text) or nest deeper than :data:`mizzen.limits.MAX_NESTING_DEPTH` fails at once, before anything is built.
"""

from __future__ import annotations

from typing import Any

import yaml

from mizzen import limits

# libyaml's parser is ~10x faster and keeps the same marks; fall back to pure Python without it.
SafeLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


# go-yaml (what kubectl and Istio parse with) ends a plain scalar inside [...] or {...} only at a blank
# or at one of these; libyaml also stops at ":" followed by one of them, and then fails with "found
# unexpected ':'" (so `[2001:db8::]`, an IPv6 prefix, is a string for Kubernetes and an error here).
_FLOW_END = frozenset(",[]{}") | frozenset(" \t\r\n")
_UNEXPECTED_COLON = "found unexpected ':'"
MAX_REQUOTES = 1000


def requote_flow_colon(text: str, exc: yaml.MarkedYAMLError) -> str | None:
    """``text`` with the plain scalar ``exc`` failed on single-quoted, as go-yaml reads it; ``None`` when
    ``exc`` is not libyaml's "unexpected ':'" in a flow collection. Lines are unchanged."""
    mark = exc.context_mark
    if exc.problem != _UNEXPECTED_COLON or mark is None or mark.index >= len(text):
        return None
    start = end = mark.index
    while end < len(text) and text[end] not in _FLOW_END and text[end : end + 2] not in (": ", ":\t", ":\n"):
        end += 1
    if end == start:
        return None
    scalar = text[start:end].replace("'", "''")
    return f"{text[:start]}'{scalar}'{text[end:]}"


YAMLError = yaml.YAMLError
"""What PyYAML raises for text that is not YAML (re-exported: callers need not import PyYAML)."""


class YamlLimitError(ValueError):
    """A YAML document is over a limit; ``line`` is 1-based, ``too_deep`` tells nesting from aliasing."""

    def __init__(self, message: str, line: int | None = None, *, too_deep: bool = False) -> None:
        super().__init__(message)
        self.line = line
        self.too_deep = too_deep


def check_node(node: yaml.Node, text_bytes: int = 0) -> None:
    """Raise :class:`YamlLimitError` when the document ``node`` would expand or nest past the limits.

    ``text_bytes`` is the document's own length: a large document without aliases is judged by the
    object size limit later, not here (it may expand to twice its text).
    """
    allowed = max(limits.MAX_YAML_EXPANDED_BYTES, limits.YAML_EXPANSION_RATIO * text_bytes)
    size, depth = _measure(node)
    line = _line(node)
    if depth > limits.MAX_NESTING_DEPTH:
        message = f"the document nests {depth} levels deep; the limit is {limits.MAX_NESTING_DEPTH}"
        raise YamlLimitError(message, line, too_deep=True)
    if size > allowed:
        raise YamlLimitError(
            f"the document expands through YAML aliases to more than {_mib(allowed)} "
            f"(about {_mib(size)}): refusing it (excessive aliasing, e.g. a 'billion laughs' file)",
            line,
        )


def load(text: str, source: str = "<string>") -> Any:
    """The single document in ``text`` as plain values (None when empty), within the limits."""
    docs = load_all(text, source)
    if len(docs) > 1:
        raise YamlLimitError(f"{source}: expected one YAML document, found {len(docs)}")
    return docs[0] if docs else None


def load_all(text: str, source: str = "<string>") -> list[Any]:
    """Every document in ``text`` as plain values, each checked against the limits first.

    Raises :class:`YamlLimitError` (over a limit) or :class:`yaml.YAMLError` (not YAML), with
    ``source`` and the line in the message.
    """
    for _ in range(MAX_REQUOTES):
        try:
            return _load_all(text, source)
        except yaml.MarkedYAMLError as exc:
            fixed = requote_flow_colon(text, exc)
            if fixed is None:
                raise
            text = fixed
    return _load_all(text, source)


def _load_all(text: str, source: str) -> list[Any]:
    loader = SafeLoader(text)
    out: list[Any] = []
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is None:
                continue
            start, end = node.start_mark.index, node.end_mark.index
            try:
                check_node(node, len(text[start:end].encode()))
            except YamlLimitError as exc:
                raise YamlLimitError(f"{source}:{exc.line}: {exc}", exc.line, too_deep=exc.too_deep) from None
            out.append(loader.construct_document(node))
    finally:
        loader.dispose()
    return out


def _measure(root: yaml.Node) -> tuple[int, int]:
    """(expanded JSON size estimate in bytes, depth) of a node graph, visiting each distinct node once.

    Iterative, so a deep graph cannot exhaust Python's stack; aliases are shared nodes, so their
    size is counted once per reference without walking them again. A node that contains itself
    (``&a [*a]``, which PyYAML composes) would expand forever and is refused.
    """
    sizes: dict[int, tuple[int, int]] = {}
    open_: set[int] = set()  # nodes whose children are being measured: the current path
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        if id(node) in sizes:
            continue
        kids = _children(node)
        if not children_done and kids:
            open_.add(id(node))
            stack.append((node, True))
            for kid in kids:
                if id(kid) in open_:
                    raise YamlLimitError("an alias refers to a node that contains it (infinite expansion)", _line(kid))
                if id(kid) not in sizes:
                    stack.append((kid, False))
            continue
        open_.discard(id(node))
        if isinstance(node, yaml.ScalarNode):
            sizes[id(node)] = (len(str(node.value)) + 3, 1)
        else:
            measured = [sizes[id(k)] for k in kids]
            size = 2 + sum(s + 1 for s, _ in measured)
            sizes[id(node)] = (size, 1 + max((d for _, d in measured), default=0))
    return sizes[id(root)]


def _line(node: yaml.Node) -> int:
    return int(node.start_mark.line) + 1


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    return []


def _mib(n: int) -> str:
    return f"{n / limits.MIB:.1f} MiB" if n >= limits.MIB else f"{n / limits.KIB:.0f} KiB"
