"""istioctl's output formats for analysis messages: ``log`` lines, ``json`` and ``yaml``."""

from __future__ import annotations

import json
from collections.abc import Sequence

import yaml

from .messages import LEVEL_ORDER, Message

FORMATS = ("log", "json", "yaml")


def format_log(messages: Sequence[Message]) -> str:
    """One ``Level [CODE] (Kind ns/name file:line) text`` line per message."""
    return "".join(f"{msg.log_line()}\n" for msg in messages)


def format_json(messages: Sequence[Message]) -> str:
    """A JSON list of ``{code, documentationUrl, level, message, origin, reference}``."""
    return json.dumps([msg.to_json() for msg in messages], indent=2) + "\n"


def format_yaml(messages: Sequence[Message]) -> str:
    """The same list as :func:`format_json`, as YAML."""
    return yaml.safe_dump([msg.to_json() for msg in messages], sort_keys=True, allow_unicode=True)


def render(messages: Sequence[Message], fmt: str) -> str:
    """Render in one of :data:`FORMATS`."""
    if fmt == "json":
        return format_json(messages)
    if fmt == "yaml":
        return format_yaml(messages)
    return format_log(messages)


def at_or_above(messages: Sequence[Message], threshold: str) -> list[Message]:
    """Messages whose level is ``threshold`` or more severe (Error > Warning > Info)."""
    limit = LEVEL_ORDER[threshold]
    return [msg for msg in messages if LEVEL_ORDER[msg.level] <= limit]
