"""Istio's port-protocol rules."""

import pytest

from mizzen.registry.protocols import parse_protocol, protocol_from_name, service_port_protocol


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("http", "HTTP"),
        ("http-web", "HTTP"),
        ("HTTP", "HTTP"),
        ("http2", "HTTP2"),
        ("https", "HTTPS"),
        ("grpc", "GRPC"),
        ("grpc-api", "GRPC"),
        ("grpc-web", "GRPC-WEB"),
        ("grpc-web-x", "GRPC-WEB"),
        ("tcp", "TCP"),
        ("tls-foo", "TLS"),
        ("mongo", "MONGO"),
        ("redis", "REDIS"),
        ("mysql", "MYSQL"),
        ("", "UNSUPPORTED"),
        ("web", "UNSUPPORTED"),
        ("httpx", "UNSUPPORTED"),
    ],
)
def test_protocol_from_port_name(name: str, expected: str) -> None:
    """The port-name prefix before the first dash decides the protocol; unknown names are auto-detected."""
    assert protocol_from_name(name) == expected


def test_app_protocol_wins_over_name() -> None:
    """A Service port's appProtocol takes precedence over its name."""
    assert service_port_protocol("tcp-foo", app_protocol="http") == "HTTP"
    assert service_port_protocol("foo", app_protocol="kubernetes.io/h2c") == "HTTP2"


def test_unknown_app_protocol_falls_back_to_name() -> None:
    """An unrecognised appProtocol leaves the name-based rule in charge."""
    assert service_port_protocol("grpc", app_protocol="custom.example/proto") == "GRPC"


def test_udp_service_port() -> None:
    """protocol: UDP makes the port UDP whatever its name."""
    assert service_port_protocol("http", l4_protocol="UDP") == "UDP"


def test_parse_protocol_case_insensitive() -> None:
    """ServiceEntry protocols parse case-insensitively; garbage is UNSUPPORTED."""
    assert parse_protocol("Http") == "HTTP"
    assert parse_protocol("nope") == "UNSUPPORTED"
