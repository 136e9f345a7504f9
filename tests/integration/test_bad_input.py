"""Bad input against a real control-plane process and the CLI: a clear error, a fast answer, nothing changed.

Each case checks the error text, that the answer comes quickly (the failure modes guarded against are
hangs and exhausted memory, so the bounds are generous), and that the store is exactly as before.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from mizzen import limits
from mizzen.testing.controlplane import MizzenCli, RunningControlPlane, free_port, start_controlplane

APPLY = "/api/mizzen/v1/apply"
VS_PATH = "/apis/networking.istio.io/v1/namespaces/default/virtualservices"
FAST = 10.0  # seconds; an unbounded expansion or a hang would take hours
BILLION_LAUGHS = """a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
"""


def vs_doc(name: str, *, header: str = "", annotations: dict[str, str] | None = None) -> dict[str, Any]:
    route: dict[str, Any] = {"route": [{"destination": {"host": "reviews"}}]}
    if header:
        route["headers"] = {"request": {"set": {"x-big": header}}}
    return {
        "apiVersion": "networking.istio.io/v1",
        "kind": "VirtualService",
        "metadata": {"name": name, "annotations": annotations or {}},
        "spec": {"hosts": ["reviews"], "http": [route]},
    }


def vs_yaml(name: str, **kw: Any) -> str:
    return json.dumps(vs_doc(name, **kw))  # JSON is YAML


class Api:
    """Raw HTTP to the control plane (what any API client could send)."""

    def __init__(self, cp: RunningControlPlane) -> None:
        self.http = httpx.Client(base_url=cp.address, headers=cp.headers(), timeout=60, trust_env=False)

    def state(self) -> tuple[str, list[tuple[str, str]]]:
        """The store's revision and every VirtualService with its resourceVersion."""
        listed = self.http.get(VS_PATH).json()
        items = sorted((i["metadata"]["name"], i["metadata"]["resourceVersion"]) for i in listed["items"])
        return listed["metadata"]["resourceVersion"], items

    def timed(self, method: str, path: str, **kw: Any) -> tuple[httpx.Response, float]:
        started = time.monotonic()
        response = self.http.request(method, path, **kw)
        return response, time.monotonic() - started


@pytest.fixture
def api(cp: RunningControlPlane) -> Iterator[Api]:
    client = Api(cp)
    assert client.http.post(APPLY, json={"documents": [vs_doc("existing")]}).status_code == 200
    try:
        yield client
    finally:
        client.http.close()


def test_billion_laughs_fails_fast_in_the_cli_and_changes_nothing(api: Api, mizzen: MizzenCli, tmp_path: Path) -> None:
    """`mizzen apply -f` of the 550-byte billion-laughs file: an aliasing error at lol.yaml:1, at once."""
    (tmp_path / "lol.yaml").write_text(BILLION_LAUGHS)
    before = api.state()
    started = time.monotonic()
    r = mizzen("apply", "-f", str(tmp_path / "lol.yaml"))
    assert time.monotonic() - started < FAST
    assert r.exit_code == 1
    assert f"{tmp_path / 'lol.yaml'}:1: error MZ0091" in r.stderr and "expands through YAML aliases" in r.stderr
    assert api.state() == before


def test_billion_laughs_in_mesh_yaml_stops_the_control_plane_at_start(tmp_path: Path) -> None:
    """A mesh.yaml that expands without bound makes `mizzen controlplane` exit at once, naming the file."""
    home = tmp_path / "home"
    home.mkdir()
    (home / "mesh.yaml").write_text(BILLION_LAUGHS)
    port, xds = str(free_port()), str(free_port())
    env = {**os.environ, "MIZZEN_HOME": str(home)}
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "mizzen.cli.main", "controlplane", "--port", port, "--xds-port", xds],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert time.monotonic() - started < 60  # Python start-up and imports: the check itself is instant
    assert done.returncode == 1
    assert f"{home / 'mesh.yaml'}:1: the document expands through YAML aliases" in done.stderr


