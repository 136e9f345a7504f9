"""describe explains which routes reach a workload and warns like istioctl x describe."""

import pytest
import yaml

from mizzen.cli.describe import World, describe_service, describe_workload
from mizzen.testing.samples import istio_samples_dir

SAMPLES = istio_samples_dir()
pytestmark = pytest.mark.istio_samples  # every test here reads Istio's Bookinfo files


def _world(*files: str, extra: list[dict] | None = None) -> World:
    objs: dict[str, list[dict]] = {}
    for f in files:
        with open(f"{SAMPLES}/{f}") as fh:
            for doc in yaml.safe_load_all(fh):
                if doc:
                    doc.setdefault("metadata", {}).setdefault("namespace", "default")
                    objs.setdefault(doc["kind"], []).append(doc)
    for doc in extra or []:
        objs.setdefault(doc["kind"], []).append(doc)
    return World(objects=objs, gateway_url="http://127.0.0.1:8080")


def _we(name: str, app: str, version: str) -> dict:
    return {
        "kind": "WorkloadEntry",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"address": "127.0.0.1", "ports": {"http": 40000}, "labels": {"app": app, "version": version}},
    }


def test_reviews_v2_after_all_v1_warns_non_matching_subset() -> None:
    """With all traffic on v1, reviews-v2 gets Istio's non-matching-subset warning."""
    world = _world(
        "bookinfo.yaml",
        "destination-rule-all.yaml",
        "virtual-service-all-v1.yaml",
        extra=[_we("reviews-v2", "reviews", "v2")],
    )
    text = describe_workload(world, "reviews-v2", "default")
    assert "Service: reviews" in text
    assert 'DestinationRule: reviews for "reviews"' in text
    assert "   Matching subsets: v2" in text
    assert "      (Non-matching subsets v1,v3)" in text
    assert "   WARNING: No destinations match pod subsets (checked 1 HTTP routes)" in text
    assert "      Route to non-matching subset v1 for (everything)" in text


def test_reviews_v1_after_all_v1_is_reached() -> None:
    """The v1 workload is reached by the route and gets no warning."""
    world = _world(
        "bookinfo.yaml",
        "destination-rule-all.yaml",
        "virtual-service-all-v1.yaml",
        extra=[_we("reviews-v1", "reviews", "v1")],
    )
    text = describe_workload(world, "reviews-v1", "default")
    assert "Route to subset v1 (everything)" in text
    assert "WARNING" not in text


def test_header_route_condition_is_described() -> None:
    """A header match is rendered as istioctl's 'when headers are' fact."""
    world = _world(
        "bookinfo.yaml",
        "destination-rule-all.yaml",
        "virtual-service-reviews-test-v2.yaml",
        extra=[_we("reviews-v2", "reviews", "v2")],
    )
    text = describe_workload(world, "reviews-v2", "default")
    assert "Route to subset v2 (when headers are end-user=jason)" in text


def test_productpage_shows_ingress_exposure_and_fault() -> None:
    """productpage is exposed on the ingress gateway with the gateway VS's matches."""
    world = _world("bookinfo.yaml", "bookinfo-gateway.yaml", extra=[_we("productpage-v1", "productpage", "v1")])
    text = describe_workload(world, "productpage-v1", "default")
    assert "Exposed on Ingress Gateway http://127.0.0.1:8080" in text
    assert "VirtualService: bookinfo" in text
    assert "/productpage, /static*, /login, /logout, /api/v1/products*" in text


def test_fault_injection_is_described() -> None:
    """An abort fault on the route reaching the workload is reported."""
    world = _world("bookinfo.yaml", "fault-injection-details-v1.yaml", extra=[_we("details-v1", "details", "v1")])
    assert "Fault injection: abort 555 for 100% of requests" in describe_workload(world, "details-v1", "default")


def test_describe_service_covers_each_workload_and_unknown_names_fail() -> None:
    """describe service runs for every selected workload; unknown names raise LookupError."""
    world = _world("bookinfo.yaml", extra=[_we("ratings-v1", "ratings", "v1")])
    assert "Workload: ratings-v1" in describe_service(world, "ratings", "default")
    assert describe_service(world, "details", "default") == 'Service "details" has no workloads.\n'
    try:
        describe_workload(world, "nope", "default")
    except LookupError as e:
        assert "nope" in str(e)
    else:
        raise AssertionError("expected LookupError")
