"""Istio's semantic validation rules, one module per kind; ``RULES`` maps a kind to its checker.

A checker takes the resource and the path its spec lives under and returns unlocated violations
(``validate.locate`` adds file, line and resource). Istio's own kinds also get Istio's metadata checks
(:mod:`.metadata`) and, where Mizzen does not apply a field yet, a warning (:mod:`.support`).
"""

from __future__ import annotations

from collections.abc import Callable

from mizzen.config.report import Violation
from mizzen.config.resource import Resource

Checker = Callable[[Resource, str], list[Violation]]

RULES: dict[str, Checker] = {}


def _istio(checker: Checker) -> Checker:
    from mizzen.config.rules import metadata, support

    def run(res: Resource, root: str) -> list[Violation]:
        return [*metadata.check(res), *checker(res, root), *support.check(res, root)]

    run.__doc__ = checker.__doc__
    return run


def _register() -> None:
    # Imported here, not at the top, because the rule modules import this package's `common`.
    from mizzen.config.rules import (
        authentication,
        authorization,
        core,
        destination_rule,
        endpoints,
        gateway,
        gateway_api,
        service_entry,
        sidecar,
        telemetry,
        virtual_service,
        workload_entry,
    )

    istio: dict[str, Checker] = {
        "VirtualService": virtual_service.check,
        "DestinationRule": destination_rule.check,
        "Gateway": gateway.check,
        "ServiceEntry": service_entry.check,
        "WorkloadEntry": workload_entry.check,
        "WorkloadGroup": workload_entry.check_group,
        "Sidecar": sidecar.check,
        "PeerAuthentication": authentication.check_peer_authentication,
        "AuthorizationPolicy": authorization.check,
        "RequestAuthentication": authentication.check_request_authentication,
        "Telemetry": telemetry.check,
    }
    RULES.update({kind: _istio(checker) for kind, checker in istio.items()})
    RULES.update({"Service": core.check_service, "Secret": core.check_secret})
    RULES.update({"Endpoints": endpoints.check_endpoints, "EndpointSlice": endpoints.check_endpoint_slice})
    RULES.update(
        {
            "KubernetesGateway": gateway_api.check_gateway,
            "HTTPRoute": gateway_api.check_http_route,
            "GRPCRoute": gateway_api.check_grpc_route,
            "TCPRoute": gateway_api.check_tcp_route,
            "TLSRoute": gateway_api.check_tls_route,
        }
    )


_register()
