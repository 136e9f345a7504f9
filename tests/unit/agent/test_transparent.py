"""`mizzen run --capture`'s orchestration: prerequisites, mesh names for the app's /etc/hosts, records."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from mizzen.agent import capture, netns, transparent
from mizzen.agent.errors import CaptureSetupError


def test_without_root_capture_is_refused_with_the_alternative(monkeypatch: pytest.MonkeyPatch) -> None:
    """Not root: a clear error that names what is needed and that HTTP-proxy mode works without it."""
    monkeypatch.setattr(transparent.os, "geteuid", lambda: 1000)
    with pytest.raises(CaptureSetupError, match=r"needs root.*HTTP_PROXY"):
        transparent.check_prerequisites()


def test_without_nft_capture_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """Root but no nft: the error names the command and its package."""
    monkeypatch.setattr(transparent.os, "geteuid", lambda: 0)
    monkeypatch.setattr(transparent.shutil, "which", lambda tool: None if tool == "nft" else "/usr/sbin/ip")
    with pytest.raises(CaptureSetupError, match=r"`nft` command.*nftables"):
        transparent.check_prerequisites()


def test_mesh_names_are_the_route_domains_without_ports_wildcards_or_addresses() -> None:
    """``echo:9080`` gives ``echo``; ``*`` and an IP literal are left out; both dump shapes are read."""
    vhosts = [{"domains": ["echo.default.svc.cluster.local:9080", "echo:9080", "*", "10.0.0.1:80", "x:y"]}]
    per_resource = {"configs": [{"route_config": {"virtual_hosts": vhosts}}]}
    nested = {"configs": [{"dynamic_route_configs": [{"route_config": {"virtual_hosts": vhosts}}]}]}
    assert transparent.mesh_names(per_resource) == {"echo", "echo.default.svc.cluster.local"}
    assert transparent.mesh_names(nested) == transparent.mesh_names(per_resource)


def test_cluster_names_give_every_service_in_scope_with_kubernetes_short_forms() -> None:
    """outbound clusters give the FQDN, name.ns and name.ns.svc, and the bare name in the proxy's namespace;
    inbound and special clusters give nothing; a ServiceEntry host is kept as written."""
    clusters = [
        "outbound|5432||db.default.svc.cluster.local",
        "outbound|9080|v2|reviews.shop.svc.cluster.local",
        "outbound|443||api.example.com",
        "inbound|9080||",
        "PassthroughOriginalDst",
    ]
    dump = {"configs": [{"dynamic_active_clusters": [{"cluster": {"name": n}} for n in clusters]}]}
    assert transparent.cluster_names(dump, "default") == {
        "db.default.svc.cluster.local",
        "db.default",
        "db.default.svc",
        "db",
        "reviews.shop.svc.cluster.local",
        "reviews.shop",
        "reviews.shop.svc",
        "api.example.com",
    }


def test_control_plane_addresses_are_the_ipv4_literals_of_its_urls() -> None:
    """https URLs and host:port pairs give their IPv4 hosts; names are left out (nft needs addresses)."""
    urls = ["https://10.1.2.3:15014", "10.1.2.3:15010", "http://cp.example:15014", "127.0.0.1:15010"]
    assert transparent.ipv4_hosts(urls) == ["10.1.2.3", "127.0.0.1"]


def test_no_record_means_nothing_to_remove(tmp_path: Path) -> None:
    """A first start (or one after a clean stop) finds no record and removes nothing."""
    assert transparent.remove_stale(tmp_path) == []


def test_an_unreadable_record_is_reported_not_ignored(tmp_path: Path) -> None:
    """A corrupt record is an error naming the file, rather than leftovers silently kept."""
    (tmp_path / capture.STATE_FILE).write_text("{not json")
    with pytest.raises(CaptureSetupError, match="not a capture record"):
        transparent.remove_stale(tmp_path)


async def test_the_apps_hosts_file_follows_the_sidecars_routes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """keep_names writes the routed names (at the gateway) once Envoy answers, rewriting the file in place."""
    monkeypatch.setattr(netns, "NETNS_ETC", tmp_path)
    lay = netns.layout("client.default", "/h", [])
    netns.write_hosts(lay, ())
    inode = lay.hosts_file.stat().st_ino
    answers = iter([httpx.Response(503)])

    def handler(request: httpx.Request) -> httpx.Response:
        dump = DUMP if request.url.params["resource"] == "dynamic_route_configs" else CLUSTERS
        return next(answers, httpx.Response(200, json=dump))

    cap = transparent.Capture(layout=lay, table="mizzen_client_default", state=tmp_path)
    async with httpx.AsyncClient(transport=httpx.MockTransport(handler), base_url="http://admin") as client:
        task = asyncio.create_task(transparent.keep_names(cap, client))
        try:
            deadline = asyncio.get_running_loop().time() + 10
            while "echo" not in lay.hosts_file.read_text():
                assert asyncio.get_running_loop().time() < deadline, "the names never arrived"
                await asyncio.sleep(0.05)
        finally:
            task.cancel()
    assert f"{lay.host_address}\techo\n" in lay.hosts_file.read_text()
    assert f"{lay.host_address}\tdb\n" in lay.hosts_file.read_text()  # a TCP service: from its cluster
    assert lay.hosts_file.stat().st_ino == inode


CLUSTERS = {"configs": [{"cluster": {"name": "outbound|5432||db.default.svc.cluster.local"}}]}
DUMP = {"configs": [{"route_config": {"virtual_hosts": [{"domains": ["echo:9080", "echo.default:9080"]}]}}]}
