"""Every feature at once: the translation parses into Envoy's protos and real Envoy accepts it."""

from __future__ import annotations

import base64
import dataclasses
import shutil
import subprocess
from pathlib import Path

import pytest
from translate_envoy import envoy_validate
from translate_fixtures import bookinfo, gateway_proxy, sidecar
from translate_protos import parse_all

from mizzen.node import Upstream
from mizzen.translate import translate
from mizzen.translate.model import MeshConfig, MeshSnapshot

FEATURES = """apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews, namespace: default}
spec:
  host: reviews
  trafficPolicy:
    loadBalancer: {consistentHash: {httpCookie: {name: u, ttl: 10s, path: /}}}
    connectionPool:
      tcp: {maxConnections: 10, connectTimeout: 1s, tcpKeepalive: {probes: 3, time: 60s, interval: 10s},
            maxConnectionDuration: 1h}
      http: {http1MaxPendingRequests: 5, http2MaxRequests: 50, maxRequestsPerConnection: 2, maxRetries: 4,
             idleTimeout: 5m, h2UpgradePolicy: UPGRADE, maxConcurrentStreams: 100}
    outlierDetection: {consecutive5xxErrors: 3, consecutiveGatewayErrors: 2, interval: 5s, baseEjectionTime: 1m,
                       maxEjectionPercent: 50, minHealthPercent: 20, splitExternalLocalOriginErrors: true,
                       consecutiveLocalOriginFailures: 4}
    portLevelSettings:
    - port: {number: 9080}
      tls: {mode: SIMPLE, sni: reviews.example, subjectAltNames: [reviews.example], caCertificates: CA_PATH}
  subsets:
  - {name: v1, labels: {version: v1}, trafficPolicy: {loadBalancer: {consistentHash: {maglev: {tableSize: 65537},
     useSourceIp: true}}}}
  - {name: v2, labels: {version: v2}, trafficPolicy: {loadBalancer: {simple: PASSTHROUGH}}}
  - {name: v3, labels: {version: v3}, trafficPolicy: {connectionPool: {http: {useClientProtocol: true}}}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews, namespace: default}
spec:
  hosts: [reviews]
  http:
  - name: everything
    match:
    - {uri: {regex: "/r/[0-9]+"}, headers: {x-a: {prefix: a}, x-b: {}}, withoutHeaders: {x-c: {exact: c}},
       queryParams: {q: {regex: "v.*"}, p: {}}, method: {exact: GET}, authority: {prefix: reviews},
       scheme: {exact: http}, name: m1}
    headers: {request: {set: {x-s: s}, add: {x-add: a}, remove: [x-r]}, response: {set: {x-o: o}}}
    rewrite: {uriRegexRewrite: {match: "^/r/(.*)", rewrite: "/reviews/\\\\1"}, authority: reviews.internal}
    timeout: 1.5s
    retries: {attempts: 4, perTryTimeout: 500ms, retryOn: "gateway-error,connect-failure,503",
              retryRemoteLocalities: true, backoff: 50ms}
    fault:
      delay: {fixedDelay: 10ms, percent: 5}
      abort: {grpcStatus: UNAVAILABLE, percentage: {value: 0.5}}
    mirror: {host: reviews, subset: v3}
    mirrorPercentage: {value: 12.5}
    corsPolicy: {allowOrigins: [{exact: "https://a"}, {prefix: "https://b"}], allowMethods: [GET],
                 exposeHeaders: [x-e], maxAge: 1h, allowCredentials: false, unmatchedPreflights: IGNORE}
    route:
    - {destination: {host: reviews, subset: v1}, weight: 90, headers: {request: {set: {Host: a.example}}}}
    - {destination: {host: reviews, subset: v2}, weight: 10}
  - match: [{uri: {prefix: /redirect}, ignoreUriCase: true}]
    redirect: {prefixRewrite: /new, scheme: https, derivePort: FROM_REQUEST_PORT, redirectCode: 307}
  - match: [{uri: {exact: /bytes}}]
    directResponse: {status: 503, body: {bytes: aGVsbG8=}}
  - mirrors: [{destination: {host: ratings}, percentage: {value: 10}}]
    route: [{destination: {host: reviews, subset: v1}}]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: ext, namespace: default}
spec:
  hosts: [httpbin.example.com]
  resolution: DNS
  ports: [{number: 80, name: http, protocol: HTTP}, {number: 443, name: tls, protocol: TLS}]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: any, namespace: default}
spec:
  hosts: [any.example.com]
  resolution: NONE
  ports: [{number: 80, name: http, protocol: HTTP}]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: rr, namespace: default}
spec:
  hosts: [rr.example.com]
  resolution: DNS_ROUND_ROBIN
  ports: [{number: 3306, name: mysql, protocol: TCP}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: ext, namespace: default}
spec:
  hosts: [httpbin.example.com]
  tls:
  - match: [{sniHosts: [httpbin.example.com]}]
    route: [{destination: {host: httpbin.example.com, port: {number: 443}}}]
  tcp:
  - route:
    - {destination: {host: httpbin.example.com, port: {number: 443}}, weight: 50}
    - {destination: {host: rr.example.com, port: {number: 3306}}, weight: 50}
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: gw, namespace: istio-system}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 8080, name: http, protocol: HTTP}
    hosts: ['*']
    tls: {httpsRedirect: true}
  - port: {number: 8443, name: https, protocol: HTTPS}
    hosts: [bookinfo.com]
    tls: {mode: SIMPLE, credentialName: cred}
  - port: {number: 9443, name: tls, protocol: TLS}
    hosts: [httpbin.example.com]
    tls: {mode: PASSTHROUGH}
  - port: {number: 3306, name: tcp, protocol: TCP}
    hosts: ['*']
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: front, namespace: default}
spec:
  hosts: [bookinfo.com, '*']
  gateways: [istio-system/gw]
  http:
  - route: [{destination: {host: productpage, port: {number: 9080}}}]
  tls:
  - match: [{sniHosts: [httpbin.example.com], port: 9443}]
    route: [{destination: {host: httpbin.example.com, port: {number: 443}}}]
  tcp:
  - match: [{port: 3306}]
    route: [{destination: {host: rr.example.com, port: {number: 3306}}}]
"""


