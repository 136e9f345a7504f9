"""A small Bookinfo-shaped registry, proxies and a settable clock for telemetry tests."""

from __future__ import annotations

from mizzen.node import Proxy
from mizzen.registry.model import Endpoint, RegistrySnapshot, Service, ServicePort

PRODUCTPAGE = Proxy(
    id="productpage-v1.default",
    type="sidecar",
    name="productpage-v1",
    namespace="default",
    labels={"app": "productpage", "version": "v1"},
    service_account="bookinfo-productpage",
)
GATEWAY = Proxy(
    id="istio-ingressgateway.istio-system",
    type="router",
    name="istio-ingressgateway",
    namespace="istio-system",
    labels={"istio": "ingressgateway", "app": "istio-ingressgateway"},
)
REVIEWS_V1 = Proxy(
    id="reviews-v1.default",
    type="sidecar",
    name="reviews-v1",
    namespace="default",
    labels={"app": "reviews", "version": "v1"},
)
REVIEWS_V3 = Proxy(
    id="reviews-v3.default",
    type="sidecar",
    name="reviews-v3",
    namespace="default",
    labels={"app": "reviews", "version": "v3"},
)
V1_ADDR = ("127.0.0.1", 20001)
V3_ADDR = ("127.0.0.1", 20003)
PP_ADDR = ("127.0.0.1", 20000)
REVIEWS = "reviews.default.svc.cluster.local"
PP = "productpage.default.svc.cluster.local"


def _ep(addr: tuple[str, int], workload: str, app: str, version: str) -> Endpoint:
    return Endpoint(
        address=addr[0],
        port=addr[1],
        service_port=9080,
        workload=workload,
        namespace="default",
        labels=(("app", app), ("version", version)),
        service_account=f"bookinfo-{app}",
    )


def bookinfo_registry() -> RegistrySnapshot:
    """reviews v1 and v3 and productpage, each on port 9080."""
    http = (ServicePort(9080, "http", "HTTP"),)
    return RegistrySnapshot(
        services=(Service(REVIEWS, "default", "reviews", http), Service(PP, "default", "productpage", http)),
        endpoints=(
            (
                (REVIEWS, 9080),
                (_ep(V1_ADDR, "reviews-v1", "reviews", "v1"), _ep(V3_ADDR, "reviews-v3", "reviews", "v3")),
            ),
            ((PP, 9080), (_ep(PP_ADDR, "productpage-v1", "productpage", "v1"),)),
        ),
    )


class Clock:
    """A settable clock for the time-bucketed views."""

    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now
