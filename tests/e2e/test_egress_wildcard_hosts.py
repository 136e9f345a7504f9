"""Istio's "Egress using Wildcard Hosts" task, its YAML unchanged, in a sandbox where en.wikipedia.org,
de.wikipedia.org and www.wikipedia.org are a local stand-in site (nothing leaves the test's namespaces).

Under REGISTRY_ONLY, a ServiceEntry for ``*.wikipedia.org`` (port 443 HTTPS, resolution NONE) opens every
language's site through the sidecar's CONNECT tunnel: the CONNECT authority and the SNI must both match the
wildcard, and the connection goes where the SNI's name resolves (Istio's original destination). Other hosts
stay blocked.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from egress_world import World, world

from mizzen.testing import sandbox

REASON = sandbox.available()
pytestmark = [pytest.mark.e2e, pytest.mark.skipif(bool(REASON), reason=f"no sandbox here: {REASON}")]

SITES = {
    "en.wikipedia.org": "127.0.0.1",
    "de.wikipedia.org": "127.0.0.1",
    "www.wikipedia.org": "127.0.0.1",
    "www.google.com": "127.0.0.1",
    "edition.cnn.com": "127.0.0.1",
}
REGISTRY_ONLY = "outboundTrafficPolicy:\n  mode: REGISTRY_ONLY\n"

WIKIPEDIA = """\
apiVersion: networking.istio.io/v1alpha3
kind: ServiceEntry
metadata:
  name: wikipedia
spec:
  hosts:
  - "*.wikipedia.org"
  ports:
  - number: 443
    name: https
    protocol: HTTPS
"""

EN_PAGE, DE_PAGE = "/wiki/Main_Page", "/wiki/Wikipedia:Hauptseite"


def _page(w: World, url: str) -> dict[str, object]:
    """What the stand-in site saw for ``curl -s URL`` (the task greps the page's title)."""
    r = w.sleep.curl("-s", url)
    assert r.returncode == 0, (url, r.returncode, r.stderr)
    answer: dict[str, object] = json.loads(r.stdout)
    return answer


def _mizzen(w: World, *args: str) -> str:
    """``mizzen ARGS`` (the CLI as users run it) against the world's control plane; its stdout."""
    done = subprocess.run(
        [sys.executable, "-m", "mizzen.cli.main", *args], env={**os.environ, **w.mesh.cp.env()},
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, (args, done.stdout, done.stderr)
    return done.stdout


def _blocked(w: World) -> None:
    """The task's check of the blocking-by-default policy: curl exits with 35, nothing reaches a site."""
    for url in ("https://www.google.com", "https://edition.cnn.com", "https://en.wikipedia.org"):
        r = w.sleep.curl("-sS", "-I", url)
        assert r.returncode == 35, (url, r.returncode, r.stdout, r.stderr)
    assert w.site.count("en.wikipedia.org", "/") == 0


@sandbox.isolated(hosts=SITES)
def _direct(tmp: Path) -> None:
    with world(tmp, list(SITES), mesh_yaml=REGISTRY_ONLY) as w:
        _blocked(w)
        w.mesh.apply(WIKIPEDIA)
        w.mesh.wait_synced()
        # Istio's cluster for the wildcard; it connects where the SNI's name resolves (Istio: ORIGINAL_DST).
        rows = [r.split() for r in _mizzen(w, "proxy-config", "cluster", "sleep.default").splitlines()]
        assert ["*.wikipedia.org", "443", "-", "outbound", "DYNAMIC_FORWARD_PROXY"] in rows, rows
        listeners = _mizzen(w, "proxy-config", "listener", "sleep.default")
        assert "SNI: *.wikipedia.org" in listeners and "Cluster: outbound|443||*.wikipedia.org" in listeners
        en = _page(w, "https://en.wikipedia.org" + EN_PAGE)
        de = _page(w, "https://de.wikipedia.org" + DE_PAGE)
        assert (en["sni"], en["host"], en["path"]) == ("en.wikipedia.org", "en.wikipedia.org", EN_PAGE), en
        assert (de["sni"], de["host"], de["path"]) == ("de.wikipedia.org", "de.wikipedia.org", DE_PAGE), de
        line = w.sleep.wait_log("internal_client_address/ de.wikipedia.org")
        assert line.startswith("[") and '"- - -" 0 - ' in line and '"127.0.0.1:443"' in line, line
        assert line.split()[-2] == "de.wikipedia.org", line  # requested_server_name, then the route name
        # One line per connection, as Istio logs TLS; the CONNECT that carried it is not logged.
        tunnelled = [x for x in w.sleep.access_log().splitlines() if "outbound|443||*.wikipedia.org" in x]
        assert [x.split()[-2] for x in tunnelled] == ["en.wikipedia.org", "de.wikipedia.org"], tunnelled
        assert "CONNECT" not in w.sleep.access_log()
        for url in ("https://www.google.com", "https://edition.cnn.com"):
            r = w.sleep.curl("-sS", "-I", url)
            assert r.returncode == 35, ("a wildcard opens only its own domain", url, r.returncode)
        # The CONNECT authority and the SNI must both be in the domain: a wikipedia name in one of them
        # does not smuggle a connection to another host.
        smuggled = w.sleep.curl("-sS", "-I", "--connect-to", "www.google.com:443:en.wikipedia.org:443",
                                "https://www.google.com")  # fmt: skip
        assert smuggled.returncode != 0 and w.site.count("www.google.com", "/") == 0, smuggled


def test_wildcard_service_entry_opens_every_host_of_the_domain(tmp_path: Path) -> None:
    """REGISTRY_ONLY blocks HTTPS (curl 35); the task's ServiceEntry for *.wikipedia.org then lets
    en.wikipedia.org and de.wikipedia.org answer (the site sees their SNI and Host), each logged once as
    Istio logs TLS ("- - -", outbound|443||*.wikipedia.org, the SNI); other hosts stay blocked."""
    _direct(tmp_path)
