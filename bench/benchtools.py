"""Helpers the benchmarks share: nginx and the load generator, CPU and memory from /proc, machine load.

- :func:`find_nginx`: Debian's nginx binary; when missing, the bench's set-up fetches the Debian package
  with ``apt-get download`` and unpacks only its binary into ``.venv/bench-tools`` (no service is
  installed or started); :func:`nginx_config` writes a one-worker config answering 1 KiB to every path.
- :func:`build_loadgen`: compiles ``bench/loadgen.c`` (open-loop, corrected for coordinated omission)
  with the machine's C compiler; :func:`run_loadgen` runs it pinned to a CPU and parses its JSON.
- :func:`cpu_seconds` (``se.sum_exec_runtime`` of every thread: this kernel's tick-based utime/stime
  are too coarse), :func:`private_mb` (``Private_*`` of ``smaps_rollup``), :func:`rss_mb`,
  :class:`MachineLoad` (steal and busy time from ``/proc/stat``).

``python bench/benchtools.py nginx PORT NGINX WORKDIR`` writes a config for PORT and execs nginx (the app
command of a ``mizzen run`` workload, which substitutes ``{port}``).
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
TOOLS = HERE.parent / ".venv" / "bench-tools"
BODY = "x" * 1024  # Istio's benchmark payload: 1 KiB


class BenchSetupError(RuntimeError):
    """A tool the benchmark needs is missing and could not be set up."""


# --- nginx -----------------------------------------------------------------------------------------
def find_nginx() -> Path:
    """Debian's nginx: on PATH, in /usr/sbin, or unpacked from the Debian package into .venv/bench-tools."""
    for candidate in (shutil.which("nginx"), "/usr/sbin/nginx", str(TOOLS / "usr" / "sbin" / "nginx")):
        if candidate and os.access(candidate, os.X_OK):
            return Path(candidate)
    if not shutil.which("apt-get") or not shutil.which("dpkg-deb"):
        raise BenchSetupError("nginx not found and no apt-get/dpkg-deb to fetch it: install Debian's nginx")
    TOOLS.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        print("bench set-up: fetching Debian's nginx package (binary only, into .venv/bench-tools)", flush=True)
        got = subprocess.run(["apt-get", "download", "nginx"], cwd=tmp, capture_output=True, text=True)
        debs = list(Path(tmp).glob("nginx_*.deb"))
        if got.returncode != 0 or not debs:
            raise BenchSetupError(f"apt-get download nginx failed: {got.stderr.strip()[-500:]}")
        subprocess.run(["dpkg-deb", "-x", str(debs[0]), str(TOOLS)], check=True)
    binary = TOOLS / "usr" / "sbin" / "nginx"
    if not os.access(binary, os.X_OK):
        raise BenchSetupError(f"the nginx package did not contain {binary}")
    return binary


