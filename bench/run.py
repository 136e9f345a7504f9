"""Run Mizzen's benchmarks and print their figures (``python3 tools/dev.py bench``).

- apply_latency: apply -> every proxy ACKed, through the real control plane (real Envoys and
  simulated ADS clients), plus new endpoint -> all ACKed and Envoy start -> all ACKed;
- xds_fanout: snapshot set -> every simulated proxy ACKed, the xDS server alone;
- routetest: ``mizzen test`` on a 1000-service mesh with 10,000 cases (read, prepare, run);
- gatewayapi: the Gateway API conversion on a 1000-service mesh with 200 HTTPRoutes;
- dataplane: the Mizzen pair against a minimal Envoy pair (latency, throughput, CPU, memory);
- scale: 1000 services / 2000 simulated proxies (SotW and delta), control-plane RSS and push latency;
- ha_apply: apply -> every proxy has the new routes, two replicas on PostgreSQL vs one on SQLite;
- resync: control plane kill -9 and restart -> every real sidecar SYNCED again, requests meanwhile;
- agent_overhead: private memory and idle CPU of the agent per workload, before (main) and after.

``--only NAME [NAME ...]`` runs some of them; other extra arguments are passed to apply_latency
(e.g. ``--envoys 10 --simulated 100``).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCHES = (
    "apply_latency",
    "xds_fanout",
    "routetest",
    "gatewayapi",
    "dataplane",
    "scale",
    "ha_apply",
    "resync",
    "agent_overhead",
)


def main(argv: list[str]) -> int:
    only = list(BENCHES)
    if "--only" in argv:
        at = argv.index("--only")
        names = [a for a in argv[at + 1 :] if not a.startswith("-")]
        argv = argv[:at] + argv[at + 1 + len(names) :]
        unknown = set(names) - set(BENCHES)
        if unknown or not names:
            print(f"--only takes some of: {' '.join(BENCHES)}", file=sys.stderr)
            return 2
        only = names
    extra = {"apply_latency": argv, "xds_fanout": ["--proxies", "100", "1000"]}
    code = 0
    for name in only:
        code = code or subprocess.call([sys.executable, str(HERE / f"{name}.py"), *extra.get(name, [])])
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
