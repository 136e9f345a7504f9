"""VirtualService analyzers: destinations, subsets, gateways, mesh host conflicts, ingress subsets."""

from __future__ import annotations

from typing import Any

from mizzen.config import analyze as analyzers
from mizzen.config.analyze import Message
from mizzen.config.resource import Resource

from .helpers import codes, kube_objects, lines, resources

REVIEWS_POD = """
apiVersion: v1
kind: Pod
metadata:
  name: reviews-v1
  labels: {app: reviews, version: v1}
spec:
  containers: [{name: reviews, image: reviews}]
"""


def analyze(rs: list[Resource], **kwargs: Any) -> list[Message]:
    """Files-only analysis (istioctl's default ingress gateway assumed) with a reviews v1 pod running."""
    return analyzers.analyze(rs, skipped=kube_objects(REVIEWS_POD), files_only=True, **kwargs)


REVIEWS = """
apiVersion: v1
kind: Service
metadata:
  name: reviews
spec:
  selector:
    app: reviews
  ports:
  - port: 9080
    name: http
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: reviews
spec:
  host: reviews
  subsets:
  - name: v1
    labels:
      version: v1
"""

MULTI_PORT = """
apiVersion: v1
kind: Service
metadata:
  name: multi
spec:
  ports:
  - port: 8080
    name: http
  - port: 9090
    name: grpc
"""


def vs(body: str, name: str = "reviews", extra: str = "") -> str:
    return f"""
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: {name}
spec:
{body}
---{extra}
"""


def test_unknown_destination_host_is_reported_at_its_line() -> None:
    """A route to a host no Service or ServiceEntry defines is IST0101 "host" at the host's line."""
    text = vs("  hosts: [reviews]\n  http:\n  - route:\n    - destination:\n        host: reviews-bogus\n")
    msgs = analyze(resources(text, "reviews.yaml"))
    assert lines(msgs) == [
        'Error [IST0101] (VirtualService default/reviews reviews.yaml:11) Referenced host not found: "reviews-bogus"'
    ]


def test_known_destination_hosts_produce_nothing() -> None:
    """Short names, FQDNs and ServiceEntry hosts (also wildcard ones) all resolve."""
    se = """
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata:
  name: ext
spec:
  hosts: ["*.example.com"]
  addresses: [10.0.0.1]
  ports:
  - number: 80
    name: http
    protocol: HTTP
"""
    text = (
        REVIEWS
        + "---"
        + se
        + "---"
        + vs(
            "  hosts: [reviews]\n  http:\n  - route:\n    - destination:\n        host: reviews\n"
            "      weight: 50\n    - destination:\n        host: reviews.default.svc.cluster.local\n"
            "      weight: 40\n    - destination:\n        host: api.example.com\n      weight: 10\n"
        )
    )
    assert analyze(resources(text)) == []


def test_short_name_resolves_in_the_virtualservice_namespace() -> None:
    """``reviews`` in a VS of namespace ``other`` means reviews.other, which does not exist."""
    text = REVIEWS + "---" + vs("  hosts: [x]\n  http:\n  - route:\n    - destination:\n        host: reviews\n")
    text = text.replace("name: reviews\nspec:\n  hosts", "name: reviews\n  namespace: other\nspec:\n  hosts")
    msgs = analyze(resources(text))
    assert [m.text for m in msgs] == ['Referenced host not found: "reviews"']


def test_mirror_host_not_found() -> None:
    """An unknown mirror host is IST0101 "mirror host"."""
    text = (
        REVIEWS
        + "---"
        + vs(
            "  hosts: [reviews]\n  http:\n  - route:\n    - destination:\n        host: reviews\n"
            "    mirror:\n      host: shadow\n"
        )
    )
    assert [m.text for m in analyze(resources(text))] == ['Referenced mirror host not found: "shadow"']


def test_destination_port_not_on_service() -> None:
    """A destination port the service does not expose is IST0101 "host:port"."""
    text = (
        REVIEWS
        + "---"
        + vs(
            "  hosts: [reviews]\n  http:\n  - route:\n    - destination:\n        host: reviews\n"
            "        port:\n          number: 9081\n"
        )
    )
    assert [m.text for m in analyze(resources(text))] == ['Referenced host:port not found: "reviews:9081"']


