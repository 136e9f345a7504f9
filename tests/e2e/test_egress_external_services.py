"""Istio's "Accessing External Services" task, its YAML unchanged, in a sandbox where www.google.com,
edition.cnn.com and httpbin.org are a local stand-in site (nothing leaves the test's namespaces).

The app reaches ``https://`` URLs through ``HTTPS_PROXY`` (CONNECT to its sidecar, which routes the
tunnel as Istio's outbound listener routes TLS by SNI): ALLOW_ANY passes unknown hosts through,
REGISTRY_ONLY cuts them off as Istio does (curl exit 35), and ServiceEntries open HTTP and HTTPS hosts.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from egress_world import world

from mizzen.testing import sandbox

REASON = sandbox.available()
pytestmark = [pytest.mark.e2e, pytest.mark.skipif(bool(REASON), reason=f"no sandbox here: {REASON}")]

SITES = {"www.google.com": "127.0.0.1", "edition.cnn.com": "127.0.0.1", "httpbin.org": "127.0.0.1"}
REGISTRY_ONLY = "outboundTrafficPolicy:\n  mode: REGISTRY_ONLY\n"

HTTPBIN_EXT = """\
apiVersion: networking.istio.io/v1alpha3
kind: ServiceEntry
metadata:
  name: httpbin-ext
spec:
  hosts:
  - httpbin.org
  ports:
  - number: 80
    name: http
    protocol: HTTP
  resolution: DNS
  location: MESH_EXTERNAL
"""

GOOGLE = """\
apiVersion: networking.istio.io/v1alpha3
kind: ServiceEntry
metadata:
  name: google
spec:
  hosts:
  - www.google.com
  ports:
  - number: 443
    name: https
    protocol: HTTPS
  resolution: DNS
  location: MESH_EXTERNAL
"""

HTTPBIN_TIMEOUT = """\
apiVersion: networking.istio.io/v1alpha3
kind: VirtualService
metadata:
  name: httpbin-ext
spec:
  hosts:
  - httpbin.org
  http:
  - timeout: 3s
    route:
    - destination:
        host: httpbin.org
      weight: 100
