"""Where the ``allowed: true|false`` expectation plugs in: an authorization evaluator, when Mizzen has one.

The evaluator lives in :mod:`mizzen.simulate.rbac` (AuthorizationPolicy / RequestAuthentication as the
destination's Envoy would enforce them). The contract it is called with::

    evaluate(source: Proxy, destination: Proxy, request: Request, mesh: MeshSnapshot) -> Decision

where ``Decision`` has ``allowed: bool`` and ``reason: str`` (the policy and rule that decided, or
why the default applied). Until that module exists, a test using ``allowed`` is an input error
("not supported yet"), never a pass.
"""

from __future__ import annotations

import importlib
import importlib.util
from typing import Protocol

from mizzen.node import Proxy
from mizzen.simulate.walker import Request
from mizzen.translate.model import MeshSnapshot

MODULE = "mizzen.simulate.rbac"
NOT_SUPPORTED = (
    "allowed is not supported yet: Mizzen cannot evaluate AuthorizationPolicy in tests "
    f"(it needs {MODULE}); remove the key or test authorization against a running mesh"
)


class Decision(Protocol):
    """An authorization decision with the reason for it."""

    @property
    def allowed(self) -> bool:
        """Whether the request is admitted."""

    @property
    def reason(self) -> str:
        """Why: the deciding policy or rule."""


class Evaluator(Protocol):
    """Decides whether ``destination``'s proxy admits ``request`` from ``source``."""

    def __call__(self, source: Proxy, destination: Proxy, request: Request, mesh: MeshSnapshot) -> Decision:
        """The decision for ``request`` from ``source`` at ``destination``."""


def load_evaluator() -> Evaluator | None:
    """The evaluator from :data:`MODULE`, or ``None`` while it does not exist."""
    if importlib.util.find_spec(MODULE) is None:
        return None
    module = importlib.import_module(MODULE)
    evaluate: Evaluator | None = getattr(module, "evaluate", None)
    return evaluate
