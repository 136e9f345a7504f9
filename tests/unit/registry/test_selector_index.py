"""The registry's selector index answers exactly what a scan of every service would."""

from __future__ import annotations

import random

from mizzen.registry.model import RegistrySnapshot, Service, ServicePort


def test_services_selecting_equals_a_scan() -> None:
    """For random services (selectors absent, empty, one or two labels; two namespaces; both kinds) and
    random workload labels, the index returns the same services in the same order as a full scan."""
    rng = random.Random(7)
    labels = [("app", "a"), ("app", "b"), ("version", "v1"), ("version", "v2"), ("tier", "x")]
    services = []
    for i in range(200):
        kind = rng.choice(["Service", "ServiceEntry"])
        shape = rng.choice(["none", "empty", "one", "two"])
        selector = {"none": None, "empty": (), "one": tuple(rng.sample(labels, 1))}.get(shape)
        if shape == "two":
            selector = tuple(sorted(dict(rng.sample(labels, 2)).items()))
        ns = rng.choice(["default", "other"])
        services.append(Service(f"s{i}.{ns}", ns, f"s{i}", (ServicePort(80),), kind, selector=selector))
    registry = RegistrySnapshot(services=tuple(services))
    for _ in range(300):
        workload = dict(rng.sample(labels, rng.randint(0, 3)))
        ns = rng.choice(["default", "other", "none"])
        scan = [s for s in services if s.namespace == ns and s.selects(workload)]
        assert registry.services_selecting(ns, workload) == scan
