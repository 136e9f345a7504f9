"""Mutual TLS origination with a DestinationRule ``credentialName``, Istio's YAML unchanged, twice:

- "Egress Gateways with TLS Origination", section "Perform mutual TLS origination with an egress
  gateway": the sidecar sends plain HTTP for my-nginx.mesh-external.svc.cluster.local over Istio mTLS to
  the egress gateway (HTTPS server, tls ISTIO_MUTUAL), which originates mutual TLS to the server with the
  ``client-credential`` secret of its own namespace (istio-system);
- "Egress TLS Origination", section "Configure mutual TLS origination for egress traffic at sidecar":
  a ServiceEntry and a DestinationRule with a ``workloadSelector``; the sleep sidecar originates mutual TLS
  itself with the ``client-credential`` secret of its own namespace (default). The task's Role and
  RoleBinding letting the sleep service account list secrets have no Mizzen counterpart: Mizzen's rule
  is Istio's outcome, a sidecar gets exactly the credentialName secrets its namespace's DestinationRules
  name (``docs/security.md``).

The task's nginx (``ssl_verify_client on``, server and client certificates from one example.com CA) is a
stand-in site on 127.0.0.2:443 that requires a client certificate from that CA and reports the client
certificate's CN; its pod (no sidecar: mesh-external is not injected) is a WorkloadEntry with the
Deployment's labels, an address and no tlsMode label, and the sandbox's /etc/hosts resolves the Service's
name to that address (the cluster DNS's answer, which the sidecar task's DNS ServiceEntry relies on).
``kubectl create secret -n istio-system generic client-credential --from-file=...`` is ``mizzen create
secret generic`` with the same arguments (``-n`` after ``generic``: Mizzen's CLI takes options after the
command they belong to).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from egress_world import GatewayProcess, World, world

from mizzen.testing import sandbox
from mizzen.testing.external import ExternalSite
from mizzen.testing.tls import make_certificates, make_client_certificate

REASON = sandbox.available()
pytestmark = [pytest.mark.e2e, pytest.mark.skipif(bool(REASON), reason=f"no sandbox here: {REASON}")]

NGINX_HOST = "my-nginx.mesh-external.svc.cluster.local"
NGINX_ADDRESS = "127.0.0.2"
SITES = {"edition.cnn.com": "127.0.0.1", NGINX_HOST: NGINX_ADDRESS}  # the world's own site is unused here

NGINX_SERVICE = """\
apiVersion: v1
kind: Service
metadata:
  name: my-nginx
  namespace: mesh-external
  labels:
    run: my-nginx
spec:
  ports:
  - port: 443
    protocol: TCP
  selector:
    run: my-nginx
"""

# The Deployment's pod, without a sidecar (mesh-external has no injection): an endpoint with its labels.
NGINX_POD = f"""\
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata:
  name: my-nginx
  namespace: mesh-external
spec:
  address: {NGINX_ADDRESS}
  labels:
    run: my-nginx
"""

GATEWAY = """\
apiVersion: networking.istio.io/v1alpha3
kind: Gateway
metadata:
  name: istio-egressgateway
spec:
  selector:
    istio: egressgateway
  servers:
  - port:
      number: 443
      name: https
      protocol: HTTPS
    hosts:
    - my-nginx.mesh-external.svc.cluster.local
    tls:
      mode: ISTIO_MUTUAL
---
apiVersion: networking.istio.io/v1alpha3
kind: DestinationRule
metadata:
  name: egressgateway-for-nginx
spec:
  host: istio-egressgateway.istio-system.svc.cluster.local
  subsets:
  - name: nginx
    trafficPolicy:
      loadBalancer:
        simple: ROUND_ROBIN
      portLevelSettings:
      - port:
          number: 443
        tls:
          mode: ISTIO_MUTUAL
          sni: my-nginx.mesh-external.svc.cluster.local
"""

VIRTUAL_SERVICE = """\
apiVersion: networking.istio.io/v1alpha3
kind: VirtualService
metadata:
  name: direct-nginx-through-egress-gateway
