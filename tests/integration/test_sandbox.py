"""The egress tests' sandbox (mizzen.testing.sandbox) and stand-in external site (mizzen.testing.external)."""

from __future__ import annotations

import json
import os
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from mizzen.testing import sandbox
from mizzen.testing.external import ExternalSite
from mizzen.testing.tls import make_certificates

REASON = sandbox.available()
pytestmark = pytest.mark.skipif(bool(REASON), reason=f"namespaces unavailable: {REASON}")


@sandbox.isolated(hosts={"edition.cnn.com": "127.0.0.1"})
def _resolve_and_bind() -> None:
    assert socket.gethostbyname("edition.cnn.com") == "127.0.0.1"
    with pytest.raises(OSError):
        socket.create_connection(("192.0.2.1", 80), timeout=2)  # no route leaves the namespace
    with socket.socket() as s:
        s.bind(("127.0.0.1", 443))  # a privileged port is free to bind in here
    assert os.getpid() == 1


def test_sandbox_maps_hosts_binds_low_ports_and_routes_nowhere() -> None:
    """Inside, made-up names resolve as /etc/hosts says, port 443 binds, nothing routes out; PID is 1."""
    _resolve_and_bind()


def test_sandbox_leaves_the_host_files_alone() -> None:
    """The sandbox's /etc/hosts is its own: the host's file is unchanged after a run."""
    before = Path("/etc/hosts").read_text()
    _resolve_and_bind()
    assert Path("/etc/hosts").read_text() == before


@sandbox.isolated(addresses=["198.35.26.96"])
def _serves_on_an_added_address() -> None:
    with socket.socket() as server:
        server.bind(("198.35.26.96", 443))
        server.listen(1)
        with socket.create_connection(("198.35.26.96", 443), timeout=2) as client:
            peer, _ = server.accept()
            assert client.getpeername() == ("198.35.26.96", 443)
            peer.close()
    with pytest.raises(OSError):
        socket.create_connection(("208.80.153.224", 443), timeout=2)  # an address not added routes nowhere


def test_sandbox_adds_a_tasks_public_address_to_its_own_loopback() -> None:
    """An address given to the sandbox is local inside it (a server binds and is reached there); others
    still route nowhere."""
    _serves_on_an_added_address()


@sandbox.isolated()
def _fails() -> None:
    raise ValueError("boom inside")


def test_a_failure_inside_comes_back_with_its_traceback() -> None:
    """An exception in the sandbox fails the test in the parent, carrying the message and traceback."""
    with pytest.raises(sandbox.IsolatedFailure, match="boom inside"):
        _fails()


@sandbox.isolated()
def _starts_a_sleeper(pidfile: str, seconds: str) -> None:
    proc = subprocess.Popen(["sleep", seconds], start_new_session=True)
    Path(pidfile).write_text(str(proc.pid))


def test_processes_started_inside_die_with_the_sandbox(tmp_path: Path) -> None:
    """A process left running by the test is killed when the sandbox ends (no leftovers)."""
    marker = tmp_path / "pid"
    seconds = f"300.{os.getpid()}{time.monotonic_ns() % 10**6}"  # an argv no other process has
    _starts_a_sleeper(str(marker), seconds)
    assert marker.read_text() == "2"  # its PID inside the sandbox's own PID namespace
    out = subprocess.run(["pgrep", "-f", f"^sleep {seconds}$"], capture_output=True, text=True)
    assert out.stdout.strip() == "", "the sleeper outlived its sandbox"


def _site_answers(certs_dir: str) -> None:
    certs = make_certificates(Path(certs_dir), ["edition.cnn.com"])
    with ExternalSite(["edition.cnn.com"], certs, https_only={"edition.cnn.com"}) as site:
        plain = urllib.request.Request("http://edition.cnn.com/politics")
        opener = urllib.request.build_opener(_NoRedirect)
        with pytest.raises(urllib.error.HTTPError) as moved:
            opener.open(plain, timeout=10)
        assert moved.value.code == 301 and moved.value.headers["location"] == "https://edition.cnn.com/politics"
        context = ssl.create_default_context(cafile=str(certs.ca_cert))
        with urllib.request.urlopen("https://edition.cnn.com/politics", context=context, timeout=10) as r:
            body = json.loads(r.read())
        assert (body["scheme"], body["sni"], body["path"]) == ("https", "edition.cnn.com", "/politics")
        assert site.count("edition.cnn.com", "/politics") == 2


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


def test_external_site_redirects_plain_http_and_reports_the_sni(tmp_path: Path) -> None:
    """The stand-in site answers 301 to https:// for an https-only host and echoes scheme, SNI and path."""
    sandbox.run_isolated(lambda: _site_answers(str(tmp_path)), hosts={"edition.cnn.com": "127.0.0.1"})
