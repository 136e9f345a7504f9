"""DestinationRule analyzers: unknown hosts, subsets selecting nothing, TLS without CA certificates."""

from __future__ import annotations

from mizzen.config.analyze import Workload, analyze

from .helpers import codes, resources

SERVICE = """
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
---"""

DR = """
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
  - name: v4
    labels:
      version: v4
---"""

ENTRY = """
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata:
  name: reviews-v1
spec:
  address: 127.0.0.1
  labels:
    app: reviews
    version: v1
---"""


def test_unknown_host_is_a_warning() -> None:
    """IST0174 for a DR whose host matches no Service or ServiceEntry (istio.io's example)."""
    msgs = analyze(resources(DR.replace("host: reviews", "host: reveiws")))
    assert [m.log_line() for m in msgs] == [
        "Warning [IST0174] (DestinationRule default/reviews test.yaml:7) The host reveiws defined in the "
        "DestinationRule does not match any services in the mesh."
    ]


def test_subsets_are_checked_against_the_pods_in_the_input() -> None:
    """As istioctl: with no pod in the input, every subset selects nothing (IST0173), files only or not."""
    msgs = analyze(resources(SERVICE + DR), files_only=True)
    assert [(m.code, m.text.split(" defined")[0]) for m in msgs] == [
        ("IST0173", "The Subset v1"),
        ("IST0173", "The Subset v4"),
    ]


def test_subset_selecting_no_workload_entry() -> None:
    """IST0173 for the subset no WorkloadEntry matches (service selector merged with subset labels)."""
    msgs = analyze(resources(SERVICE + DR + ENTRY))
    assert [m.text for m in msgs] == [
        "The Subset v4 defined in the DestinationRule does not select any pods. Which may lead to 503 UH "
        "(NoHealthyUpstream)."
    ]
    assert msgs[0].level == "Error"


def test_a_services_selector_does_not_narrow_its_subsets() -> None:
    """As istioctl: a Service stands for a ServiceEntry without workload selector, so any pod with the
    subset's labels counts, even one of another app; a ServiceEntry's workloadSelector does narrow them."""
    workloads = [
        Workload("ratings-v1", "default", {"app": "ratings", "version": "v1"}),
        Workload("reviews-v4", "default", {"app": "reviews", "version": "v4"}),
    ]
    assert analyze(resources(SERVICE + DR), workloads=workloads) == []
    entry = """
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata:
  name: reviews
spec:
  hosts: [reviews.example.com]
  ports: [{number: 80, name: http, protocol: HTTP}]
  resolution: STATIC
  workloadSelector: {labels: {app: reviews}}
---"""
    msgs = analyze(resources(entry + DR.replace("host: reviews", "host: reviews.example.com")), workloads=workloads)
    assert [m.text.split(" defined")[0] for m in msgs] == ["The Subset v1"]


def test_simple_tls_without_ca_certificates() -> None:
    """IST0128 at destination level and IST0129 at port level, in istio.io's wording."""
    tls = (
        SERVICE
        + """
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: db-tls
spec:
  host: reviews
  trafficPolicy:
    tls:
      mode: SIMPLE
    portLevelSettings:
    - port:
        number: 443
      tls:
        mode: MUTUAL
        clientCertificate: /etc/certs/c.pem
        privateKey: /etc/certs/key.pem
"""
    )
    msgs = analyze(resources(tls))
    assert codes(msgs) == ["IST0128", "IST0129"]
    assert msgs[0].text == (
        "DestinationRule default/db-tls in namespace default has TLS mode set to SIMPLE but no "
        "caCertificates are set to validate server identity for host: reviews"
    )
    assert msgs[1].text.endswith("for host: reviews at port number:443")


def test_tls_with_ca_certificates_or_istio_mutual_is_fine() -> None:
    """No IST0128/IST0129 with caCertificates, ISTIO_MUTUAL, or a credentialName in a DR with a workload selector."""
    tls = (
        SERVICE
        + """
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: ok
spec:
  host: reviews
  workloadSelector:
    matchLabels: {app: productpage}
  trafficPolicy:
    tls:
      mode: SIMPLE
      caCertificates: /etc/ca.pem
    portLevelSettings:
    - port:
        number: 443
      tls:
        mode: ISTIO_MUTUAL
    - port:
        number: 444
      tls:
        mode: MUTUAL
        credentialName: client-cred
"""
    )
    assert analyze(resources(tls)) == []
    without_selector = "\n".join(
        line for line in tls.splitlines() if "workloadSelector" not in line and "matchLabels" not in line
    )
    assert codes(analyze(resources(without_selector))) == ["IST0129"]
