"""Run the real Envoy binary in ``--mode validate`` on a bootstrap that embeds translator output as
static resources (RDS inlined into each HTTP connection manager, EDS clusters given their endpoints),
so Envoy itself checks every cluster, listener and route."""

from __future__ import annotations

import copy
import datetime
import functools
import json
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from mizzen.agent.bootstrap import INTERNAL_LISTENER_EXTENSION
from mizzen.agent.envoy import find_envoy
from mizzen.security import x509
from mizzen.security.sds import tls_certificate_secret, validation_context_secret
from mizzen.testing.controlplane import free_port
from mizzen.testing.echo import EchoServer, serve
from mizzen.translate.model import ProxyResources


def static_bootstrap(resources: ProxyResources) -> dict[str, Any]:
    """An Envoy bootstrap with ``resources`` as static resources."""
    clusters = []
    for cluster in resources.clusters.values():
        c = _static_sds(copy.deepcopy(dict(cluster)))
        if c.get("type") == "EDS":
            c["type"] = "STATIC"
            c.pop("eds_cluster_config", None)
            c["load_assignment"] = resources.endpoints.get(c["name"], {"cluster_name": c["name"]})
        clusters.append(c)
    listeners = [
        _static_sds(_inline_routes(copy.deepcopy(dict(lis)), resources)) for lis in resources.listeners.values()
    ]
    # The agent's bootstrap has the control-plane cluster the access-log service streams on.
    clusters.append(
        {
            "name": "xds-grpc",
            "type": "STATIC",
            "connect_timeout": "1s",
            "typed_extension_protocol_options": {
                "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
                    "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
                    "explicit_http_config": {"http2_protocol_options": {}},
                }
            },
            "load_assignment": {
                "cluster_name": "xds-grpc",
                "endpoints": [
                    {
                        "lb_endpoints": [
                            {"endpoint": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": 9}}}}
                        ]
                    }
                ],
            },
        }
    )
    return {
        "node": {"id": "sidecar~127.0.0.1~validate.default~default.svc.cluster.local", "cluster": "validate"},
        # As the agent's bootstrap: CONNECT tunnels enter internal listeners.
        "bootstrap_extensions": [INTERNAL_LISTENER_EXTENSION],
        "static_resources": {
            "clusters": clusters,
            "listeners": listeners,
            "secrets": [dict(s) for s in resources.secrets.values()] + _agent_secrets(clusters + listeners),
        },
    }


@functools.cache
def _test_credentials() -> tuple[bytes, bytes, bytes]:
    """A throwaway root and a workload certificate and key it signed."""
    ca_key, key = x509.generate_key(), x509.generate_key()
    root = x509.create_root("translate-test", ca_key)
    now = datetime.datetime.now(datetime.UTC)
    leaf = x509.sign_leaf(
        root,
        ca_key,
        key,
        uris=["spiffe://cluster.local/ns/default/sa/validate"],
        not_before=now - datetime.timedelta(minutes=5),
        not_after=now + datetime.timedelta(hours=1),
    )
    return root, leaf, key


def _agent_secrets(resources: list[Any]) -> list[dict[str, Any]]:
    """What the agent would serve on ``sds-grpc`` for the names the resources reference: ``default`` and
    Istio's ``file-cert:`` names get a test certificate, ``ROOTCA`` and ``file-root:`` names its root."""
    root, leaf, key = _test_credentials()
    wanted = {"default", "ROOTCA"} | _static_names(resources)
    return [
        validation_context_secret(root, name)
        if name == "ROOTCA" or name.startswith("file-root:")
        else tls_certificate_secret(leaf, key, name)
        for name in sorted(wanted)
        if name in ("default", "ROOTCA") or name.startswith(("file-root:", "file-cert:"))
    ]


def _static_names(value: Any) -> set[str]:
    if isinstance(value, dict):
        own = {value["name"]} if set(value) == {"name"} and isinstance(value.get("name"), str) else set()
        return own | {n for v in value.values() for n in _static_names(v)}
    if isinstance(value, list):
        return {n for v in value for n in _static_names(v)}
    return set()


def _static_sds(value: Any) -> Any:
    """SDS references to the agent's ``sds-grpc`` become references to static secrets of the same name."""
    if isinstance(value, dict):
        source = value.get("sds_config")
        if isinstance(source, dict) and "api_config_source" in source:
            return {"name": value["name"]}
        return {k: _static_sds(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_static_sds(v) for v in value]
    return value


def _inline_routes(listener: dict[str, Any], resources: ProxyResources) -> dict[str, Any]:
    chains = list(listener.get("filter_chains", []))
    if "default_filter_chain" in listener:
        chains.append(listener["default_filter_chain"])
    for chain in chains:
        for filt in chain.get("filters", []):
            config = filt.get("typed_config", {})
            rds = config.pop("rds", None)
            if rds is not None:
                config["route_config"] = copy.deepcopy(dict(resources.routes[rds["route_config_name"]]))
            for tls in [chain.get("transport_socket", {}).get("typed_config", {})]:
                for sds in tls.get("common_tls_context", {}).get("tls_certificate_sds_secret_configs", []):
                    sds.pop("sds_config", None)
    return listener


def envoy_validate(resources: ProxyResources) -> subprocess.CompletedProcess[str]:
    """Run ``envoy --mode validate`` on the static bootstrap; returns the completed process."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bootstrap.json"
        path.write_text(json.dumps(static_bootstrap(resources)))
        return subprocess.run(
            [str(find_envoy()), "--mode", "validate", "-c", str(path), "--log-level", "warn"],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )


def start_echoes(*names: str) -> dict[str, EchoServer]:
    """Echo servers on free ports, serving in daemon threads (stop with :func:`stop_echoes`)."""
    servers = {name: serve(free_port(), workload=name) for name in names}
    threads = [threading.Thread(target=s.serve_forever, daemon=True) for s in servers.values()]
    for t in threads:
        t.start()
    return servers


def stop_echoes(servers: dict[str, EchoServer]) -> None:
    """Shut the echo servers down and close their sockets."""
    for s in servers.values():
        s.shutdown()
        s.server_close()


def run_envoy(resources: ProxyResources, tmp: Path, name: str) -> subprocess.Popen[bytes]:
    """Start Envoy on a static bootstrap of ``resources`` (admin on a free port)."""
    bootstrap = static_bootstrap(resources)
    bootstrap["admin"] = {"address": {"socket_address": {"address": "127.0.0.1", "port_value": free_port()}}}
    path = tmp / f"{name}.json"
    path.write_text(json.dumps(bootstrap))
    return subprocess.Popen(
        [
            str(find_envoy()),
            "-c",
            str(path),
            "--base-id",
            str(free_port()),
            "--log-level",
            "warn",
            "--log-path",
            str(tmp / f"{name}.log"),
        ]
    )


def wait_listening(port: int, proc: subprocess.Popen[bytes]) -> None:
    """Wait until something accepts connections on 127.0.0.1:port (Envoy must stay alive)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert proc.poll() is None, "envoy exited"
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"nothing listening on {port}")


def stop(proc: subprocess.Popen[bytes]) -> None:
    """Terminate Envoy (kill after 10 s)."""
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
