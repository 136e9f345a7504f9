"""IST0106 / IST0133: validation problems reported as analysis messages."""

from __future__ import annotations

from mizzen.config.analyze import analyze
from mizzen.config.analyze.schema import violation_messages
from mizzen.config.report import Violation

from .helpers import codes, resources

TEXT = """apiVersion: v1
kind: Service
metadata:
  name: reviews
spec:
  ports:
  - port: 9080
    name: http
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: r
spec:
  hosts: [reviews]
  http:
  - route:
    - destination:
        host: reviews
      weigth: 3
"""


def test_schema_error_is_ist0106_at_the_field_line() -> None:
    """A misspelt field is IST0106 with the field path and the validator's message, at that field's line."""
    msgs = analyze(resources(TEXT, "r.yaml"))
    assert [m.log_line() for m in msgs] == [
        "Error [IST0106] (VirtualService default/r r.yaml:20) Schema validation error: "
        'spec.http[0].route[0].weigth: unknown field "weigth"; did you mean "weight"?'
    ]


def test_valid_resources_have_no_schema_messages() -> None:
    """A correct VirtualService produces no IST0106."""
    assert analyze(resources(TEXT.replace("      weigth: 3\n", ""))) == []


def test_loader_violations_become_messages_and_unattributed_ones_are_dropped() -> None:
    """Loader problems naming a resource become IST0106/IST0133; parse errors without a resource do not."""
    found = [
        Violation("MZ1001", 'unknown field "extra"', "extra", "error", "a.yaml", 3, "VirtualService default/r"),
        Violation("MZ9999", "something odd", "", "warning", "a.yaml", 4, "Gateway istio-system/gw"),
        Violation("MZ0001", "yaml: bad indentation", "", "error", "b.yaml", 2, ""),
    ]
    msgs = violation_messages(found)
    assert codes(msgs) == ["IST0106", "IST0133"]
    assert msgs[1].log_line() == (
        "Warning [IST0133] (Gateway istio-system/gw a.yaml:4) Schema validation warning: something odd"
    )
    assert codes(analyze([], extra_messages=msgs, namespace="default")) == ["IST0106"]
