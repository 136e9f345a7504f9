"""The fortio-like load client counts status codes and prints fortio's summary lines."""

import collections
import threading

from mizzen.testing import echo
from mizzen.testing.load import run, summary
from mizzen.testing.ports import free_port


def test_counts_codes_across_connections() -> None:
    """Every request is sent once and its status counted, over several connections."""
    port = free_port()
    server = echo.serve(port, host="127.0.0.1", workload="t", version="v1")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        codes = run(f"http://127.0.0.1:{port}/x?status=503", connections=3, requests=12, proxy=None)
        assert codes == {503: 12}
        assert run(f"http://127.0.0.1:{port}/y", connections=2, requests=5, proxy=None) == {200: 5}
    finally:
        server.shutdown()
        server.server_close()


def test_summary_reads_like_fortio() -> None:
    """Lines are 'Code <status> : <count> (<percent> %)', sorted by status."""
    assert summary(collections.Counter({503: 3, 200: 17})) == "Code 200 : 17 (85.0 %)\nCode 503 : 3 (15.0 %)\n"


def test_via_reads_the_workloads_http_proxy(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """--via WORKLOAD sends through the sidecar address the agent wrote to its state file."""
    import json

    import pytest

    from mizzen.testing.load import proxy_of

    (tmp_path / "workloads").mkdir()
    (tmp_path / "workloads" / "default.fortio.json").write_text(json.dumps({"httpProxy": "127.0.0.1:41234"}))
    monkeypatch.setenv("MIZZEN_HOME", str(tmp_path))
    assert proxy_of("fortio") == "http://127.0.0.1:41234"
    with pytest.raises(SystemExit, match="no running workload default/nope"):
        proxy_of("nope")
