"""The relay a `mizzen run` becomes under the host agent: a bare interpreter (-I -S) on one end of a real
socket pair, the test on the other end, playing the host agent."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from mizzen.agent import hostwire
from mizzen.agent.hostclient import RELAY


@pytest.fixture
def relay() -> Iterator[tuple[subprocess.Popen[bytes], socket.socket]]:
    ours, theirs = socket.socketpair()
    proc = subprocess.Popen(
        [sys.executable, "-I", "-S", "-c", RELAY, str(theirs.fileno())],
        pass_fds=[theirs.fileno()],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    theirs.close()
    try:
        yield proc, ours
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(5)
        ours.close()


def test_output_log_lines_and_the_exit_code_come_through(relay: tuple[subprocess.Popen[bytes], socket.socket]) -> None:
    proc, sock = relay
    sock.sendall(hostwire.frame(hostwire.OUT, "workload w.default is up"))
    sock.sendall(hostwire.frame(hostwire.LOG, "mizzen WARNING w.default: the app is not ready \x1b[31m"))
    sock.sendall(hostwire.frame(hostwire.EXIT, "3"))
    out, err = proc.communicate(timeout=10)
    assert proc.returncode == 3
    assert out == b"workload w.default is up\n"
    assert err == b"mizzen WARNING w.default: the app is not ready \\x1b[31m\n"  # escaped by the agent


def test_an_error_exits_1_with_its_message(relay: tuple[subprocess.Popen[bytes], socket.socket]) -> None:
    proc, sock = relay
    sock.sendall(hostwire.frame(hostwire.ERROR, "w.default is already running here"))
    _, err = proc.communicate(timeout=10)
    assert proc.returncode == 1 and err == b"Error: w.default is already running here\n"


def test_a_frame_split_across_writes_is_put_together(relay: tuple[subprocess.Popen[bytes], socket.socket]) -> None:
    proc, sock = relay
    data = hostwire.frame(hostwire.OUT, "é" * 5000) + hostwire.frame(hostwire.EXIT, "0")
    for i in range(0, len(data), 7):
        sock.sendall(data[i : i + 7])
    out, _ = proc.communicate(timeout=10)
    assert proc.returncode == 0 and out.decode() == "é" * 5000 + "\n"


@pytest.mark.parametrize(("sig", "name"), [(signal.SIGTERM, "SIGTERM"), (signal.SIGINT, "SIGINT")])
def test_a_signal_becomes_a_stop_request_and_the_relay_waits_for_the_exit(
    relay: tuple[subprocess.Popen[bytes], socket.socket], sig: signal.Signals, name: str
) -> None:
    proc, sock = relay
    sock.sendall(hostwire.frame(hostwire.OUT, "up"))  # once this is printed, the handlers are in place
    assert proc.stdout is not None and proc.stdout.readline() == b"up\n"
    proc.send_signal(sig)
    sock.settimeout(10)
    assert hostwire.decode(sock.recv(1024)) == {"stop": name}
    time.sleep(0.2)
    assert proc.poll() is None  # still there: it exits with the workload's code, not on the signal
    sock.sendall(hostwire.frame(hostwire.EXIT, "0"))
    assert proc.wait(10) == 0


def test_the_host_agent_going_away_exits_1_and_says_where_its_log_is(
    relay: tuple[subprocess.Popen[bytes], socket.socket],
) -> None:
    proc, sock = relay
    sock.close()
    _, err = proc.communicate(timeout=10)
    assert proc.returncode == 1 and b"the host agent went away" in err and b"host-agent.log" in err
