"""A tiny YAML-to-Resource helper for analyzer tests, independent of the full loader.

It records the line of every field path the way the loader does, so tests can pin the line an
analyzer points at. Documents of kinds outside the kind table are dropped, as the loader skips them.
"""

from __future__ import annotations

from typing import Any

import yaml

from mizzen.config.analyze import Message
from mizzen.config.kinds import by_kind
from mizzen.config.loader import Skipped, load_text
from mizzen.config.resource import Metadata, Origin, Resource


def _walk(node: yaml.Node, path: str, lines: dict[str, int]) -> Any:
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        out: dict[str, Any] = {}
        for key, value in node.value:
            child = f"{path}.{key.value}" if path else str(key.value)
            lines[child] = key.start_mark.line + 1
            out[str(key.value)] = _walk(value, child, lines)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_walk(item, f"{path}[{i}]", lines) for i, item in enumerate(node.value)]
    return yaml.constructor.SafeConstructor().construct_object(node, deep=True)


def resources(text: str, file: str = "test.yaml") -> list[Resource]:
    """Resources from a multi-document YAML string."""
    out: list[Resource] = []
    for node in yaml.compose_all(text):
        if node is None:
            continue
        lines: dict[str, int] = {}
        doc = _walk(node, "", lines)
        if not isinstance(doc, dict) or by_kind(doc.get("kind", "")) is None:
            continue
        meta = doc.get("metadata", {})
        body = doc.get("spec", {}) or {}
        out.append(
            Resource(
                doc["apiVersion"],
                doc["kind"],
                Metadata(
                    meta["name"], meta.get("namespace", "default"), meta.get("labels", {}), meta.get("annotations", {})
                ),
                body,
                Origin(file, lines),
            )
        )
    return out


def kube_objects(text: str, file: str = "test.yaml") -> list[Skipped]:
    """The Kubernetes objects (Pods, Deployments, Namespaces...) of a YAML string, as the loader skips them."""
    return load_text(text, file).skipped


def codes(messages: list[Message]) -> list[str]:
    """The codes of messages, in order."""
    return [m.code for m in messages]


def lines(messages: list[Message]) -> list[str]:
    """istioctl log lines without the trailing newline."""
    return [m.log_line() for m in messages]
