"""Free-port helpers for tests and examples (re-exported from the agent's allocator)."""

from mizzen.agent.ports import free_port, free_ports, port_is_free

__all__ = ["free_port", "free_ports", "port_is_free"]