"""


def _status_line(out: str) -> str:
    return next((line for line in out.splitlines() if line.startswith("HTTP/")), "")


@sandbox.isolated(hosts=SITES)
def _passthrough(tmp: Path) -> None:
    with world(tmp, list(SITES)) as w:
        google = w.sleep.curl("-sSI", "https://www.google.com")
        cnn = w.sleep.curl("-sI", "https://edition.cnn.com")
        assert google.returncode == 0 and cnn.returncode == 0, (google.stderr, cnn.stderr)
        assert _status_line(google.stdout).split()[1] == "200"
        assert _status_line(cnn.stdout).split()[1] == "200"
        assert w.site.count("edition.cnn.com", "/") == 1  # reached over TLS end to end (no 301 to https)
        # Logged as Istio logs passthrough TLS: "- - -", PassthroughCluster, the SNI; no CONNECT line.
        line = w.sleep.wait_log("internal_client_address/ edition.cnn.com")
        assert '"- - -" 0 - ' in line and " PassthroughCluster " in line and '"127.0.0.1:443"' in line, line
        assert "CONNECT" not in w.sleep.access_log()


def test_allow_any_passes_https_to_unknown_hosts(tmp_path: Path) -> None:
    """Under ALLOW_ANY (Istio's default) `curl https://www.google.com` and edition.cnn.com answer 200:
    the CONNECT tunnel passes through to the site, which sees TLS with the right SNI, and the sidecar logs
    it as Istio logs passthrough TLS ("- - -", PassthroughCluster, the SNI)."""
    _passthrough(tmp_path)


@sandbox.isolated(hosts=SITES)
def _registry_only(tmp: Path) -> None:
    with world(tmp, list(SITES), mesh_yaml=REGISTRY_ONLY) as w:
        for args in (("-sI", "https://www.google.com"), ("-sI", "https://edition.cnn.com")):
            blocked = w.sleep.curl(*args)
            assert blocked.returncode == 35, (args, blocked.returncode, blocked.stdout, blocked.stderr)
        assert w.site.count("www.google.com", "/") == 0 and w.site.count("edition.cnn.com", "/") == 0

        w.mesh.apply(HTTPBIN_EXT)
        w.mesh.wait_synced()
        r = w.sleep.curl("-sS", "http://httpbin.org/headers")
        assert r.returncode == 0, r.stderr
        assert '"host": "httpbin.org"' in r.stdout
        assert '"x-envoy-decorator-operation": "httpbin.org:80/*"' in r.stdout
        assert "outbound|80||httpbin.org" in w.sleep.wait_log("GET /headers")

        w.mesh.apply(GOOGLE)
        w.mesh.wait_synced()
        r = w.sleep.curl("-sSI", "https://www.google.com")
        assert r.returncode == 0 and _status_line(r.stdout).split()[1] == "200", (r.stdout, r.stderr)
        line = w.sleep.wait_log("outbound|443||www.google.com")
        assert '"- - -"' in line and line.split()[-2] == "www.google.com", line  # SNI, then the route name
        still = w.sleep.curl("-sI", "https://edition.cnn.com")
        assert still.returncode == 35, "a ServiceEntry for one host opens no other"

        started = time.monotonic()
        slow = w.sleep.curl("-o", "/dev/null", "-sS", "-w", "%{http_code}\n", "http://httpbin.org/delay/5")
        assert slow.stdout.strip() == "200" and time.monotonic() - started >= 5
        w.mesh.apply(HTTPBIN_TIMEOUT)
        w.mesh.wait_synced()
        started = time.monotonic()
        cut = w.sleep.curl("-o", "/dev/null", "-sS", "-w", "%{http_code}\n", "http://httpbin.org/delay/5")
        assert cut.stdout.strip() == "504" and 2.5 < time.monotonic() - started < 5


def test_registry_only_blocks_then_service_entries_open_http_and_https(tmp_path: Path) -> None:
    """REGISTRY_ONLY: HTTPS to unknown hosts fails with curl exit 35 and reaches nothing; the task's
    ServiceEntries open httpbin.org (HTTP, decorated, logged) and www.google.com (HTTPS, logged with its
    SNI and outbound|443||www.google.com); the VirtualService's 3s timeout turns /delay/5 into 504."""
    _registry_only(tmp_path)


MY_HTTPBIN = """\
kind: Service
apiVersion: v1
metadata:
  name: my-httpbin
spec:
  type: ExternalName
  externalName: httpbin.org
  ports:
  - name: http
    protocol: TCP
    port: 80
"""

MY_HTTPBIN_DR = """\
apiVersion: networking.istio.io/v1alpha3
kind: DestinationRule
metadata:
  name: my-httpbin
spec:
  host: my-httpbin.default.svc.cluster.local
  trafficPolicy:
    tls:
      mode: DISABLE
"""


@sandbox.isolated(hosts=SITES)
def _external_name(tmp: Path) -> None:
    with world(tmp, list(SITES), mesh_yaml=REGISTRY_ONLY) as w:
        w.mesh.apply(MY_HTTPBIN)
        w.mesh.apply(MY_HTTPBIN_DR)
        w.mesh.wait_synced()
        r = w.sleep.curl("-sS", "http://my-httpbin.default.svc.cluster.local/headers")
        assert r.returncode == 0, r.stderr
        assert '"host": "my-httpbin.default.svc.cluster.local"' in r.stdout, r.stdout
        assert '"x-envoy-decorator-operation": "my-httpbin.default.svc.cluster.local:80/*"' in r.stdout
        assert w.site.count("my-httpbin.default.svc.cluster.local", "/headers") == 1
        line = w.sleep.wait_log("GET /headers")
        assert "outbound|80||my-httpbin.default.svc.cluster.local" in line and '"127.0.0.1:80"' in line, line


def test_kubernetes_external_name_service_reaches_the_external_host(tmp_path: Path) -> None:
    """Istio's "Kubernetes ExternalName services" task (its ExternalName part): the Service my-httpbin
    (externalName httpbin.org) is reachable from the mesh, even under REGISTRY_ONLY, through a DNS
    cluster to httpbin.org; the site sees Host my-httpbin.default.svc.cluster.local and the decorator."""
    _external_name(tmp_path)
