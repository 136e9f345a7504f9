"""proxy-status shows config the control plane kept back (an inconsistent snapshot), beside Envoy's NACKs."""

from __future__ import annotations

from mizzen.cli.inspect_cmds import nack_lines, status_rows

PROBLEM = "inconsistent snapshot: listener 'http_proxy' references missing route configuration 'r'"


def proxy(last_error: str = "", lds_error: str = "") -> dict[str, object]:
    xds = {t: {"status": "SYNCED"} for t in ("CDS", "LDS", "EDS", "RDS")}
    if lds_error:
        xds["LDS"] = {"status": "ERROR", "lastError": lds_error, "versionSent": "v2"}
    return {"id": "a.default", "xds": xds, "lastError": last_error}


def test_wide_status_lists_the_kept_back_config_first() -> None:
    """`proxy-status -o wide` ERRORS: "not sent: <problem>" first, then each type Envoy rejected."""
    (row,) = status_rows([proxy(PROBLEM, "duplicate address")], wide=True)
    assert row[-1] == f"not sent: {PROBLEM}; LDS: duplicate address"
    (clean,) = status_rows([proxy()], wide=True)
    assert clean[-1] == "-"


def test_one_proxy_view_explains_the_kept_back_config() -> None:
    """`proxy-status NAME` says the latest config was not sent and why, before Envoy's rejections."""
    lines = nack_lines(proxy(PROBLEM, "duplicate address"))
    assert lines[0].startswith("Control plane: the latest config was not sent") and lines[0].endswith(PROBLEM)
    assert lines[1] == "LDS ERROR: Envoy rejected version v2: duplicate address"
    assert nack_lines(proxy()) == []
