"""Label selectors: which workloads a selector picks, by kind.

The match itself is always Istio's ``labels.Instance.SubsetOf``: every selector label is present with
the same value, so an empty selector is a subset of anything. What differs by kind is what an
*absent* selector means, what an *empty* one means, and whether an empty one counts as
workload-specific when several resources compete (read from Istio's pilot and Kubernetes):

=========================================  =================  ===================  ========================
kind (field)                               absent selects     empty selects        empty ranks as
=========================================  =================  ===================  ========================
Service (``spec.selector``)                nothing            nothing              (no ranking)
ServiceEntry (``workloadSelector``)        nothing [1]_       all in namespace     (no ranking)
Gateway (``selector``)                     every gateway      every gateway        (no ranking)
Sidecar (``workloadSelector``)             all (default)      all in namespace     workload-specific [2]_
DestinationRule (``workloadSelector``)     all (catch-all)    all in namespace     workload-specific [2]_
PeerAuthentication and other security      all in namespace   all in namespace     namespace-wide [3]_
  policies (``selector.matchLabels``)
VirtualService match ``sourceLabels``      all                all                  (no ranking)
DestinationRule subset ``labels``          all endpoints      all endpoints        (no ranking)
=========================================  =================  ===================  ========================

.. [1] the ServiceEntry's endpoints are its inline ``endpoints`` instead.
.. [2] Istio tests ``WorkloadSelector != nil``: a Sidecar ``workloadSelector: {}`` is chosen before the
   namespace's selector-less Sidecar, and is never the root namespace's mesh default; a
   DestinationRule with one applies only in its own namespace.
.. [3] Istio tests ``Selector == nil || len(MatchLabels) == 0`` for the namespace/workload split.

Kubernetes drops an empty ``selector`` map (a Service without selector gets no endpoints), and
Istio's validation only warns about an empty workload selector, so both forms reach the translator.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class SelectorRule:
    """How one kind's selector picks workloads (see the table above)."""

    kind: str
    absent_selects_all: bool
    empty_selects_all: bool
    empty_is_workload_specific: bool = False


SERVICE = SelectorRule("Service", absent_selects_all=False, empty_selects_all=False)
SERVICE_ENTRY = SelectorRule("ServiceEntry", absent_selects_all=False, empty_selects_all=True)
GATEWAY = SelectorRule("Gateway", absent_selects_all=True, empty_selects_all=True)
SIDECAR = SelectorRule("Sidecar", absent_selects_all=True, empty_selects_all=True, empty_is_workload_specific=True)
DESTINATION_RULE = SelectorRule(
    "DestinationRule", absent_selects_all=True, empty_selects_all=True, empty_is_workload_specific=True
)
POLICY = SelectorRule("PeerAuthentication", absent_selects_all=True, empty_selects_all=True)
SOURCE_LABELS = SelectorRule("VirtualService.sourceLabels", absent_selects_all=True, empty_selects_all=True)
SUBSET = SelectorRule("DestinationRule.subset", absent_selects_all=True, empty_selects_all=True)


def subset_of(selector: Mapping[str, str], labels: Mapping[str, str]) -> bool:
    """Istio's ``SubsetOf``: every selector label is in ``labels`` with the same value."""
    return all(labels.get(k) == v for k, v in selector.items())


def selects(rule: SelectorRule, selector: Mapping[str, str] | None, labels: Mapping[str, str]) -> bool:
    """Whether a ``rule``-kind selector (``None`` = absent) picks a workload with ``labels``."""
    if selector is None:
        return rule.absent_selects_all
    if not selector:
        return rule.empty_selects_all
    return subset_of(selector, labels)


def workload_specific(rule: SelectorRule, selector: Mapping[str, str] | None) -> bool:
    """Whether a selector makes its resource workload-specific (it then outranks namespace-wide ones)."""
    if selector is None:
        return False
    return bool(selector) or rule.empty_is_workload_specific
