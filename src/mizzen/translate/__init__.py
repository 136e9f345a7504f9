"""Mizzen translate: a pure function from (proxy, mesh snapshot) to Envoy xDS resources.

``translate(proxy, mesh)`` returns :class:`ProxyResources` (clusters, endpoints, listeners, routes,
secrets as Envoy v3 proto-JSON dicts keyed by name, sorted); ``build_endpoints(proxy, mesh)`` returns just
the EDS part for the endpoint fast path.

Theory of operation. :mod:`scope` computes what the proxy may see (exportTo, Sidecar egress hosts, merged
DestinationRules, its outbound policy); then one builder per xDS type runs over that scope:
:mod:`clusters` / :mod:`endpoints` (CDS/EDS, subsets filtered server-side), :mod:`listeners` and
:mod:`vhosts` (sidecar LDS/RDS), :mod:`gateway` (router LDS/RDS/SDS), with VirtualService rules turned
into Envoy routes by :mod:`routes` / :mod:`match` / :mod:`tcp` and Istio policies by :mod:`policies`.
Every Envoy name comes from :mod:`names`.

Decisions where Mizzen differs from Istio because there are no iptables:
- Sidecars get an outbound HTTP-proxy listener (RDS ``http_proxy``); its virtual hosts carry Istio's
  domain variants *with* ``:port`` (HTTP-proxy clients send ``Host: reviews:9080``), plus bare names
  for port 80.
- ``PassthroughCluster`` (ALLOW_ANY) and ServiceEntry ``resolution: NONE`` clusters are Envoy dynamic
  forward proxies: they connect to whatever host the request names.
- TCP/gRPC clients use explicit upstream listeners (``Proxy.upstreams``) whose HTTP route config is
  named ``<fqdn>:<port>`` and covers that one service.
- Inbound listeners bind ``<proxy ip>:<listen port>`` and forward to ``inbound|<port>||`` at the app.
"""

from mizzen.translate.model import MeshConfig, MeshSnapshot, ProxyResources
from mizzen.translate.translator import build_endpoints, translate

__all__ = ["MeshConfig", "MeshSnapshot", "ProxyResources", "build_endpoints", "translate"]
