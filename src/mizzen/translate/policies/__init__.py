"""Istio policies translated into Envoy fields: DestinationRule traffic policy (cluster side),
retries, faults, CORS, header operations and consistent-hash route policies."""
