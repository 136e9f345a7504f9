"""Istio's "Egress TLS Origination" task (its SIMPLE part), YAML unchanged: a DestinationRule makes the
sidecar originate HTTPS for the app's plain ``http://edition.cnn.com`` requests (no more 301 from the
site), while ``https://`` requests still tunnel through. edition.cnn.com is the local stand-in site.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from egress_world import statuses, world

from mizzen.testing import sandbox

REASON = sandbox.available()
pytestmark = [pytest.mark.e2e, pytest.mark.skipif(bool(REASON), reason=f"no sandbox here: {REASON}")]

SITES = {"edition.cnn.com": "127.0.0.1"}

SIMPLE = """\
apiVersion: networking.istio.io/v1alpha3
kind: ServiceEntry
metadata:
  name: edition-cnn-com
spec:
  hosts:
  - edition.cnn.com
  ports:
  - number: 80
    name: http-port
    protocol: HTTP
  - number: 443
    name: https-port
    protocol: HTTPS
  resolution: DNS
"""

ORIGINATION = """\
apiVersion: networking.istio.io/v1alpha3
kind: ServiceEntry
metadata:
  name: edition-cnn-com
spec:
  hosts:
  - edition.cnn.com
  ports:
  - number: 80
    name: http-port
    protocol: HTTP
    targetPort: 443
  - number: 443
    name: https-port
    protocol: HTTPS
  resolution: DNS
---
apiVersion: networking.istio.io/v1alpha3
kind: DestinationRule
metadata:
  name: edition-cnn-com
spec:
  host: edition.cnn.com
  trafficPolicy:
    portLevelSettings:
    - port:
        number: 80
      tls:
        mode: SIMPLE # initiates HTTPS when accessing edition.cnn.com
"""


@sandbox.isolated(hosts=SITES)
def _origination(tmp: Path) -> None:
    with world(tmp, list(SITES), https_only=list(SITES)) as w:
        w.mesh.apply(SIMPLE)
        w.mesh.wait_synced()
        r = w.sleep.curl("-sSL", "-o", "/dev/null", "-D", "-", "http://edition.cnn.com/politics")
        assert r.returncode == 0 and statuses(r.stdout) == ["301", "200"], (r.stdout, r.stderr)

        w.mesh.apply(ORIGINATION)
        w.mesh.wait_synced()
        before = w.site.count("edition.cnn.com", "/politics")
        r = w.sleep.curl("-sSL", "-o", "/dev/null", "-D", "-", "http://edition.cnn.com/politics")
        assert r.returncode == 0 and statuses(r.stdout) == ["200"], (r.stdout, r.stderr)
        assert w.site.count("edition.cnn.com", "/politics") == before + 1  # one request, over TLS
        body = w.sleep.curl("-sS", "http://edition.cnn.com/politics")
        assert '"scheme": "https"' in body.stdout and '"sni": "edition.cnn.com"' in body.stdout, body.stdout
        r = w.sleep.curl("-sSL", "-o", "/dev/null", "-D", "-", "https://edition.cnn.com/politics")
        assert r.returncode == 0 and statuses(r.stdout) == ["200"], (r.stdout, r.stderr)


def test_destination_rule_originates_tls_for_plain_http(tmp_path: Path) -> None:
    """Before the DestinationRule http:// answers 301 then 200 (via https://); after it the sidecar
    originates TLS to port 443 (the site sees https with SNI edition.cnn.com) and answers 200 at once;
    https:// still works."""
    _origination(tmp_path)
