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
    """``fault.delay.percent`` is IST0002 with Istio's hint; ``mirrorPercent`` is validation's warning (IST0133)."""
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
    assert sorted(f"{m.code} {m.text}" for m in msgs) == [
        "IST0002 Deprecated: HTTPRoute.fault.delay.percent is deprecated; use HTTPRoute.fault.delay.percentage",
        'IST0133 Schema validation warning: spec.http[0].mirrorPercent: using deprecated setting "mirrorPercent", '
        'use "mirrorPercentage" instead',
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
    """DR ``consecutiveErrors`` is validation's warning; Sidecar ``egressProxy`` is ignored (IST0002).

    Istio's validation also requires the ignored egress proxy to name a port (IST0106).
    """
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
      port: {number: 80}
"""
    )
    msgs = analyze(resources(text))
    assert [f"{m.code} {m.text}" for m in msgs] == [
        "IST0002 Deprecated: OutboundTrafficPolicy.EgressProxy ignored",
        "IST0133 Schema validation warning: spec.trafficPolicy.outlierDetection.consecutiveErrors: outlier detection "
        "consecutive errors is deprecated, use consecutiveGatewayErrors or consecutive5xxErrors instead",
    ]
