"""The translator never raises, whatever validated-or-not config it gets, and what it emits for Istio's
own samples and the config test cases parses into Envoy's protos (and, e2e, passes Envoy's validation)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from translate_envoy import envoy_validate
from translate_fixtures import SAMPLES, gateway_proxy, sidecar, workload_entries
from translate_protos import parse_all

from mizzen.config.loader import load_text
from mizzen.config.resource import Resource
from mizzen.node import Proxy, Upstream
from mizzen.testing.samples import istio_sample_files
from mizzen.testing.simulation import mesh_from_resources
from mizzen.translate import translate
from mizzen.translate.model import MeshSnapshot

ROOT = Path(__file__).resolve().parents[3]
CASES = sorted((ROOT / "tests" / "unit" / "config" / "cases").glob("*.yaml"))
ISTIO_SAMPLES = istio_sample_files()
# Istio's files are marked so they skip with a reason (or fail under CI=true) when the folder is missing.
ISTIO_PARAMS = [pytest.param(p, id=p.name, marks=pytest.mark.istio_samples) for p in ISTIO_SAMPLES] or [
    pytest.param(None, id="istio-samples", marks=pytest.mark.istio_samples)
]


def resources(path: Path) -> list[Resource]:
    """Whatever the loader could read from the file (invalid specs included: the translator must cope)."""
    base = load_text((SAMPLES / "platform" / "bookinfo.yaml").read_text()).resources
    base += load_text(workload_entries()).resources
    return base + load_text(path.read_text(), file=str(path)).resources


def proxies() -> list[Proxy]:
    upstreams = (
        Upstream("reviews", 9080, 19080),
        Upstream("mongo", 27017, 19017),
        Upstream("nginx.example.com", 443, 19443),
    )
    return [
        dataclasses.replace(sidecar(), upstreams=upstreams),
        sidecar("ratings-v1", "ratings", namespace="prod"),
        gateway_proxy(),
        dataclasses.replace(gateway_proxy(), labels={"istio": "egressgateway"}),
    ]


def translate_all(mesh: MeshSnapshot) -> int:
    return sum(parse_all(translate(p, mesh)) for p in proxies())


@pytest.mark.parametrize("path", [pytest.param(p, id=p.name) for p in CASES] + ISTIO_PARAMS)
def test_translation_never_raises_and_parses(path: Path) -> None:
    """Every config case (valid or not) and every Istio sample translates for sidecars and gateways."""
    assert translate_all(mesh_from_resources(resources(path))) > 0


def valid(path: Path) -> bool:
    return "# expect: nothing" in path.read_text()


@pytest.mark.e2e
def test_envoy_accepts_every_valid_case_and_sample() -> None:
    """Envoy --mode validate accepts the translation of every valid config case and Istio sample."""
    for path in [p for p in CASES if valid(p)] + ISTIO_SAMPLES:
        mesh = mesh_from_resources(resources(path))
        for proxy in proxies()[::2]:  # one sidecar, one gateway: keeps the test to seconds
            out = envoy_validate(translate(proxy, mesh))
            assert out.returncode == 0, f"{path.name} {proxy.id}: {out.stderr[-2000:]}"