spec:
  hosts:
  - my-nginx.mesh-external.svc.cluster.local
  gateways:
  - istio-egressgateway
  - mesh
  http:
  - match:
    - gateways:
      - mesh
      port: 80
    route:
    - destination:
        host: istio-egressgateway.istio-system.svc.cluster.local
        subset: nginx
        port:
          number: 443
      weight: 100
  - match:
    - gateways:
      - istio-egressgateway
      port: 443
    route:
    - destination:
        host: my-nginx.mesh-external.svc.cluster.local
        port:
          number: 443
      weight: 100
"""

# Applied with `kubectl apply -n istio-system` in the task.
ORIGINATE_MTLS = """\
apiVersion: networking.istio.io/v1alpha3
kind: DestinationRule
metadata:
  name: originate-mtls-for-nginx
  namespace: istio-system
spec:
  host: my-nginx.mesh-external.svc.cluster.local
  trafficPolicy:
    loadBalancer:
      simple: ROUND_ROBIN
    portLevelSettings:
    - port:
        number: 443
      tls:
        mode: MUTUAL
        credentialName: client-credential # this must match the secret created earlier to hold client certs
        sni: my-nginx.mesh-external.svc.cluster.local
"""


def _mizzen(w: World, *args: str) -> str:
    """``mizzen ARGS`` as a separate process against the world's control plane (its stdout)."""
    cmd = [sys.executable, "-m", "mizzen.cli.main", *args]
    done = subprocess.run(cmd, env={**os.environ, **w.mesh.cp.env()}, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, (done.stdout, done.stderr)
    return done.stdout


@sandbox.isolated(hosts=SITES)
def _mutual_origination(tmp: Path) -> None:
    nginx = make_certificates(tmp / "nginx", [NGINX_HOST], name=NGINX_HOST)
    client_crt, client_key = make_client_certificate(nginx, "client.example.com")
    with world(tmp, list(SITES)) as w:
        site = ExternalSite([NGINX_HOST], nginx, client_ca=nginx.ca_cert, address=NGINX_ADDRESS, name="my-nginx")
        with site:
            egress = w.gateway("istio-egressgateway", "istio=egressgateway")
            w.mesh.apply(NGINX_SERVICE)
            w.mesh.apply(NGINX_POD)
            created = _mizzen(
                w, "create", "secret", "generic", "-n", "istio-system", "client-credential",
                f"--from-file=tls.key={client_key}", f"--from-file=tls.crt={client_crt}",
                f"--from-file=ca.crt={nginx.ca_cert}",
            )  # fmt: skip
            assert created.strip() == "secret/client-credential created", created
            w.mesh.apply(GATEWAY)
            w.mesh.apply(VIRTUAL_SERVICE)
            w.mesh.wait_synced()
            # Before the DestinationRule the gateway sends plaintext: the server's TLS port refuses it.
            plain = w.sleep.curl("-sS", "-o", "/dev/null", "-w", "%{http_code}", f"http://{NGINX_HOST}")
            assert plain.stdout != "200", plain.stdout
            assert site.count(NGINX_HOST, "/") == 0
            w.mesh.apply(ORIGINATE_MTLS)
            w.mesh.wait_synced()
            _check_origination(w, site, egress)


def _check_origination(w: World, site: ExternalSite, egress: GatewayProcess) -> None:
    r = w.sleep.curl("-sS", f"http://{NGINX_HOST}")
    assert r.returncode == 0 and r.stdout.startswith("{"), (r.stdout, w.sleep.access_log(), egress.access_log())
    answer = json.loads(r.stdout)
    # The server verified the gateway's client certificate (the credential's), over TLS with the DR's SNI.
    assert (answer["site"], answer["scheme"], answer["client"]) == ("my-nginx", "https", "client.example.com")
    assert answer["sni"] == NGINX_HOST and answer["host"] == NGINX_HOST
    assert site.count(NGINX_HOST, "/") == 1
    line = egress.wait_log('" 200 ')  # kubectl logs ... | grep my-nginx... | grep HTTP: the 200 among them
    assert '"GET / HTTP/' in line and f'"{NGINX_HOST}"' in line and f"outbound|443||{NGINX_HOST}" in line, line
    assert f'"{NGINX_ADDRESS}:443"' in line, line


def test_egress_gateway_originates_mutual_tls_with_a_credential_name(tmp_path: Path) -> None:
    """The task's outcome: curl http://my-nginx.mesh-external.svc.cluster.local answers 200 from the
    server, which saw the client certificate of istio-system's client-credential (CN client.example.com)
    and SNI my-nginx.mesh-external.svc.cluster.local; the egress gateway's log has the request to
    outbound|443||my-nginx...; before the DestinationRule the server got no request at all."""
    _mutual_origination(tmp_path)


SIDECAR_ORIGINATION = """\
apiVersion: networking.istio.io/v1alpha3
kind: ServiceEntry
metadata:
  name: originate-mtls-for-nginx
spec:
  hosts:
  - my-nginx.mesh-external.svc.cluster.local
  ports:
  - number: 80
    name: http-port
    protocol: HTTP
    targetPort: 443
  - number: 443
    name: https-port
    protocol: HTTPS
  resolution: DNS
---
apiVersion: networking.istio.io/v1alpha3
kind: DestinationRule
metadata:
  name: originate-mtls-for-nginx
spec:
  workloadSelector:
    matchLabels:
      app: sleep
  host: my-nginx.mesh-external.svc.cluster.local
  trafficPolicy:
    loadBalancer:
      simple: ROUND_ROBIN
    portLevelSettings:
    - port:
        number: 80
      tls:
        mode: MUTUAL
        credentialName: client-credential # this must match the secret created earlier to hold client certs, and works only when DR has a workloadSelector
        sni: my-nginx.mesh-external.svc.cluster.local # this is optional
"""  # noqa: E501 (the task's comment, kept as written)


@sandbox.isolated(hosts=SITES)
def _sidecar_mutual_origination(tmp: Path) -> None:
    nginx = make_certificates(tmp / "nginx", [NGINX_HOST], name=NGINX_HOST)
    client_crt, client_key = make_client_certificate(nginx, "client.example.com")
    with world(tmp, list(SITES)) as w:
        site = ExternalSite([NGINX_HOST], nginx, client_ca=nginx.ca_cert, address=NGINX_ADDRESS, name="my-nginx")
        with site:
            w.mesh.apply(NGINX_SERVICE)
            w.mesh.apply(NGINX_POD)
            created = _mizzen(
                w, "create", "secret", "generic", "client-credential", f"--from-file=tls.key={client_key}",
                f"--from-file=tls.crt={client_crt}", f"--from-file=ca.crt={nginx.ca_cert}",
            )  # fmt: skip
            assert created.strip() == "secret/client-credential created", created
            w.mesh.apply(SIDECAR_ORIGINATION)
            w.mesh.wait_synced()
            r = w.sleep.curl("-sS", f"http://{NGINX_HOST}")
            assert r.returncode == 0 and r.stdout.startswith("{"), (r.stdout, w.sleep.access_log())
            answer = json.loads(r.stdout)
            assert (answer["site"], answer["scheme"], answer["client"]) == ("my-nginx", "https", "client.example.com")
            assert answer["sni"] == NGINX_HOST
            line = w.sleep.wait_log(f'"{NGINX_HOST}"')  # kubectl logs -l app=sleep -c istio-proxy | grep my-nginx
            assert '"GET / HTTP/1.1" 200' in line and f"outbound|80||{NGINX_HOST}" in line, line


def test_sidecar_originates_mutual_tls_with_a_credential_name(tmp_path: Path) -> None:
    """The sidecar task's outcome: with the ServiceEntry (port 80, targetPort 443) and the DestinationRule
    selecting sleep (MUTUAL, credentialName client-credential of default), curl http://my-nginx... answers
    200 from the server, which saw CN client.example.com and the SNI; the sidecar logs outbound|80||my-nginx..."""
    _sidecar_mutual_origination(tmp_path)
