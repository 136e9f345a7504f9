"""A small fortio-like load client: N requests over C concurrent connections, as fast as possible.

    python -m mizzen.testing.load -c 3 -n 30 --via fortio http://httpbin:8000/get

``--via WORKLOAD`` sends through that workload's sidecar (its outbound HTTP-proxy listener, read from
the agent's state file in ``$MIZZEN_HOME``), exactly as the workload's own app would; ``--proxy URL``
names a proxy directly. Prints fortio's summary lines (``Code 200 : 17 (85.0 %)``), so Istio's
circuit-breaking task reads the same. Each connection is used for one request at a time, like fortio's
``-qps 0`` mode.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import threading
import time
from pathlib import Path

import httpx


def proxy_of(workload: str, namespace: str = "default") -> str:
    """The outbound HTTP-proxy URL of a workload started by ``mizzen run`` on this host."""
    home = Path(os.environ.get("MIZZEN_HOME") or Path.home() / ".mizzen")
    state = home / "workloads" / f"{namespace}.{workload}.json"
    try:
        return "http://" + str(json.loads(state.read_text())["httpProxy"])
    except (OSError, KeyError, ValueError) as exc:
        raise SystemExit(f"no running workload {namespace}/{workload} on this host ({state}): {exc}") from exc


def run(
    url: str, *, connections: int, requests: int, proxy: str | None, timeout: float = 10.0
) -> collections.Counter[int]:
    """Send ``requests`` GETs over ``connections`` parallel connections; count status codes (-1 = error)."""
    codes: collections.Counter[int] = collections.Counter()
    lock = threading.Lock()
    remaining = [requests]

    def worker() -> None:
        with httpx.Client(proxy=proxy, timeout=timeout, trust_env=False) as client:
            while True:
                with lock:
                    if remaining[0] <= 0:
                        return
                    remaining[0] -= 1
                try:
                    code = client.get(url).status_code
                except httpx.HTTPError:
                    code = -1
                with lock:
                    codes[code] += 1

    threads = [threading.Thread(target=worker) for _ in range(connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return codes


def summary(codes: collections.Counter[int]) -> str:
    """The response-code summary in Fortio's words (``Code 200 : 10 (100.0 %)``)."""
    total = sum(codes.values()) or 1
    return "".join(f"Code {c if c >= 0 else -1} : {n} ({100.0 * n / total:.1f} %)\n" for c, n in sorted(codes.items()))


def main(argv: list[str] | None = None) -> None:
    """Command line: send load and print the summary."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("url")
    ap.add_argument("-c", type=int, default=1, help="concurrent connections")
    ap.add_argument("-n", type=int, default=10, help="total requests")
    ap.add_argument("--via", help="send through this workload's sidecar (mizzen run name)")
    ap.add_argument("--namespace", default="default")
    ap.add_argument("--proxy", help="HTTP proxy URL to send through")
    args = ap.parse_args(argv)
    proxy = args.proxy or (proxy_of(args.via, args.namespace) if args.via else None)
    started = time.monotonic()
    codes = run(args.url, connections=args.c, requests=args.n, proxy=proxy)
    elapsed = time.monotonic() - started
    print(f"Sent {sum(codes.values())} requests over {args.c} connections in {elapsed:.2f} s")
    print(summary(codes), end="")


if __name__ == "__main__":
    main()