def tls_secret(tmp: Path) -> str:
    """A kubernetes.io/tls Secret with a real self-signed certificate (Envoy loads it)."""
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=bookinfo.com",
            "-keyout",
            str(tmp / "k.pem"),
            "-out",
            str(tmp / "c.pem"),
        ],
        check=True,
        capture_output=True,
    )
    crt = base64.b64encode((tmp / "c.pem").read_bytes()).decode()
    key = base64.b64encode((tmp / "k.pem").read_bytes()).decode()
    return f"""apiVersion: v1
kind: Secret
metadata: {{name: cred, namespace: istio-system}}
type: kubernetes.io/tls
data: {{tls.crt: {crt}, tls.key: {key}}}
"""


def mesh(tmp: Path) -> MeshSnapshot:
    secret = tls_secret(tmp)
    config = MeshConfig(zipkin_address="127.0.0.1:9411", tracing_sampling=5.0, access_log_service=True)
    return bookinfo(FEATURES.replace("CA_PATH", str(tmp / "c.pem")), secret, mesh=config)


SIDECAR = dataclasses.replace(
    sidecar(),
    access_log="/dev/stdout",
    upstreams=(
        Upstream("reviews", 9080, 19080),
        Upstream("httpbin.example.com", 443, 19443),
        Upstream("rr.example.com", 3306, 13306),
        Upstream("missing", 1234, 11234),
    ),
)

needs_openssl = pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl CLI not installed")


@needs_openssl
def test_kitchen_sink_parses_into_protos(tmp_path: Path) -> None:
    """Every generated resource of the all-features mesh parses into Envoy's protos."""
    m = mesh(tmp_path)
    assert parse_all(translate(SIDECAR, m)) > 25
    gw = translate(gateway_proxy(), m)
    assert parse_all(gw) > 20
    assert set(gw.listeners) == {"0.0.0.0_8080", "0.0.0.0_8443", "0.0.0.0_9443", "0.0.0.0_3306"}


@needs_openssl
@pytest.mark.e2e
def test_envoy_accepts_kitchen_sink(tmp_path: Path) -> None:
    """Envoy --mode validate accepts the all-features sidecar and gateway configuration."""
    m = mesh(tmp_path)
    for res in (translate(SIDECAR, m), translate(gateway_proxy(), m)):
        out = envoy_validate(res)
        assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
