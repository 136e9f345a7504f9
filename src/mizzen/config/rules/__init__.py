"""Istio's semantic validation rules, one module per kind; ``RULES`` maps a kind to its checker.

A checker takes the resource and the path its spec lives under and returns unlocated violations
(``validate.locate`` adds file, line and resource).
"""

from __future__ import annotations

from collections.abc import Callable

from mizzen.config.report import Violation
from mizzen.config.resource import Resource

Checker = Callable[[Resource, str], list[Violation]]

RULES: dict[str, Checker] = {}


def _register() -> None:
    # Imported here, not at the top, because the rule modules import this package's `common`.
    from mizzen.config.rules import (
        core,
        destination_rule,
        gateway,
        security,
        service_entry,
        sidecar,
        virtual_service,
        workload_entry,
    )

    RULES.update(
        {
            "VirtualService": virtual_service.check,
            "DestinationRule": destination_rule.check,
            "Gateway": gateway.check,
            "ServiceEntry": service_entry.check,
            "WorkloadEntry": workload_entry.check,
            "WorkloadGroup": workload_entry.check_group,
            "Sidecar": sidecar.check,
            "PeerAuthentication": security.check_peer_authentication,
            "AuthorizationPolicy": security.check_authorization_policy,
            "RequestAuthentication": security.check_request_authentication,
            "Service": core.check_service,
            "Secret": core.check_secret,
        }
    )


_register()
