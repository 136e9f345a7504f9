#!/usr/bin/env python3
"""``mizzen test`` at scale: a mesh of N services (each with a DestinationRule, a VirtualService with a
header rule and a 90/10 split, two workloads) and M RouteTest cases from S senders, read from files.

    .venv/bin/python bench/routetest.py [--services 1000] [--cases 10000] [--senders 10]

Prints the time of each phase (read + validate the files, prepare, run: translate once per sender and
walk every case) and the total. Goal (issue 16, not a test): under 10 s for 1000 services and
10,000 cases on the 2-core reference machine.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

from mizzen.simulate import inputs, runner
from mizzen.translate.model import MeshConfig


def config_text(services: int) -> str:
    docs = []
    for i in range(services):
        docs.append(f"""apiVersion: v1
kind: Service
metadata: {{name: svc-{i}}}
spec: {{selector: {{app: svc-{i}}}, ports: [{{name: http, port: 8080}}]}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {{name: svc-{i}}}
spec: {{host: svc-{i}, subsets: [{{name: v1, labels: {{version: v1}}}}, {{name: v2, labels: {{version: v2}}}}]}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: svc-{i}}}
spec:
  hosts: [svc-{i}]
  http:
  - match: [{{headers: {{x-canary: {{exact: "on"}}}}}}]
    route: [{{destination: {{host: svc-{i}, subset: v2}}}}]
  - route:
    - {{destination: {{host: svc-{i}, subset: v1}}, weight: 90}}
    - {{destination: {{host: svc-{i}, subset: v2}}, weight: 10}}
""")
    return "---\n".join(docs)


def tests_text(services: int, cases: int, senders: int, rng: random.Random) -> str:
    workloads = [f"  - {{name: client-{s}, labels: {{app: client-{s}}}}}" for s in range(senders)]
    for i in range(services):
        workloads += [f"  - {{name: svc-{i}-{v}, labels: {{app: svc-{i}, version: {v}}}}}" for v in ("v1", "v2")]
    lines = []
    for n in range(cases):
        i, s = rng.randrange(services), rng.randrange(senders)
        canary = rng.random() < 0.5
        head = f"  - name: case {n}\n    from: {{workload: client-{s}}}\n"
        if canary:
            req = f"    request: {{host: svc-{i}, port: 8080, path: /x, headers: {{x-canary: 'on'}}}}\n"
            exp = f"    expect: {{cluster: 'outbound|8080|v2|svc-{i}.default.svc.cluster.local'}}\n"
        else:
            req = f"    request: {{host: svc-{i}, port: 8080, path: /x}}\n"
            exp = "    expect: {weights: {v1: 90, v2: 10}}\n"
        lines.append(head + req + exp)
    return (
        "apiVersion: mizzen.io/v1alpha1\nkind: RouteTest\nmetadata: {name: bench}\nspec:\n  workloads:\n"
        + "\n".join(workloads)
        + "\n  cases:\n"
        + "".join(lines)
    )


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--services", type=int, default=1000)
    parser.add_argument("--cases", type=int, default=10_000)
    parser.add_argument("--senders", type=int, default=10)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="mizzen-bench-routetest-") as tmp:
        config, tests = Path(tmp) / "mesh.yaml", Path(tmp) / "tests.yaml"
        config.write_text(config_text(args.services))
        tests.write_text(tests_text(args.services, args.cases, args.senders, random.Random(16)))
        t0 = time.perf_counter()
        found = inputs.read_files([str(config)], [str(tests)])
        t1 = time.perf_counter()
        plan, report = runner.prepare(found.config, found.tests, MeshConfig(), found.workloads)
        t2 = time.perf_counter()
        if plan is None or not found.report.ok:
            print("\n".join(str(v) for v in [*found.report.errors, *report.errors][:10]), file=sys.stderr)
            return 1
        run = runner.run(plan)
        t3 = time.perf_counter()
    print(
        f"routetest: {args.services} services, {len(run.cases)} cases, {args.senders} senders: "
        f"read+validate {t1 - t0:.2f}s, prepare {t2 - t1:.2f}s, run {t3 - t2:.2f}s, total {t3 - t0:.2f}s "
        f"({run.failed} failed)"
    )
    return 0 if run.passed else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
