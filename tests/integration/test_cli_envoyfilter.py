"""EnvoyFilter through the CLI: validated with Istio's rules, reported as not applied, refused by --strict."""

from __future__ import annotations

from pathlib import Path

from mizzen.testing.controlplane import MizzenCli, cli_runner, free_port

VALID = """\
apiVersion: networking.istio.io/v1alpha3
kind: EnvoyFilter
metadata: {name: buffer, namespace: shop}
spec:
  configPatches:
  - applyTo: HTTP_FILTER
    match: {listener: {filterChain: {filter: {name: envoy.filters.network.http_connection_manager}}}}
    patch:
      operation: INSERT_FIRST
      value:
        name: envoy.filters.http.buffer
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.http.buffer.v3.Buffer
          max_request_bytes: 1024
"""
NOT_APPLIED = "EnvoyFilter is validated with Istio's rules but not applied: Mizzen does not patch Envoy configuration"


def test_valid_envoy_filter_warns_and_strict_refuses(tmp_path: Path) -> None:
    """validate warns MZ2805 at the document's line (exit 0); validate/apply --strict exit 1; analyze notes it."""
    run = cli_runner({"MIZZEN_ADDRESS": f"http://127.0.0.1:{free_port()}", "MIZZEN_HOME": str(tmp_path)})
    path = tmp_path / "ef.yaml"
    path.write_text(VALID)
    plain = run("validate", "-f", str(path))
    assert plain.exit_code == 0, plain.stderr
    assert f"ef.yaml:1: warning MZ2805 EnvoyFilter shop/buffer: {NOT_APPLIED}" in plain.stderr
    assert "validated with Istio's rules, not applied" in plain.stdout  # the skipped line says so too
    strict = run("validate", "--strict", "-f", str(path))
    assert strict.exit_code == 1 and "(--strict)" in strict.stderr
    refused = run("apply", "--strict", "-f", str(path))  # refused before any request: no control plane needed
    assert refused.exit_code == 1 and "nothing was applied" in refused.stderr
    analyzed = run("analyze", "-A", str(path))
    assert f"note: {path}:1: warning MZ2805 EnvoyFilter shop/buffer: {NOT_APPLIED}" in analyzed.stderr
    assert "Warning [IST0133] (EnvoyFilter shop/buffer" in analyzed.stdout  # Istio's standing warning


def test_invalid_envoy_filter_is_an_error_with_its_line(tmp_path: Path) -> None:
    """A value field of the wrong type fails validate with file:line and field path, and no MZ2805 note."""
    run = cli_runner({"MIZZEN_ADDRESS": f"http://127.0.0.1:{free_port()}", "MIZZEN_HOME": str(tmp_path)})
    path = tmp_path / "ef.yaml"
    path.write_text(VALID.replace("max_request_bytes: 1024", "max_request_bytes: lots"))
    result = run("validate", "-f", str(path))
    assert result.exit_code == 1
    assert "ef.yaml:14: error MZ3004 EnvoyFilter shop/buffer: spec.configPatches[0].patch.value.typed_config" in (
        result.stderr
    )
    assert "MZ2805" not in result.stderr


def test_apply_warns_and_stores_nothing_for_an_envoy_filter(mizzen: MizzenCli, tmp_path: Path) -> None:
    """apply against a real control plane: the EnvoyFilter is skipped with MZ2805 on stderr and is not stored."""
    path = tmp_path / "ef.yaml"
    path.write_text(
        VALID + "---\napiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: shop}\n"
        "spec: {selector: {app: web}, ports: [{name: http, port: 80}]}\n"
    )
    applied = mizzen("apply", "-f", str(path))
    assert applied.exit_code == 0, applied.stderr
    assert f"ef.yaml:1: warning MZ2805 EnvoyFilter shop/buffer: {NOT_APPLIED}" in applied.stderr
    assert "service/web created" in applied.stdout
    assert "skipped: EnvoyFilter buffer" in applied.stdout  # not stored: the server has no such kind
    assert 'have a resource type "envoyfilter"' in mizzen("get", "envoyfilter", "-A").stderr