def test_an_object_over_the_size_limit_is_413_naming_it(api: Api, mizzen: MizzenCli, tmp_path: Path) -> None:
    """Over 1.5 MiB: the CLI names file:line and the object before sending; the API answers 413 naming it."""
    big = "x" * (limits.MAX_OBJECT_BYTES + 1)
    (tmp_path / "big.yaml").write_text("---\n" + vs_yaml("huge", header=big))
    before = api.state()
    r = mizzen("apply", "-f", str(tmp_path / "big.yaml"))
    assert r.exit_code == 1
    assert f"{tmp_path / 'big.yaml'}:2: error MZ0093 VirtualService default/huge:" in r.stderr
    response, seconds = api.timed("POST", APPLY, json={"documents": [vs_doc("huge", header=big)]})
    assert response.status_code == 413 and seconds < FAST
    status = response.json()
    assert status["reason"] == "RequestEntityTooLarge" and "VirtualService default/huge" in status["message"]
    assert "1.5 MiB" in status["message"]
    put, _ = api.timed("PUT", f"{VS_PATH}/huge", json=vs_doc("huge", header=big))
    assert put.status_code == 413
    assert api.state() == before


def test_annotations_over_256_kib_are_refused_naming_the_object(api: Api, mizzen: MizzenCli, tmp_path: Path) -> None:
    """Annotations over Kubernetes' 256 KiB: the CLI and the API both name the object and the field."""
    half = "v" * (limits.MAX_ANNOTATIONS_BYTES // 2)
    doc = vs_doc("noted", annotations={"a": half, "b": half})
    (tmp_path / "ann.yaml").write_text(json.dumps(doc))
    before = api.state()
    r = mizzen("apply", "-f", str(tmp_path / "ann.yaml"))
    assert r.exit_code == 1
    assert "error MZ0094 VirtualService default/noted: metadata.annotations: annotations total" in r.stderr
    response, seconds = api.timed("POST", APPLY, json={"documents": [doc]})
    assert response.status_code == 422 and seconds < FAST
    assert "VirtualService default/noted" in response.json()["message"] and "256 KiB" in response.json()["message"]
    assert api.state() == before


def test_too_many_documents_in_one_apply_is_413(api: Api) -> None:
    """One document over the per-apply limit: 413 saying how many and what the limit is; nothing applied."""
    docs = [vs_doc(f"v{i}") for i in range(limits.MAX_APPLY_DOCUMENTS + 1)]
    before = api.state()
    response, seconds = api.timed("POST", APPLY, json={"documents": docs})
    assert response.status_code == 413 and seconds < FAST
    message = response.json()["message"]
    assert f"{limits.MAX_APPLY_DOCUMENTS + 1} documents in one apply" in message and "nothing was applied" in message
    assert api.state() == before


@pytest.mark.parametrize("depth", [limits.MAX_NESTING_DEPTH + 1, 100_000])
def test_deep_json_is_400_not_500(api: Api, depth: int) -> None:
    """A body nesting past the limit (or past what the JSON parser can take) is a 400 with the limit."""
    deep = "[" * depth + "]" * depth
    body = '{"documents": [' + f'{{"apiVersion": "v1", "kind": "Service", "spec": {deep}}}' + "]}"
    before = api.state()
    for method, path in (("POST", APPLY), ("PUT", f"{VS_PATH}/deep")):
        response, seconds = api.timed(method, path, content=body, headers={"Content-Type": "application/json"})
        assert response.status_code == 400 and seconds < FAST, response.text
        assert f"nests more than {limits.MAX_NESTING_DEPTH} levels deep" in response.json()["message"]
    assert api.state() == before


def test_a_dry_run_neither_waits_for_the_write_lock_nor_grows_the_wal(api: Api, cp: RunningControlPlane) -> None:
    """While another process holds the database's write lock, `--dry-run` still answers; the WAL stays put."""
    docs = [vs_doc(f"d{i}", header="h" * 2000) for i in range(2000)]
    wal = cp.home / "mizzen.db-wal"
    size = wal.stat().st_size
    holder = sqlite3.connect(str(cp.home / "mizzen.db"), isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        response, seconds = api.timed("POST", APPLY, json={"documents": docs, "dryRun": True})
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert response.status_code == 200 and response.json()["dryRun"] is True
    assert seconds < 9  # a write would wait for SQLite's busy timeout (10 s), then fail
    assert {r["action"] for r in response.json()["results"]} == {"created"}
    assert wal.stat().st_size == size
    assert [name for name, _ in api.state()[1]] == ["existing"]


def test_a_full_disk_is_507_and_the_store_is_unchanged(small_tmpfs: Path) -> None:
    """With MIZZEN_HOME on a full disk an apply answers 507, keeps every object as it was, and works once
    there is room again."""
    cp = start_controlplane(small_tmpfs / "home")
    try:
        with httpx.Client(base_url=cp.address, headers=cp.headers(), timeout=60, trust_env=False) as http:
            assert http.post(APPLY, json={"documents": [vs_doc("kept")]}).status_code == 200
            before = http.get(VS_PATH).json()
            filler = small_tmpfs / "filler"
            fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
            try:
                while True:
                    os.write(fd, b"\0" * 65536)
            except OSError:
                pass
            finally:
                os.close(fd)
            docs = [vs_doc(f"big{i}", header="x" * 60_000) for i in range(30)]
            started = time.monotonic()
            full = http.post(APPLY, json={"documents": docs})
            assert full.status_code == 507 and time.monotonic() - started < FAST, full.text
            assert full.json()["reason"] == "InsufficientStorage"
            assert "disk holding the store is full" in full.json()["message"]
            assert "nothing was changed" in full.json()["message"]
            assert http.get(VS_PATH).json() == before
            filler.unlink()
            assert http.post(APPLY, json={"documents": [vs_doc("after")]}).status_code == 200
    finally:
        cp.stop()


def test_the_home_is_private_and_an_old_home_is_tightened(tmp_path: Path) -> None:
    """A home left 0755 with a 0644 database is tightened at start; every file the control plane makes is
    0600, every folder 0700."""
    home = tmp_path / "home"
    (home / "logs").mkdir(parents=True)
    home.chmod(0o755)
    (home / "logs").chmod(0o755)
    (home / "mizzen.db").touch(mode=0o644)
    (home / "logs" / "old.log").touch(mode=0o644)
    cp = start_controlplane(home)
    try:
        with httpx.Client(base_url=cp.address, headers=cp.headers(), timeout=60, trust_env=False) as http:
            assert http.post(APPLY, json={"documents": [vs_doc("secretive")]}).status_code == 200
        modes = {str(p.relative_to(home)): p.stat().st_mode & 0o777 for p in [home, *home.rglob("*")]}
    finally:
        cp.stop()
    folders = {name: modes.pop(name) for name in list(modes) if (home / name).is_dir()}
    assert set(folders.values()) == {0o700} and {".", "logs", "ca"} <= folders.keys(), folders
    expected = {"mizzen.db", "mizzen.db-wal", "token", "controlplane.pid", "controlplane.lock", "ca/ca-key.pem"}
    assert expected <= modes.keys()
    assert set(modes.values()) == {0o600}, modes


def test_control_characters_in_errors_are_escaped(api: Api, mizzen: MizzenCli, tmp_path: Path) -> None:
    """Control characters given on the command line or in a file come back escaped in one-line errors."""
    r = mizzen("get", "vs", "a\x07b\rc")
    assert r.exit_code == 1 and len(r.stderr.strip().splitlines()) == 1
    assert "\x07" not in r.stderr and "\r" not in r.stderr and "'\\x07'" in r.stderr
    (tmp_path / "ctl.yaml").write_text(json.dumps(vs_doc("x")).replace('"x"', '"a\\u0007b"'))
    r = mizzen("apply", "-f", str(tmp_path / "ctl.yaml"))
    assert r.exit_code == 1 and "\x07" not in r.stderr and "a\\x07b" in r.stderr


def test_two_control_planes_started_at_once_on_one_home_cannot_both_run(tmp_path: Path) -> None:
    """Started at the same instant, one control plane runs; the other exits at once naming the holder's pid."""
    home = tmp_path / "home"
    home.mkdir()
    env = {**os.environ, "MIZZEN_HOME": str(home)}
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "mizzen.controlplane", "--port", str(free_port()), "--xds-port", str(free_port())],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    try:
        loser = _first_exit(procs, timeout=120)
        winner = next(p for p in procs if p is not loser)
        _, err = loser.communicate(timeout=30)
        assert loser.returncode == 1
        assert f"a control plane is already running with home {home} (pid {winner.pid})" in err
        assert winner.poll() is None  # still running
        assert (home / "controlplane.lock").read_text().strip() == str(winner.pid)
    finally:
        for p in procs:
            if p.poll() is None:
                p.terminate()
                p.communicate(timeout=30)


def _first_exit(procs: list[subprocess.Popen[str]], timeout: float) -> subprocess.Popen[str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for p in procs:
            if p.poll() is not None:
                return p
        time.sleep(0.05)
    raise AssertionError("neither control plane exited: both are running on one home")
