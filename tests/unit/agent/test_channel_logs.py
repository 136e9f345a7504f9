"""The agent channel's log answers: the workload's own log files, their last lines, nothing else."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from mizzen import channel as proto
from mizzen.agent.channel import AdminChannel


def _channel(tmp: Path) -> AdminChannel:
    (tmp / "app.log").write_text("one\ntwo\nthree\n")
    no_upstream = SimpleNamespace(channel=None)  # log answers never touch the upstream
    return AdminChannel(no_upstream, lambda: "", "w.default", tmp / "admin.sock", {"app": tmp / "app.log"})  # type: ignore[arg-type]


def test_a_log_request_returns_the_last_lines(tmp_path: Path) -> None:
    """``mizzen/logs/app`` with ``tail=2`` answers the file's last two lines; without tail, all of it."""
    chan = _channel(tmp_path)
    assert chan._log_answer(1, "app", {"tail": "2"}).body == b"two\nthree\n"
    assert chan._log_answer(2, "app", {}).body == b"one\ntwo\nthree\n"
    assert chan._log_answer(3, "app", {"tail": "0"}).body == b""


def test_only_the_workloads_own_logs_can_be_asked_for(tmp_path: Path) -> None:
    """Another kind, or a path, is a 404 naming what exists: the channel reads no other file."""
    chan = _channel(tmp_path)
    for kind in ("envoy", "../../etc/passwd"):
        answer = chan._log_answer(4, kind, {})
        assert answer.header["status"] == 404 and b"one of app" in answer.body
    assert proto.LOGS_PREFIX == "mizzen/logs/"