def nginx_config(port: int, workdir: Path) -> Path:
    """A single-process nginx answering ``200`` with 1 KiB on 127.0.0.1:``port``; paths under ``workdir``."""
    workdir.mkdir(parents=True, exist_ok=True)
    temp = "\n".join(
        f"  {kind}_temp_path {workdir / kind};" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    conf = workdir / "nginx.conf"
    conf.write_text(
        f"""daemon off;
master_process off;
worker_processes 1;
pid {workdir / "nginx.pid"};
error_log stderr error;
events {{ worker_connections 4096; }}
http {{
  access_log off;
{temp}
  keepalive_requests 100000000;
  keepalive_timeout 600s;
  default_type text/plain;
  server {{
    listen 127.0.0.1:{port};
    location / {{ return 200 "{BODY}"; }}
  }}
}}
"""
    )
    return conf


def nginx_argv(nginx: Path, conf: Path) -> list[str]:
    """The command line that runs nginx with ``conf`` in the foreground."""
    return [str(nginx), "-e", "stderr", "-p", str(conf.parent), "-c", str(conf)]


# --- load generator --------------------------------------------------------------------------------
def build_loadgen() -> Path:
    """Compile bench/loadgen.c (once per source change) and return the binary."""
    source = HERE / "loadgen.c"
    binary = TOOLS / "loadgen"
    if binary.exists() and binary.stat().st_mtime >= source.stat().st_mtime:
        return binary
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        raise BenchSetupError("no C compiler (cc/gcc) to build bench/loadgen.c: apt-get install gcc")
    TOOLS.mkdir(parents=True, exist_ok=True)
    subprocess.run([cc, "-O2", "-Wall", "-o", str(binary), str(source)], check=True)
    return binary


@dataclass(frozen=True)
class LoadResult:
    """One load-generator run: achieved rate, errors, latency percentiles (ms)."""

    requests: int
    errors: int
    rps: float
    p50: float
    p90: float
    p99: float
    p999: float
    max: float
    cpu: float = 0.0  # CPU seconds the generator itself used


def run_loadgen(
    binary: Path,
    port: int,
    host: str,
    *,
    connections: int,
    rate: float,
    seconds: float,
    warmup: float,
    cpu: int | None,
) -> LoadResult:
    """Run the generator against 127.0.0.1:``port`` with ``Host: host``; rate 0 = closed loop."""
    argv = [str(binary), "127.0.0.1", str(port), host, "/", str(connections), str(rate), str(seconds), str(warmup)]
    if cpu is not None:
        argv = ["taskset", "-c", str(cpu), *argv]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + warmup + 60)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise RuntimeError(f"loadgen failed ({done.returncode}): {done.stderr.strip()}")
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return LoadResult(**json.loads(done.stdout), cpu=cpu)


# --- /proc -----------------------------------------------------------------------------------------
def cpu_seconds(pid: int) -> float:
    """CPU time of every thread of ``pid`` (scheduler's exact runtime; 0 when the process is gone)."""
    total = 0.0
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except FileNotFoundError:
        return 0.0
    for tid in tasks:
        try:
            with open(f"/proc/{pid}/task/{tid}/sched") as f:
                for line in f:
                    if line.startswith("se.sum_exec_runtime"):
                        total += float(line.split(":")[1]) / 1000.0  # ms
                        break
        except (FileNotFoundError, ProcessLookupError):
            continue
    return total


def private_mb(pid: int) -> float:
    """Private (clean + dirty) memory of ``pid`` in MB, from smaps_rollup."""
    kb = 0
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            if line.startswith(("Private_Clean:", "Private_Dirty:")):
                kb += int(line.split()[1])
    return kb / 1024


def rss_mb(pid: int) -> float:
    """Resident set size of ``pid`` in MB."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


@dataclass(frozen=True)
class MachineLoad:
    """Cumulative busy and steal time of every CPU (seconds), to tell how noisy a window was."""

    busy: float
    steal: float

    @classmethod
    def now(cls) -> MachineLoad:
        """Read /proc/stat."""
        with open("/proc/stat") as f:
            fields = [int(x) for x in f.readline().split()[1:]]
        hz = os.sysconf("SC_CLK_TCK")
        user, nice, system, _idle, _iowait, irq, softirq, steal = fields[:8]
        return cls(busy=(user + nice + system + irq + softirq) / hz, steal=steal / hz)

    def since(self, earlier: MachineLoad, seconds: float) -> tuple[float, float]:
        """``(busy cores, steal cores)`` averaged over the window."""
        return (self.busy - earlier.busy) / seconds, (self.steal - earlier.steal) / seconds


def load_average() -> str:
    """The 1/5/15-minute load averages, as /proc/loadavg prints them."""
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def _exec_nginx(argv: list[str]) -> None:
    port, nginx, workdir = int(argv[0]), Path(argv[1]), Path(argv[2])
    conf = nginx_config(port, workdir / f"nginx-{port}")
    command = nginx_argv(nginx, conf)
    os.execv(command[0], command)


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "nginx":
        _exec_nginx(sys.argv[2:])
    sys.exit("usage: benchtools.py nginx PORT NGINX WORKDIR")