def test_multi_port_service_needs_destination_port() -> None:
    """IST0112 when the destination service has several ports and the route names none."""
    text = (
        MULTI_PORT
        + "---"
        + vs("  hosts: [multi]\n  http:\n  - route:\n    - destination:\n        host: multi\n", name="multi")
    )
    msgs = analyze(resources(text))
    assert codes(msgs) == ["IST0112"]
    assert msgs[0].text == (
        'This VirtualService routes to a service "multi" that exposes multiple ports [8080 9090]. '
        "Specifying a port in the destination is required to disambiguate."
    )


def test_multi_port_service_with_destination_port_is_fine() -> None:
    """No IST0112 when the destination names one of the ports."""
    text = (
        MULTI_PORT
        + "---"
        + vs(
            "  hosts: [multi]\n  http:\n  - route:\n    - destination:\n        host: multi\n"
            "        port:\n          number: 9090\n",
            name="multi",
        )
    )
    assert analyze(resources(text)) == []


def test_subset_not_in_destination_rule() -> None:
    """A subset no DestinationRule defines for the host is IST0101 "host+subset in destinationrule"."""
    text = (
        REVIEWS
        + "---"
        + vs("  hosts: [reviews]\n  http:\n  - route:\n    - destination:\n        host: reviews\n        subset: v9\n")
    )
    assert [m.text for m in analyze(resources(text))] == [
        'Referenced host+subset in destinationrule not found: "reviews+v9"'
    ]


def test_defined_subset_matches_across_short_and_full_names() -> None:
    """A DR for ``reviews`` defines the subset for a route to ``reviews.default.svc.cluster.local``."""
    text = (
        REVIEWS
        + "---"
        + vs(
            "  hosts: [reviews]\n  http:\n  - route:\n    - destination:\n"
            "        host: reviews.default.svc.cluster.local\n        subset: v1\n"
        )
    )
    assert analyze(resources(text)) == []


def test_mirror_subset_not_in_destination_rule() -> None:
    """A mirror subset that no DR defines is IST0101 "mirror+subset in destinationrule"."""
    text = (
        REVIEWS
        + "---"
        + vs(
            "  hosts: [reviews]\n  http:\n  - route:\n    - destination:\n        host: reviews\n"
            "    mirror:\n      host: reviews\n      subset: v2\n"
        )
    )
    assert [m.text for m in analyze(resources(text))] == [
        'Referenced mirror+subset in destinationrule not found: "reviews+v2"'
    ]


GATEWAY = """
apiVersion: networking.istio.io/v1
kind: Gateway
metadata:
  name: gw
spec:
  selector:
    istio: ingressgateway
  servers:
  - port:
      number: 80
      name: http
      protocol: HTTP
    hosts: ["bookinfo.example.com"]
"""


def test_missing_gateway_is_reported_with_host_not_in_gateway() -> None:
    """A VS bound to a Gateway that does not exist gets IST0101 "gateway" (and IST0132, as istioctl does)."""
    text = (
        REVIEWS
        + "---"
        + vs(
            "  hosts: [bookinfo.example.com]\n  gateways: [nope]\n  http:\n  - route:\n    - destination:\n"
            "        host: reviews\n"
        )
    )
    msgs = analyze(resources(text))
    assert [m.text for m in msgs] == [
        'Referenced gateway not found: "nope"',
        "one or more host [bookinfo.example.com] defined in VirtualService default/reviews not found in Gateway "
        "default/nope.",
    ]


def test_vs_host_not_in_gateway_servers() -> None:
    """IST0132 when no server host of the bound Gateway covers any VS host."""
    text = (
        REVIEWS
        + "---"
        + GATEWAY
        + "---"
        + vs("  hosts: [wrong.com]\n  gateways: [gw]\n  http:\n  - route:\n    - destination:\n        host: reviews\n")
    )
    msgs = analyze(resources(text))
    assert codes(msgs) == ["IST0132"]
    assert msgs[0].text == (
        "one or more host [wrong.com] defined in VirtualService default/reviews not found in Gateway default/gw."
    )


