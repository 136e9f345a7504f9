"""The signed session cookie, and the shipped YAML: where it is and that it means what Istio's does."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from mizzen.samples.bookinfo import paths
from mizzen.samples.bookinfo.session import SessionCodec

REPO = Path(__file__).resolve().parents[3]


def _docs(path: Path) -> list[Any]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d is not None]


def test_session_round_trip_and_tamper_detection() -> None:
    """A signed session reads back; a changed payload, a wrong key or garbage reads as empty."""
    codec = SessionCodec(b"k1")
    value = codec.dumps({"user": "jason"})
    assert codec.loads(value) == {"user": "jason"}
    _, _, signature = value.partition(".")
    other = SessionCodec(b"k1").dumps({"user": "admin"}).partition(".")[0]
    assert codec.loads(f"{other}.{signature}") == {}
    assert SessionCodec(b"k2").loads(value) == {}
    assert codec.loads("garbage") == {} and codec.loads("a.b") == {}
    assert codec.from_cookie_header(f"theme=dark; session={value}") == {"user": "jason"}
    assert codec.from_cookie_header('bad"cookie') == {}


def test_platform_file_has_four_services_and_accounts() -> None:
    """platform/bookinfo.yaml defines the four Services on port 9080 (http) and their ServiceAccounts."""
    docs = _docs(paths.platform_file())
    services = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Service"}
    accounts = {d["metadata"]["name"] for d in docs if d["kind"] == "ServiceAccount"}
    assert set(services) == {"details", "ratings", "reviews", "productpage"}
    assert accounts == {f"bookinfo-{name}" for name in services}
    for name, svc in services.items():
        assert svc["spec"]["ports"] == [{"name": "http", "port": 9080}]
        assert svc["spec"]["selector"] == {"app": name}


def test_networking_file_lookup() -> None:
    """networking_file finds files with or without .yaml and names the known files otherwise."""
    assert paths.networking_file("virtual-service-all-v1") == paths.networking_file("virtual-service-all-v1.yaml")
    assert paths.networking_file("bookinfo-gateway").is_file()
    with pytest.raises(FileNotFoundError, match=r"bookinfo-gateway\.yaml"):
        paths.networking_file("nope")


def test_gateway_listens_on_8080() -> None:
    """Bookinfo's gateway server is HTTP on port 8080 for any host."""
    gateway = _docs(paths.networking_file("bookinfo-gateway"))[0]
    assert gateway["spec"]["servers"][0]["port"] == {"number": 8080, "name": "http", "protocol": "HTTP"}


def test_networking_files_mean_the_same_as_istios_samples(istio_samples: Path) -> None:
    """Every Istio networking sample has a file of the same name here with equal documents."""
    samples = istio_samples
    names = sorted(p.name for p in samples.glob("*.yaml") if p.name != "bookinfo.yaml")
    assert names and names == paths.networking_files()
    for name in names:
        assert _docs(paths.networking_file(name)) == _docs(samples / name), name


def test_platform_services_equal_istios(istio_samples: Path) -> None:
    """The Services and ServiceAccounts equal those in Istio's bookinfo.yaml (Deployments left out)."""
    samples = istio_samples
    theirs = [d for d in _docs(samples / "bookinfo.yaml") if d["kind"] in ("Service", "ServiceAccount")]
    ours = _docs(paths.platform_file())
    key = lambda d: (d["kind"], d["metadata"]["name"])  # noqa: E731
    assert sorted(ours, key=key) == sorted(theirs, key=key)
