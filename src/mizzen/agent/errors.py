"""The agent's exceptions.

::

    AgentError
     ├── EnvoyNotFoundError       no Envoy binary could be located
     ├── EnvoyVersionError        the binary is not the pinned release
     ├── PortSpecError            a malformed --port / --upstream / --env / --labels value
     ├── AlreadyRunningError      a workload with this name and namespace is already running here
     └── RegistrationError        the control plane refused or could not be reached for (de)registration
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


class RegistrationError(AgentError):
    """Registering or deregistering the WorkloadEntry through the control plane's API failed."""
