"""Annotations the agent writes on its WorkloadEntry and the registry reads (no imports: the agent loads
this without the configuration models)."""

REGISTERED_BY_ANNOTATION = "mizzen.io/registered-by"
PORTS_ANNOTATION = "mizzen.io/container-ports"  # set by the agent: "<app port>=<sidecar port>,..."
# "false" while the agent's readiness probe fails: the endpoint is sent UNHEALTHY (Mizzen's stand-in for
# the Healthy condition of Istio's health-checked WorkloadEntries; Mizzen stores no status).
HEALTH_ANNOTATION = "mizzen.io/healthy"
