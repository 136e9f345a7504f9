"""Istio's configuration analyzers (``istioctl analyze``): codes, levels and message texts as Istio's.

Public API: :func:`analyze` returns :class:`Message` objects; :func:`format_log`,
:func:`format_json` and :func:`format_yaml` print them as istioctl does; :data:`CATALOGUE`
lists every message type; :data:`ANALYZERS` every analyzer (one module per resource kind).

Where Mizzen deliberately differs from istioctl (no Kubernetes, so no Pods):

- Checks that need running workloads (IST0173 subsets, Gateway/Sidecar selectors, IST0110) run only
  when workloads are known: WorkloadEntries among the resources, or label sets passed as
  ``workloads`` (``mizzen analyze --live`` passes the connected proxies). From files alone
  istioctl would report every subset as selecting no pods; Mizzen stays silent instead.
- IST0162 compares a Gateway's server ports with the Service that selects the gateway's labels
  (``port`` or ``targetPort``), when such a Service is known.
- IST0002 also covers ``mirrorPercent`` and DestinationRule ``consecutiveErrors`` (deprecated in
  Istio's API); IST0128 also looks at subset traffic policies and accepts ``credentialName``.
- Documentation links point at ``https://istio.io/latest/...`` (Mizzen has no Istio version).
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
