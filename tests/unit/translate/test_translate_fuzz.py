"""Defensive translation: specs with wrong types anywhere (what an unvalidated or future-version document
could hold) never make the translator raise; it degrades as Istio would."""

from __future__ import annotations

import os
import random
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
from test_translate_kitchen_sink import FEATURES
from translate_fixtures import SAMPLES, gateway_proxy, sidecar, workload_entries
from translate_protos import parse_all

from mizzen.config.loader import load_text
from mizzen.config.models import parse
from mizzen.config.resource import Resource
from mizzen.node import Upstream
from mizzen.testing.simulation import mesh_from_resources
from mizzen.translate import translate
from mizzen.translate.model import MeshSnapshot

WRONG: tuple[Any, ...] = (None, 0, -1, 7, 2.5, True, "", "x", "*", [], ["x"], [None], {}, {"x": 1})


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every path (keys and indexes) into a JSON-like value."""
    yield prefix
    if isinstance(value, dict):
        for k, v in value.items():
            yield from paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from paths(v, (*prefix, i))


def mutated(spec: Any, path: tuple[Any, ...], new: Any) -> Any:
    if not path:
        return new
    head, rest = path[0], path[1:]
    if isinstance(spec, dict):
        return {k: (mutated(v, rest, new) if k == head else v) for k, v in spec.items()}
    return [mutated(v, rest, new) if i == head else v for i, v in enumerate(spec)]


def base() -> list[Resource]:
    text = (SAMPLES / "platform" / "bookinfo.yaml").read_text()
    return load_text(text).resources + load_text(workload_entries()).resources


def networking() -> list[Resource]:
    return [r for r in load_text(FEATURES.replace("CA_PATH", "/ca.pem")).resources]


# FUZZ_SEEDS=300 runs a longer search (it found the bugs this test now pins).
@pytest.mark.parametrize("seed", range(int(os.environ.get("FUZZ_SEEDS", "4"))))
def test_wrongly_typed_fields_never_raise(seed: int) -> None:
    """40 random wrong-typed fields per seed in the all-features config: parsing into the typed models (a
    mistyped field takes its default) and translation still succeed, and every resource parses into Envoy's
    protos."""
    rng = random.Random(seed)
    resources = networking()
    registry = mesh_from_resources([*base(), *resources]).registry
    proxies = [
        replace(
            sidecar(),
            upstreams=(
                Upstream("reviews", 9080, 19080),
                Upstream("rr.example.com", 3306, 13306),
                Upstream("httpbin.example.com", 443, 19443),
            ),
        ),
        gateway_proxy(),
    ]
    for _ in range(40):
        index = rng.randrange(len(resources))
        target = resources[index]
        spec = dict(target.spec)
        path = rng.choice(list(paths(spec))[1:])
        bad = replace(target, spec=mutated(spec, path, rng.choice(WRONG)))
        # The registry is another layer's job: build it from the intact config, mutate only what the
        # translator reads itself (VirtualService, DestinationRule, Gateway, Sidecar, Secret specs).
        mutated_all = [*base(), *resources[:index], bad, *resources[index + 1 :]]
        mesh = MeshSnapshot.of_configs((parse(r) for r in mutated_all), registry)
        for proxy in proxies:
            parse_all(translate(proxy, mesh))
