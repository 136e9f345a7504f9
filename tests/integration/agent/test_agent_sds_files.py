"""The agent's SDS server answers Istio's file-based secret names (``file-root:``, ``file-cert:``) on demand,
over real gRPC on a UNIX socket, beside the ``default``/``ROOTCA`` it publishes."""

from __future__ import annotations

import asyncio
import base64
import datetime
from pathlib import Path

from envoy.extensions.transport_sockets.tls.v3 import secret_pb2
from envoy.service.discovery.v3 import discovery_pb2

from mizzen.agent.sds import SecretServer, read_file_secret
from mizzen.security import x509
from mizzen.security.sds import SECRET_TYPE, tls_certificate_secret
from mizzen.xds.testing import FakeEnvoy, StreamClient

METHOD = "/envoy.service.secret.v3.SecretDiscoveryService/StreamSecrets"
NODE = "sidecar~127.0.0.1~app.default~default.svc.cluster.local"


def _files(tmp: Path) -> tuple[Path, Path, Path]:
    ca_key, key = x509.generate_key(), x509.generate_key()
    root = x509.create_root("files", ca_key)
    now = datetime.datetime.now(datetime.UTC)
    leaf = x509.sign_leaf(
        root, ca_key, key, dns_names=["client.example"], not_before=now, not_after=now + datetime.timedelta(hours=1)
    )
    paths = tmp / "ca.pem", tmp / "cert.pem", tmp / "key.pem"
    for path, data in zip(paths, (root, leaf, key), strict=True):
        path.write_bytes(data)
    return paths


def _secrets(response: discovery_pb2.DiscoveryResponse) -> dict[str, secret_pb2.Secret]:
    out = {}
    for any_ in response.resources:
        secret = secret_pb2.Secret()
        any_.Unpack(secret)
        out[secret.name] = secret
    return out


async def _request(path: Path, names: list[str]) -> dict[str, secret_pb2.Secret]:
    client = StreamClient(f"unix:{path}", METHOD, discovery_pb2.DiscoveryRequest, discovery_pb2.DiscoveryResponse, None)
    try:
        client.send(FakeEnvoy(NODE).request(SECRET_TYPE, names))
        found: dict[str, secret_pb2.Secret] = {}
        while not set(names) - {"file-root:/no/such/file"} <= set(found):
            found = _secrets(await client.receive())
        return found
    finally:
        await client.close()


async def test_file_secrets_are_served_on_demand(tmp_path: Path) -> None:
    """file-root:<ca> and file-cert:<cert>~<key> come back with the files' bytes; an unreadable file is not served."""
    ca, cert, key = _files(tmp_path)
    server = SecretServer()
    socket = tmp_path / "sds.sock"
    await server.start(str(socket))
    try:
        server.publish(NODE, {"default": tls_certificate_secret(cert.read_bytes(), key.read_bytes())})
        names = [f"file-root:{ca}", f"file-cert:{cert}~{key}", "file-root:/no/such/file"]
        got = await _request(socket, names)
        assert got[f"file-root:{ca}"].validation_context.trusted_ca.inline_bytes == ca.read_bytes()
        tls = got[f"file-cert:{cert}~{key}"].tls_certificate
        assert tls.certificate_chain.inline_bytes == cert.read_bytes()
        assert tls.private_key.inline_bytes == key.read_bytes()
        assert "file-root:/no/such/file" not in got
    finally:
        await server.stop()


def test_system_roots_and_unknown_names() -> None:
    """file-root:system is this host's CA bundle; names that are not Istio's file names are not read."""
    system = read_file_secret("file-root:system")
    assert system is not None
    assert base64.b64decode(system["validation_context"]["trusted_ca"]["inline_bytes"]).startswith(b"-----BEGIN")
    assert read_file_secret("default") is None
    assert read_file_secret("file-cert:/only-a-cert") is None


async def test_a_rotated_file_is_read_again_and_pushed_on_the_open_stream(tmp_path: Path) -> None:
    """After the certificate and key files are replaced, the open SDS stream gets the new bytes within a
    few poll periods; a file removed mid-rotation keeps the last good secret."""
    _ca, cert, key = _files(tmp_path)
    server = SecretServer(poll_seconds=0.05)
    socket = tmp_path / "sds.sock"
    await server.start(str(socket))
    name = f"file-cert:{cert}~{key}"
    client = StreamClient(
        f"unix:{socket}", METHOD, discovery_pb2.DiscoveryRequest, discovery_pb2.DiscoveryResponse, None
    )
    try:
        client.send(FakeEnvoy(NODE).request(SECRET_TYPE, [name]))
        first = _secrets(await client.receive())[name].tls_certificate.certificate_chain.inline_bytes
        assert first == cert.read_bytes()
        old = cert.read_bytes()
        key.unlink()  # mid-rotation: nothing readable, nothing pushed
        assert server.reread_changed_files() == []
        (tmp_path / "next").mkdir()
        rotated = _files(tmp_path / "next")
        cert.write_bytes(rotated[1].read_bytes())
        key.write_bytes(rotated[2].read_bytes())
        pushed = _secrets(await asyncio.wait_for(client.receive(), 10))[name].tls_certificate
        assert pushed.certificate_chain.inline_bytes == cert.read_bytes() != old
        assert pushed.private_key.inline_bytes == key.read_bytes()
    finally:
        await client.close()
        await server.stop()
