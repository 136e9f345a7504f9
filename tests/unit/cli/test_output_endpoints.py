"""``mizzen get ep`` / ``mizzen get endpointslices`` print kubectl's columns."""

from __future__ import annotations

from mizzen.cli.output import table
from mizzen.config.kinds import resolve

META = {"name": "my-wikipedia", "namespace": "default", "creationTimestamp": ""}


def _table(kind: str, obj: dict[str, object]) -> list[list[str]]:
    text = table(resolve(kind), [obj], all_namespaces=False, wide=False, qualify=False)
    return [line.split() for line in text.splitlines()]


def test_endpoints_list_address_port_pairs_three_at_most() -> None:
    """ENDPOINTS lists ip:port pairs, the first three then "+ N more..."; none is <none>."""
    subsets = [{"addresses": [{"ip": f"10.0.0.{i}"} for i in range(1, 6)], "ports": [{"name": "tls", "port": 443}]}]
    header, row = _table("ep", {"metadata": META, "subsets": subsets})
    assert header[:2] == ["NAME", "ENDPOINTS"]
    assert row[:5] == ["my-wikipedia", "10.0.0.1:443,10.0.0.2:443,10.0.0.3:443", "+", "2", "more..."]
    assert _table("ep", {"metadata": META})[1][1] == "<none>"


def test_endpoint_slices_print_address_type_ports_and_addresses() -> None:
    """ADDRESSTYPE, PORTS (<unset> without a number) and ENDPOINTS, as kubectl prints a slice."""
    obj = {
        "metadata": META,
        "addressType": "IPv4",
        "ports": [{"name": "tls", "port": 443}, {"name": "any"}],
        "endpoints": [{"addresses": ["198.35.26.96"]}, {"addresses": ["208.80.153.224"]}],
    }
    header, row = _table("endpointslices", obj)
    assert header[:4] == ["NAME", "ADDRESSTYPE", "PORTS", "ENDPOINTS"]
    assert row[:4] == ["my-wikipedia", "IPv4", "443,<unset>", "198.35.26.96,208.80.153.224"]
