"""Istio's configuration analyzers (``istioctl analyze``): codes, levels and message texts as Istio's.

Public API: :func:`analyze` returns :class:`Message` objects; :func:`format_log`,
:func:`format_json` and :func:`format_yaml` print them as istioctl does; :data:`CATALOGUE`
lists every message type.
"""

from .messages import CATALOGUE, Message, MessageType
from .output import FORMATS, at_or_above, format_json, format_log, format_yaml, render
from .runner import ANALYZERS, Suppression, SuppressionError, analyze

__all__ = [
    "ANALYZERS",
    "CATALOGUE",
    "FORMATS",
    "Message",
    "MessageType",
    "Suppression",
    "SuppressionError",
    "analyze",
    "at_or_above",
    "format_json",
    "format_log",
    "format_yaml",
    "render",
]
