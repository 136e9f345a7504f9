"""The agent's exceptions.

::

    AgentError
     ├── EnvoyNotFoundError       no Envoy binary could be located
     ├── EnvoyVersionError        the binary is not the pinned release
     ├── PortSpecError            a malformed --port / --upstream / --env / --labels value
     ├── AlreadyRunningError      a workload with this name and namespace is already running here
     ├── CaptureSetupError        `run --capture` cannot set up or remove the app's namespace, veth or nft table
     ├── JoinError                the control plane cannot be joined (unreachable, wrong root, refused, no route)
     └── ControlPlaneCallError    the control plane refused a call or could not be reached
          ├── RegistrationError   ... for (de)registration
          └── CredentialError     ... for the agent's credential, or the credential does not fit the workload
"""

from __future__ import annotations


class AgentError(Exception):
    """Base class of every error the agent raises on purpose."""


class EnvoyNotFoundError(AgentError):
    """No Envoy binary could be located."""


class EnvoyVersionError(AgentError):
    """The Envoy binary found is not the release Mizzen is pinned to."""


class PortSpecError(AgentError, ValueError):
    """A malformed command-line value (``--port``, ``--upstream``, ``--env``, ``--labels``)."""


class AlreadyRunningError(AgentError):
    """A workload with the same namespace and name is already running on this host."""


class CaptureSetupError(AgentError):
    """``mizzen run --capture`` cannot set up (or tear down) transparent capture: not root, no ``nft`` or
    ``ip``, or one of them refused."""


class JoinError(AgentError):
    """The control plane cannot be joined: unreachable, not signed by the mesh root, credential refused,
    or no usable endpoint address."""


class ControlPlaneCallError(AgentError):
    """A call to the control plane's API failed (refused, or the control plane is unreachable)."""

    def __init__(self, message: str, *, unreachable: bool = False) -> None:
        """``unreachable``: no answer at all (worth retrying), as opposed to a refusal."""
        super().__init__(message)
        self.unreachable = unreachable  # no answer at all: worth retrying, unlike a refusal


class RegistrationError(ControlPlaneCallError):
    """Registering or deregistering the WorkloadEntry through the control plane's API failed."""


class CredentialError(ControlPlaneCallError):
    """The agent has no usable credential, or its credential is for another workload."""
