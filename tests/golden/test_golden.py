"""Golden files for the translator: ``<case>/input.yaml`` (mesh resources) + ``<case>/proxy.yaml`` (the
proxy, optional mesh settings) -> ``<case>/output.json`` (every Envoy resource). Regenerate on purpose
with ``UPDATE_GOLDEN=1 pytest tests/golden`` and review the diff."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from mizzen.node import InboundPort, Proxy, Upstream
from mizzen.testing.simulation import mesh_from_yaml
from mizzen.translate import translate
from mizzen.translate.model import MeshConfig

HERE = Path(__file__).parent
CASES = sorted(p.name for p in HERE.iterdir() if (p / "input.yaml").exists())


def load_proxy(data: dict[str, Any]) -> Proxy:
    """A Proxy from proxy.yaml's ``proxy`` mapping (field names as in the dataclass)."""
    spec = dict(data)
    spec["inbound"] = tuple(InboundPort(**p) for p in spec.get("inbound", []))
    spec["upstreams"] = tuple(Upstream(**u) for u in spec.get("upstreams", []))
    spec.setdefault("id", f"{spec['name']}.{spec.get('namespace', 'default')}")
    return Proxy(**spec)


def render(case: Path) -> str:
    config = yaml.safe_load((case / "proxy.yaml").read_text())
    mesh = mesh_from_yaml((case / "input.yaml").read_text(), mesh=MeshConfig(**config.get("mesh", {})))
    resources = translate(load_proxy(config["proxy"]), mesh)
    return json.dumps(dataclasses.asdict(resources), indent=1) + "\n"


@pytest.mark.parametrize("name", CASES)
def test_golden(name: str) -> None:
    """The translation of the case equals its reviewed output.json."""
    case = HERE / name
    actual = render(case)
    golden = case / "output.json"
    if os.environ.get("UPDATE_GOLDEN") == "1":
        golden.write_text(actual)
    assert golden.exists(), f"missing {golden}; run with UPDATE_GOLDEN=1"
    assert actual == golden.read_text()


def test_there_are_golden_cases() -> None:
    """The golden directory holds a case per translator builder (a lost folder must not pass silently)."""
    assert {
        "bookinfo-sidecar",
        "bookinfo-gateway",
        "routes-sidecar",
        "delegate-sidecar",
        "gateway-ports-tls",
        "tcp-tls-sidecar",
        "policies-sidecar",
        "sidecar-scoping",
        "sidecar-scoping-root",
        "serviceentry-sidecar",
        "security-sidecar",
        "capture-sidecar",
        "sidecar-ingress-tls",
        "endpoints-sidecar",
        "egress-wildcard-sidecar",
        "egress-wildcard-gateway-sidecar",
        "egress-wildcard-gateway",
        "telemetry-sidecar",
    } <= set(CASES)
