"""MZ2785: a Sidecar ingress tls that Istio does not apply, because mesh mTLS stays on for that port."""

from __future__ import annotations

import pytest

from mizzen.config.ingress_tls_checks import ingress_tls_under_mesh_mtls, needs_ingress_tls_check
from mizzen.config.loader import load_text

SIDECAR = """apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: ingress-sidecar, namespace: test}
spec:
  workloadSelector: {labels: {app: httpbin, version: v1}}
  ingress:
  - port: {number: 9080, protocol: HTTPS, name: external}
    defaultEndpoint: 0.0.0.0:80
    tls: {mode: MUTUAL, serverCertificate: /c.crt, privateKey: /c.key, caCertificates: /ca.crt}
  - port: {number: 9081, protocol: HTTP, name: internal}
    defaultEndpoint: 0.0.0.0:80
"""
STRICT_NS = """apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: default, namespace: test}
spec: {mtls: {mode: STRICT}}
"""


def _pa(name: str, selector: str, body: str, namespace: str = "test") -> str:
    return f"""apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {{name: {name}, namespace: {namespace}}}
spec:
  selector: {{matchLabels: {selector}}}
  {body}
"""


def _found(*docs: str, root: str = "istio-system") -> list[str]:
    loaded = load_text("---\n".join(docs), "t.yaml")
    assert not loaded.report.errors, loaded.report
    return [
        f"{v.code} {v.path}"
        for v in ingress_tls_under_mesh_mtls(loaded.resources, loaded.resources, root_namespace=root)
    ]


def test_the_tasks_port_level_disable_lets_the_tls_apply() -> None:
    """STRICT in the namespace, portLevelMtls 9080 DISABLE for httpbin (the task): nothing to say."""
    disable = _pa("d", "{app: httpbin}", "mtls: {mode: STRICT}\n  portLevelMtls: {9080: {mode: DISABLE}}")
    assert _found(STRICT_NS, disable, SIDECAR) == []


@pytest.mark.parametrize(
    "docs",
    [
        (STRICT_NS,),
        (),  # no PeerAuthentication: PERMISSIVE
        (STRICT_NS, _pa("other", "{app: other}", "mtls: {mode: DISABLE}")),  # selects other workloads only
        (_pa("d", "{app: httpbin}", "portLevelMtls: {9081: {mode: DISABLE}}"),),  # another port
    ],
)
def test_a_port_left_in_mesh_mtls_warns_at_the_tls(docs: tuple[str, ...]) -> None:
    """STRICT or PERMISSIVE on 9080 for the Sidecar's workloads: MZ2785 at spec.ingress[0].tls."""
    assert _found(*docs, SIDECAR) == ["MZ2785 spec.ingress[0].tls"]


def test_the_message_names_the_mode_and_the_fix() -> None:
    """The warning says which mode the port has and which portLevelMtls entry would apply the TLS."""
    loaded = load_text(STRICT_NS + "---\n" + SIDECAR, "t.yaml")
    (v,) = ingress_tls_under_mesh_mtls(loaded.resources, loaded.resources)
    assert "mode is STRICT" in v.message and "portLevelMtls 9080: DISABLE" in v.message
    assert v.level == "warning" and v.file == "t.yaml" and v.line


@pytest.mark.parametrize(
    "docs",
    [
        (_pa("d", "{app: httpbin}", "mtls: {mode: DISABLE}"),),  # the whole workload
        (
            _pa("mesh", "{}", "mtls: {mode: DISABLE}", namespace="istio-system").replace(
                "  selector: {matchLabels: {}}\n", ""
            ),
        ),
        (STRICT_NS, _pa("maybe", "{app: httpbin, tier: web}", "mtls: {mode: DISABLE}")),  # may select some
    ],
)
def test_disable_or_an_uncertain_outcome_says_nothing(docs: tuple[str, ...]) -> None:
    """DISABLE for the workload or mesh-wide in the root namespace, or a policy that may select some of the
    Sidecar's workloads (the check does not guess): no warning."""
    assert _found(*docs, SIDECAR) == []


def test_the_root_namespace_is_the_meshs() -> None:
    """A mesh-wide DISABLE counts only in the configured root namespace."""
    mesh_wide = STRICT_NS.replace("name: default, namespace: test", "name: default, namespace: mesh-root").replace(
        "STRICT", "DISABLE"
    )
    assert _found(mesh_wide, SIDECAR, root="mesh-root") == []
    assert _found(mesh_wide, SIDECAR) == ["MZ2785 spec.ingress[0].tls"]


def test_only_sidecars_with_ingress_tls_need_the_check() -> None:
    """needs_ingress_tls_check: a Sidecar with ingress tls, not one without, not other kinds."""
    with_tls = load_text(SIDECAR, "t.yaml").resources
    without = load_text(SIDECAR.split("    tls:")[0], "t.yaml").resources
    assert needs_ingress_tls_check(with_tls)
    assert not needs_ingress_tls_check(without)
    assert not needs_ingress_tls_check(load_text(STRICT_NS, "t.yaml").resources)
