"""The runner: Bookinfo samples, suppression, namespace filtering, ordering and output formats."""

from __future__ import annotations

import json

import pytest
import yaml

from mizzen.config.analyze import (
    ANALYZERS,
    CATALOGUE,
    Suppression,
    SuppressionError,
    Workload,
    analyze,
    at_or_above,
    format_json,
    format_log,
    format_yaml,
)
from mizzen.testing.samples import istio_samples_dir

from .helpers import codes, kube_objects, resources

SAMPLES = istio_samples_dir()
BOOKINFO = ("bookinfo.yaml", "destination-rule-all.yaml", "virtual-service-all-v1.yaml", "bookinfo-gateway.yaml")

BOGUS = """apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: reviews-bogus
spec:
  hosts: [reviews]
  http:
  - route:
    - destination:
        host: reviews-bogus
"""


def bookinfo() -> list:  # type: ignore[type-arg]
    out = []
    for name in BOOKINFO:
        out += resources((SAMPLES / name).read_text(), name)
    return out


def bookinfo_deployments() -> list:  # type: ignore[type-arg]
    return kube_objects((SAMPLES / "bookinfo.yaml").read_text(), "bookinfo.yaml")


@pytest.mark.istio_samples
def test_bookinfo_samples_offline_get_istioctls_verdict() -> None:
    """Bookinfo + all DRs + all-v1 VSs + gateway, files only (Deployments standing for their pods):
    the MySQL subsets of ratings select nothing; istioctl's IST0140; no port 8080 on the default ingress."""
    msgs = analyze(bookinfo(), skipped=bookinfo_deployments(), files_only=True, namespace="default")
    assert [f"{m.code} {m.kind} {m.name}" for m in msgs] == [
        "IST0173 DestinationRule ratings",
        "IST0173 DestinationRule ratings",
        "IST0140 VirtualService bookinfo",
        "IST0162 Gateway bookinfo-gateway",
    ]
    assert msgs[2].log_line() == (
        "Warning [IST0140] (VirtualService default/bookinfo bookinfo-gateway.yaml:41) Subset in virtual service "
        "default/productpage has no effect on ingress gateway default/bookinfo requests"
    )


@pytest.mark.istio_samples
def test_bookinfo_with_running_workloads_reports_only_undeployed_subsets() -> None:
    """With Bookinfo's workloads running, only subsets whose labels no pod has (the MySQL ones) select nothing."""
    labels = [
        {"app": "productpage", "version": "v1"},
        {"app": "details", "version": "v1"},
        {"app": "ratings", "version": "v1"},
        {"app": "istio", "istio": "ingressgateway"},
    ]
    labels += [{"app": "reviews", "version": v} for v in ("v1", "v2", "v3")]
    running = [Workload(f"w{i}", "default", lbl) for i, lbl in enumerate(labels)]
    msgs = analyze(bookinfo(), namespace="default", workloads=running)
    errors = [(m.name, m.text.split(" defined")[0]) for m in msgs if m.level == "Error"]
    # As istioctl: subset labels alone select (reviews' version=v2 pod counts for ratings' and details' v2).
    assert errors == [("ratings", "The Subset v2-mysql"), ("ratings", "The Subset v2-mysql-vm")]


def test_log_line_matches_istioctl() -> None:
    """The log line carries level, code, resource, file:line and the message."""
    msgs = analyze(resources(BOGUS, "reviews.yaml"))
    assert format_log(msgs) == (
        "Error [IST0101] (VirtualService default/reviews-bogus reviews.yaml:10) Referenced host not found: "
        '"reviews-bogus"\n'
    )


def test_json_and_yaml_shapes() -> None:
    """JSON/YAML output lists {code, documentationUrl, level, message, origin, reference}."""
    msgs = analyze(resources(BOGUS, "reviews.yaml"))
    expected = [
        {
            "code": "IST0101",
            "documentationUrl": "https://istio.io/latest/docs/reference/config/analysis/ist0101/?ref=istioctl-analyze",
            "level": "Error",
            "message": 'Referenced host not found: "reviews-bogus"',
            "origin": "VirtualService default/reviews-bogus",
            "reference": "reviews.yaml:10",
        }
    ]
    assert json.loads(format_json(msgs)) == expected
    assert yaml.safe_load(format_yaml(msgs)) == expected


def test_suppression_by_code_and_resource_pattern() -> None:
    """``CODE=Kind ns/name`` (with wildcards, or the legacy name.ns form) drops matching messages only."""
    rs = resources(BOGUS)
    assert analyze(rs, suppress=["IST0101=VirtualService default/reviews-bogus"]) == []
    assert analyze(rs, suppress=["IST01*=VirtualService *"]) == []
    assert analyze(rs, suppress=["IST0101=VirtualService reviews-bogus.default"]) == []
    assert codes(analyze(rs, suppress=["IST0102=VirtualService default/reviews-bogus"])) == ["IST0101"]
    assert codes(analyze(rs, suppress=["IST0101=Gateway default/reviews-bogus"])) == ["IST0101"]


def test_bad_suppression_is_rejected() -> None:
    """A suppression without ``=`` is an error, not silently ignored."""
    with pytest.raises(SuppressionError):
        Suppression.parse("IST0101")


def test_suppression_annotation() -> None:
    """``galley.istio.io/analyze-suppress`` on a resource drops its listed codes."""
    text = BOGUS.replace(
        "  name: reviews-bogus\n",
        "  name: reviews-bogus\n  annotations:\n    galley.istio.io/analyze-suppress: IST0101\n",
    )
    assert analyze(resources(text)) == []


def test_namespace_filter() -> None:
    """Messages about other namespaces are dropped unless all namespaces are requested."""
    rs = resources(BOGUS.replace("  name: reviews-bogus\n", "  name: reviews-bogus\n  namespace: team\n"))
    assert analyze(rs, namespace="default") == []
    assert codes(analyze(rs, namespace="team")) == ["IST0101"]
    assert codes(analyze(rs, namespace="default", all_namespaces=True)) == ["IST0101"]


def test_messages_are_sorted_by_level_then_code() -> None:
    """Errors come before warnings before infos, whatever the input order."""
    text = (
        BOGUS
        + """---
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  ports:
  - port: 80
    name: web
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: nowhere
spec:
  host: nowhere
"""
    )
    msgs = analyze(list(reversed(resources(text))))
    assert codes(msgs) == ["IST0101", "IST0174", "IST0118"]
    assert codes(at_or_above(msgs, "Warning")) == ["IST0101", "IST0174"]


def test_catalogue_and_analyzer_list() -> None:
    """Every code has a name, a level and Istio's documentation URL; analyzers have unique names."""
    for code, mtype in CATALOGUE.items():
        assert code == mtype.code and code.startswith("IST")
        assert mtype.level in ("Error", "Warning", "Info")
        assert mtype.documentation_url.endswith(f"/analysis/{code.lower()}/?ref=istioctl-analyze")
    names = [name for name, _, _ in ANALYZERS]
    assert len(names) == len(set(names))
