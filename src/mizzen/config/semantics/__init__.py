"""Istio's shared rules, implemented once: every layer that needs one (translate, registry, analyzers,
``describe``, telemetry) calls these instead of carrying its own copy.

- :mod:`.hosts`: short names and FQDNs (``reviews``, ``reviews.ns``, ``reviews.ns.svc``), wildcard
  host matching, intersection and specificity.
- :mod:`.visibility`: ``exportTo`` (and the Service annotation), ``namespace/host`` references of
  Gateway servers and Sidecar egress listeners.
- :mod:`.selectors`: label selectors, with each kind's rule for an *absent* versus an *empty* selector.
- :mod:`.durations`: Istio's duration syntax to seconds and to protobuf JSON.
- :mod:`.ports`: which port a workload serves for a service port, a route destination's port, and
  the port a gateway binds for a server port (Istio's ``resolvePorts``).

Everything here is pure and works on plain values (strings, label maps), so both the typed models and
the Kubernetes-shaped JSON the CLI reads can use it.
"""
