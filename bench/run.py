"""Run Mizzen's benchmarks and print their figures (``python3 tools/dev.py bench``).

- apply_latency: apply -> every proxy ACKed, through the real control plane (real Envoys and
  simulated ADS clients);
- xds_fanout: snapshot set -> every simulated proxy ACKed, the xDS server alone;
- routetest: ``mizzen test`` on a 1000-service mesh with 10,000 cases (read, prepare, run);
- gatewayapi: the Gateway API conversion on a 1000-service mesh with 200 HTTPRoutes.
Extra arguments are passed to apply_latency (e.g. ``--envoys 10 --simulated 100``).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main(argv: list[str]) -> int:
    code = subprocess.call([sys.executable, str(HERE / "apply_latency.py"), *argv])
    code = code or subprocess.call([sys.executable, str(HERE / "xds_fanout.py"), "--proxies", "100", "1000"])
    code = code or subprocess.call([sys.executable, str(HERE / "routetest.py")])
    return code or subprocess.call([sys.executable, str(HERE / "gatewayapi.py")])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