def test_vs_bound_to_existing_gateway_with_matching_host_is_fine() -> None:
    """Gateway ``ns/name`` references, ``mesh`` and wildcard server hosts produce nothing."""
    gw = GATEWAY.replace('["bookinfo.example.com"]', '["*/*.example.com"]')
    text = (
        REVIEWS
        + "---"
        + gw
        + "---"
        + vs(
            "  hosts: [bookinfo.example.com]\n  gateways: [default/gw, mesh]\n  http:\n  - route:\n"
            "    - destination:\n        host: reviews\n"
        )
    )
    assert analyze(resources(text)) == []


def test_two_mesh_virtualservices_for_one_host_conflict() -> None:
    """IST0109 on both VirtualServices bound to ``mesh`` that define the same host."""
    body = "  hosts: [reviews]\n  http:\n  - route:\n    - destination:\n        host: reviews\n"
    text = REVIEWS + "---" + vs(body, name="a") + vs(body, name="b")
    msgs = analyze(resources(text))
    assert codes(msgs) == ["IST0109", "IST0109"]
    assert msgs[0].text == (
        "The VirtualServices default/a,default/b associated with mesh gateway define the same host "
        "*/reviews.default.svc.cluster.local which can lead to undefined behavior. This can be fixed by merging "
        "the conflicting VirtualServices into a single resource."
    )


def test_same_host_on_gateway_and_mesh_or_private_scopes_does_not_conflict() -> None:
    """No IST0109 when one VS is bound only to a gateway, or exportTo scopes differ."""
    body = "  hosts: [reviews]\n  http:\n  - route:\n    - destination:\n        host: reviews\n"
    gw_body = "  hosts: [reviews]\n  gateways: [gw]\n  http:\n  - route:\n    - destination:\n        host: reviews\n"
    gw = GATEWAY.replace('["bookinfo.example.com"]', '["*"]')
    text = REVIEWS + "---" + gw + "---" + vs(body, name="a") + vs(gw_body, name="b")
    assert analyze(resources(text)) == []
    local = "  hosts: [reviews]\n  exportTo: ['.']\n  http:\n  - route:\n    - destination:\n        host: reviews\n"
    other = (
        REVIEWS
        + "---"
        + vs(local, name="a")
        + vs(local, name="b").replace("name: b\n", "name: b\n  namespace: team2\n")
    )
    assert "IST0109" not in codes(analyze(resources(other)))


def test_gateway_route_without_subset_while_mesh_uses_subsets() -> None:
    """IST0140: the ingress VS ignores the subset split another VS defines for the same host."""
    gw = GATEWAY.replace('["bookinfo.example.com"]', '["*"]')
    mesh = "  hosts: [reviews]\n  http:\n  - route:\n    - destination:\n        host: reviews\n        subset: v1\n"
    ingress = "  hosts: ['*']\n  gateways: [gw]\n  http:\n  - route:\n    - destination:\n        host: reviews\n"
    text = REVIEWS + "---" + gw + "---" + vs(mesh, name="reviews") + vs(ingress, name="ingress")
    msgs = analyze(resources(text))
    assert lines(msgs) == [
        "Warning [IST0140] (VirtualService default/ingress test.yaml:62) Subset in virtual service "
        "default/reviews has no effect on ingress gateway default/ingress requests"
    ]


def test_gateway_route_with_subset_is_fine() -> None:
    """No IST0140 when the ingress route itself names a subset."""
    gw = GATEWAY.replace('["bookinfo.example.com"]', '["*"]')
    mesh = "  hosts: [reviews]\n  http:\n  - route:\n    - destination:\n        host: reviews\n        subset: v1\n"
    ingress = (
        "  hosts: ['*']\n  gateways: [gw]\n  http:\n  - route:\n    - destination:\n        host: reviews\n"
        "        subset: v1\n"
    )
    text = REVIEWS + "---" + gw + "---" + vs(mesh, name="reviews") + vs(ingress, name="ingress")
    assert analyze(resources(text)) == []
