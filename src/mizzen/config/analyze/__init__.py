"""Istio's configuration analyzers (``istioctl analyze``): codes, levels and message texts as Istio's.

Public API: :func:`run` (or :func:`analyze`, messages only) analyzes resources; :func:`format_log`,
:func:`format_json` and :func:`format_yaml` print messages as istioctl does; :data:`CATALOGUE` lists
every message type; :data:`ANALYZERS` every analyzer under Istio's name.

Where Mizzen deliberately differs from istioctl (docs/istio-differences.md), :func:`run` returns a note
that the CLI prints: live, the workloads are the connected proxies and the namespaces those in use
(there are no Pods or Namespace objects without Kubernetes), and secrets are not read.
"""

from .meshconfig import MeshConfig, MeshConfigError, load_mesh_config
from .messages import CATALOGUE as _CORE
from .messages import Message, MessageType
from .output import FORMATS, at_or_above, format_json, format_log, format_yaml, render
from .platform_messages import PLATFORM_CATALOGUE
from .runner import (
    ANALYZERS,
    Analysis,
    Suppression,
    SuppressionError,
    Workload,
    analyze,
    run,
)

CATALOGUE = {**_CORE, **PLATFORM_CATALOGUE}
"""Every message type Mizzen emits, by code."""

__all__ = [
    "ANALYZERS",
    "CATALOGUE",
    "FORMATS",
    "Analysis",
    "MeshConfig",
    "MeshConfigError",
    "Message",
    "MessageType",
    "Suppression",
    "SuppressionError",
    "Workload",
    "analyze",
    "at_or_above",
    "format_json",
    "format_log",
    "format_yaml",
    "load_mesh_config",
    "render",
    "run",
]
