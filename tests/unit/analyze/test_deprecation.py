"""IST0002: deprecated or ignored fields."""

from __future__ import annotations

from mizzen.config.analyze import analyze

from .helpers import resources

SERVICE = """
apiVersion: v1
kind: Service
metadata:
  name: ratings
spec:
  ports:
  - port: 9080
    name: http
---"""


def test_fault_delay_percent_is_deprecated() -> None:
    """``fault.delay.percent`` is IST0002 with Istio's replacement hint."""
    text = (
        SERVICE
        + """
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: ratings
spec:
  hosts: [ratings]
  http:
  - fault:
      delay:
        percent: 10
        fixedDelay: 5s
    mirrorPercent: 5
    route:
    - destination:
        host: ratings
"""
    )
    msgs = analyze(resources(text))
    assert sorted(m.text for m in msgs) == [
        "Deprecated: HTTPRoute.fault.delay.percent is deprecated; use HTTPRoute.fault.delay.percentage",
        "Deprecated: HTTPRoute.mirrorPercent is deprecated; use HTTPRoute.mirrorPercentage",
    ]
    assert {m.level for m in msgs} == {"Warning"}


def test_percentage_and_current_fields_are_fine() -> None:
    """``percentage`` and ``consecutive5xxErrors`` produce nothing."""
    text = (
        SERVICE
        + """
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: ratings
spec:
  hosts: [ratings]
  http:
  - fault:
      delay:
        percentage:
          value: 10
        fixedDelay: 5s
    route:
    - destination:
        host: ratings
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: ratings
spec:
  host: ratings
  trafficPolicy:
    outlierDetection:
      consecutive5xxErrors: 3
"""
    )
    assert analyze(resources(text)) == []


def test_consecutive_errors_and_egress_proxy() -> None:
    """DR ``consecutiveErrors`` is deprecated; Sidecar ``egressProxy`` is ignored."""
    text = (
        SERVICE
        + """
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: ratings
spec:
  host: ratings
  trafficPolicy:
    outlierDetection:
      consecutiveErrors: 3
---
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata:
  name: default
spec:
  outboundTrafficPolicy:
    mode: ALLOW_ANY
    egressProxy:
      host: egress
"""
    )
    msgs = analyze(resources(text))
    assert [m.text for m in msgs] == [
        "Deprecated: OutlierDetection.consecutiveErrors is deprecated; use OutlierDetection.consecutive5xxErrors",
        "Deprecated: OutboundTrafficPolicy.EgressProxy ignored",
    ]
