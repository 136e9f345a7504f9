"""IST0130 / IST0131: unreachable VirtualService rules and repeated matches."""

from __future__ import annotations

from mizzen.config.analyze import analyze

from .helpers import codes, resources

HEAD = """apiVersion: v1
kind: Service
metadata:
  name: details
spec:
  ports:
  - port: 9080
    name: http
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: details
spec:
  hosts: [details]
"""


def test_second_rule_without_match_is_unreachable() -> None:
    """Two catch-all rules: the second is IST0130 "only the last rule can have no matches" (Bookinfo's case)."""
    text = (
        HEAD
        + """  http:
  - fault:
      abort:
        httpStatus: 555
        percentage:
          value: 100
    route:
    - destination:
        host: details
  - route:
    - destination:
        host: details
"""
    )
    msgs = analyze(resources(text, "fault.yaml"))
    assert [m.log_line() for m in msgs] == [
        "Warning [IST0130] (VirtualService default/details fault.yaml:25) VirtualService rule #1 not used "
        "(only the last rule can have no matches)."
    ]


def test_rule_after_catch_all_is_unreachable() -> None:
    """A rule with matches after a rule without any is IST0130 "route without matches defined before"."""
    text = (
        HEAD
        + """  http:
  - route:
    - destination:
        host: details
  - name: late
    match:
    - uri:
        prefix: /a
    - uri:
        prefix: /b
    route:
    - destination:
        host: details
"""
    )
    msgs = analyze(resources(text))
    assert [m.text for m in msgs] == ['VirtualService rule "late" not used (route without matches defined before).']


def test_duplicate_match_is_ineffective_and_rule_unreachable() -> None:
    """A rule whose only match repeats an earlier one: IST0131 for the match and IST0130 for the rule."""
    text = (
        HEAD
        + """  http:
  - match:
    - uri:
        exact: /a
    route:
    - destination:
        host: details
  - name: again
    match:
    - name: m
      uri:
        exact: /a
    route:
    - destination:
        host: details
"""
    )
    msgs = analyze(resources(text))
    assert codes(msgs) == ["IST0130", "IST0131"]
    assert msgs[0].text == 'VirtualService rule "again" not used (all matches used by prior rules).'
    assert msgs[1].text == 'VirtualService rule "again" match "m" is not used (duplicate/overlapping match in rule #0).'


def test_partly_duplicated_rule_is_only_ineffective() -> None:
    """A rule with one new and one repeated match keeps its rule; only the repeated match is IST0131 (Info)."""
    text = (
        HEAD
        + """  http:
  - match:
    - uri:
        exact: /a
    route:
    - destination:
        host: details
  - match:
    - uri:
        exact: /b
    - uri:
        exact: /a
    route:
    - destination:
        host: details
"""
    )
    msgs = analyze(resources(text))
    assert [m.text for m in msgs] == [
        "VirtualService rule #1 match #1 is not used (duplicate/overlapping match in rule #0)."
    ]
    assert msgs[0].level == "Info"


def test_distinct_matches_and_single_trailing_catch_all_are_fine() -> None:
    """Different matches followed by one catch-all produce nothing (http and tcp)."""
    text = (
        HEAD
        + """  http:
  - match:
    - uri:
        exact: /a
    route:
    - destination:
        host: details
  - match:
    - headers:
        end-user:
          exact: jason
    route:
    - destination:
        host: details
  - route:
    - destination:
        host: details
  tcp:
  - match:
    - port: 9080
    route:
    - destination:
        host: details
  - route:
    - destination:
        host: details
"""
    )
    assert analyze(resources(text)) == []
